"""Helpers for the chat-core tests: a shop site, an agent online for it, and a visitor's socket
through the real ASGI application (helpdesk.asgi: router, origin check, consumer, layer)."""

from typing import Any
from urllib.parse import urlencode

from channels.db import database_sync_to_async

# channels.testing's __init__ imports daphne for its live server; the communicator does not.
from channels.testing.websocket import WebsocketCommunicator
from django.utils import timezone

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
