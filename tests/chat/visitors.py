"""Helpers for the chat-core tests: a shop site, an agent online for it, and a visitor's socket
through the real ASGI application (helpdesk.asgi: router, origin check, consumer, layer)."""

import asyncio
from typing import Any
from urllib.parse import urlencode

from channels.db import database_sync_to_async

# channels.testing's __init__ imports daphne for its live server; the communicator does not.
from channels.testing.websocket import WebsocketCommunicator
from django.utils import timezone

from accounts.models import AgentProfile, Availability
from chat.models import AgentChatPresence, Site, Visitor
from chat.services import issue_visitor_token
from customers.factories import standard_tiers
from helpdesk.asgi import application

SHOP = "https://shop.example"
PATH = "/ws/chat/visitor/"


def make_site(team: Any, **fields: Any) -> Site:
    standard_tiers()  # guests and identified customers start on the base tier
    fields.setdefault("allowed_origins", [SHOP])
    return Site.objects.create(name="Shop", team=team, **fields)


def put_online(agent: Any) -> AgentChatPresence:
    """Online for chat as routing counts it: status online, a fresh heartbeat, accepting."""
    AgentProfile.objects.filter(user=agent).update(availability=Availability.ONLINE)
    presence, _ = AgentChatPresence.objects.update_or_create(
        agent=agent, defaults={"accepting": True, "last_heartbeat_at": timezone.now()}
    )
    return presence


def new_visitor(site: Site) -> tuple[Visitor, str]:
    visitor = Visitor.objects.create(site=site)
    return visitor, issue_visitor_token(visitor)


def visitor_socket(site_key: str, token: str, origin: str = SHOP) -> WebsocketCommunicator:
    query = urlencode({"site": site_key, "token": token})
    headers = [(b"origin", origin.encode())] if origin else []
    return WebsocketCommunicator(application, f"{PATH}?{query}", headers=headers)


async def connected_visitor(site: Site, token: str) -> WebsocketCommunicator:
    socket = visitor_socket(site.key, token)
    accepted, _ = await socket.connect()
    assert accepted
    return socket


make_site_async = database_sync_to_async(make_site)
new_visitor_async = database_sync_to_async(new_visitor)
put_online_async = database_sync_to_async(put_online)


async def listening_to(conversation_id: int) -> tuple[Any, str]:
    """A channel in the conversation's group: the other side of the chat, connected all
    along, as the layer sees it."""
    from channels.layers import get_channel_layer

    from chat import events

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(events.conversation_group(conversation_id), channel)
    return layer, channel


async def announced_line(layer: Any, channel: str, client_id: str) -> dict[str, Any]:
    """The next `message.posted` for `client_id` that reaches the channel (on Redis an earlier
    line's announcement may still be on its way: it is skipped)."""
    for _ in range(5):
        event = (await asyncio.wait_for(layer.receive(channel), timeout=3))["event"]
        if event.get("client_id") == client_id:
            assert event["type"] == "message.posted"
            return event
    raise AssertionError(f"No announcement of {client_id}")
