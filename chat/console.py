"""The reads behind the agent chat console (/chat/): the lists (offers to me, the waiting queue
of my teams, my chats) and one conversation with its customer. A fixed number of queries
whatever the number of chats. Access is routing_engine.conversations_for (teams, or manager)."""

from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Availability, Team, User
from chat import routing_engine
from chat.events import line_payload
from chat.models import Conversation, ConversationState
from chat.selectors import lines_since
from customers.models import Customer
from tickets.models import Ticket
from tickets.workspace import UNRESOLVED

WAITING_SHOWN = 50
PAST_CHATS = 10

CARD_RELATED = ("ticket__customer__tier", "site", "visitor", "offered_to", "agent")


@dataclass
class ConsoleLists:
    offers: list[Conversation]
    waiting: list[Conversation]
    waiting_total: int
    mine: list[Conversation]
    capacity: int
    load: int

    @property
    def attention(self) -> int:
        """What the title badge counts: chats offered to me plus chats nobody has yet."""
        return len(self.offers) + self.waiting_total


def console_lists(user: User) -> ConsoleLists:
    visible = routing_engine.conversations_for(user).select_related(*CARD_RELATED)
    offers = list(
        visible.filter(state=ConversationState.OFFERED, offered_to=user).order_by("offered_at")
    )
    queued = visible.filter(state=ConversationState.WAITING).order_by(*routing_engine.queue_order())
    waiting = list(queued[:WAITING_SHOWN])
    total = len(waiting) if len(waiting) < WAITING_SHOWN else queued.count()
    mine = list(
        visible.filter(state=ConversationState.ACTIVE, agent=user).order_by("accepted_at", "id")
    )
    return ConsoleLists(
        offers=offers,
        waiting=waiting,
        waiting_total=total,
        mine=mine,
        capacity=user.agent_profile.chat_capacity,
        load=len(mine) + len(offers),
    )


@dataclass
class ChatPane:
    conversation: Conversation
    lines: list[dict[str, Any]]  # message.posted payloads (chat.events.line_payload)
    customer: Customer
    open_tickets: list[Ticket] = field(default_factory=list)
    past_chats: list[Conversation] = field(default_factory=list)
    holds: bool = False
    offered_to_me: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def conversation_for_pane(user: User, pk: int) -> Conversation:
    """Raises Conversation.DoesNotExist when it is not one this agent may see."""
    visible: QuerySet[Conversation] = routing_engine.conversations_for(user)
    return visible.select_related(*CARD_RELATED, "ticket__customer__organization").get(pk=pk)


def chat_pane(user: User, conversation: Conversation) -> ChatPane:
    customer = conversation.ticket.customer
    open_tickets = list(
        Ticket.objects.filter(customer=customer, status__in=UNRESOLVED)
        .exclude(pk=conversation.ticket_id)
        .only("id", "subject", "status", "customer_id")
        .order_by("-updated_at", "-id")[:10]
    )
    past = list(
        Conversation.objects.filter(
            ticket__customer=customer,
            state__in=[ConversationState.ENDED, ConversationState.MISSED],
        )
        .exclude(pk=conversation.pk)
        .select_related("ticket", "agent")
        .order_by("-created_at", "-id")[:PAST_CHATS]
    )
    return ChatPane(
        conversation=conversation,
        lines=[line_payload(line) for line in lines_since(conversation=conversation, seq=0)],
        customer=customer,
        open_tickets=open_tickets,
        past_chats=past,
        holds=conversation.state == ConversationState.ACTIVE and conversation.agent_id == user.pk,
        offered_to_me=conversation.state == ConversationState.OFFERED
        and conversation.offered_to_id == user.pk,
    )


def transfer_targets(user: User) -> tuple[list[User], list[Team]]:
    """Agents online for chats (not me) and active teams, for the transfer form."""
    cutoff = timezone.now() - routing_engine.heartbeat_timeout()
    agents = list(
        User.objects.filter(
            is_active=True,
            agent_profile__availability=Availability.ONLINE,
            chat_presence__accepting=True,
            chat_presence__last_heartbeat_at__gte=cutoff,
        )
        .exclude(pk=user.pk)
        .order_by("first_name", "username")
    )
    teams = list(Team.objects.filter(is_active=True).order_by("name"))
    return agents, teams
