"""Builders the routing, console and agent-socket tests share: a site, agents at the console
(online with a heartbeat), and chats waiting in the queue. Conversations are created the way
chat.services starts them (a chat ticket, a visitor, then routing's enqueue)."""

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from accounts.models import Availability, Team, User
from chat import routing_engine
from chat.models import ChatLine, Conversation, Site, Visitor
from customers.models import Tier
from tests.factories import AgentFactory, CustomerFactory, standard_tiers
from tickets.models import Channel
from tickets.services import open_ticket


def make_site(team: Team, **fields: Any) -> Site:
    return Site.objects.create(
        name=fields.pop("name", "Shop"),
        team=team,
        allowed_origins=fields.pop("allowed_origins", ["https://shop.example"]),
        **fields,
    )


def online_agent(
    team: Team | None,
    *,
    username: str,
    capacity: int = 3,
    at: datetime | None = None,
    **profile: Any,
) -> User:
    """An agent of `team`, online, whose console has just sent a heartbeat."""
    fields = {"availability": Availability.ONLINE, "chat_capacity": capacity, **profile}
    agent = AgentFactory(
        username=username,
        first_name=username.title(),
        profile__teams=[team] if team is not None else [],
        **{f"profile__{key}": value for key, value in fields.items()},
    )
    routing_engine.heartbeat(agent=agent, now=at or timezone.now())
    return agent


def tier(rank: int) -> Tier:
    """Standard (0), Silver (1), Gold (2), VIP (3)."""
    return next(t for t in standard_tiers() if t.rank == rank)


def waiting_chat(
    site: Site,
    *,
    rank: int = 0,
    name: str = "Carol",
    at: datetime | None = None,
    enqueue: bool = True,
) -> Conversation:
    """A customer of tier `rank` starts a chat at `at`: it joins the queue (and is offered at
    once if someone is free)."""
    customer = CustomerFactory(name=name, tier=tier(rank))
    ticket = open_ticket(
        customer=customer,
        subject=f"Chat with {name}",
        body="Hello, is anyone there?",
        actor=None,
        channel=Channel.CHAT,
    )
    visitor = Visitor.objects.create(site=site, customer=customer, name=name)
    conversation = Conversation.objects.create(
        ticket=ticket, site=site, visitor=visitor, last_seq=1
    )
    # The opening message is line 1, as chat.services.start_conversation writes it.
    ChatLine.objects.create(
        conversation=conversation, seq=1, message=ticket.messages.get(), sender="customer"
    )
    if enqueue:
        conversation = routing_engine.enqueue(conversation, now=at or timezone.now())
    return conversation


def fresh(conversation: Conversation) -> Conversation:
    conversation.refresh_from_db()
    return conversation


def later(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(seconds=seconds)
