"""The reads behind the ticket workspace page: one ticket with its timeline (messages and audit
events in time order), the customer beside it, and what changed since the agent loaded the
page. A fixed number of queries whatever the length of the conversation.

Access is the callers' (tickets_visible_to + the agent_required door); these only read.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.timesince import timesince

from accounts.models import Team, User
from customers.models import Customer
from tickets.models import (
    EventKind,
    Message,
    Priority,
    Status,
    Ticket,
    TicketEvent,
    TicketType,
)
from tickets.selectors import messages_visible_to, ticket_timeline

UNRESOLVED = [Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD]
RESOLVED = [Status.SOLVED, Status.CLOSED]
PAST_TICKETS = 10
# Audit kinds the timeline shows as a line of its own (a posted message shows as itself).
SHOWN_EVENTS = {
    EventKind.CREATED,
    EventKind.STATUS_CHANGED,
    EventKind.PRIORITY_CHANGED,
    EventKind.ASSIGNEE_CHANGED,
    EventKind.TEAM_CHANGED,
    EventKind.TAGS_CHANGED,
    EventKind.DETAILS_CHANGED,
}


def workspace_ticket(tickets: QuerySet[Ticket], pk: int) -> Ticket:
    """The ticket with everything its header and controls show (raises DoesNotExist)."""
    return (
        tickets.select_related(
            "customer", "customer__tier", "customer__organization", "team", "assignee", "parent"
        )
        .prefetch_related("tags")
        .defer("search_document")
        .get(pk=pk)
    )


@dataclass(frozen=True)
class TimelineItem:
    kind: str  # "message" or "event"
    at: datetime
    message: Message | None = None
    event: TicketEvent | None = None
    text: str = ""  # an event, in words
    who: str = ""  # who made the change: an agent's name, the customer's, or "System"


def _label(choices: Any, value: Any) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)


def _describe(event: TicketEvent, users: dict[int, str], teams: dict[int, str]) -> str:
    data = event.data or {}
    before, after = data.get("from"), data.get("to")
    if event.kind == EventKind.CREATED:
        return "opened the ticket"
    if event.kind == EventKind.STATUS_CHANGED:
        return f"changed status from {_label(Status, before)} to {_label(Status, after)}"
    if event.kind == EventKind.PRIORITY_CHANGED:
        return f"changed priority from {_label(Priority, before)} to {_label(Priority, after)}"
    if event.kind == EventKind.ASSIGNEE_CHANGED:
        if after is None:
            return "unassigned the ticket"
        return f"assigned the ticket to {users.get(after, 'a former agent')}"
    if event.kind == EventKind.TEAM_CHANGED:
        return f"moved the ticket to {teams.get(after, 'no team')}" if after else "removed the team"
    if event.kind == EventKind.TAGS_CHANGED:
        added = sorted(set(after or []) - set(before or []))
        removed = sorted(set(before or []) - set(after or []))
        parts = []
        if added:
            parts.append("added tags " + ", ".join(added))
        if removed:
            parts.append("removed tags " + ", ".join(removed))
        return "; ".join(parts) or "changed tags"
    if event.kind == EventKind.DETAILS_CHANGED:
        changed = ", ".join(sorted(key for key in data if isinstance(data[key], dict))) or "details"
        if "type" in data and isinstance(data["type"], dict):
            return f"changed type to {_label(TicketType, data['type'].get('to'))}"
        return f"changed {changed}"
    return str(event.get_kind_display()).lower()


def _who(event: TicketEvent, ticket: Ticket) -> str:
    if event.actor is None:
        return "System"
    # A customer's login may carry another name than their customer record; show the record's.
    return event.actor.display_name if event.actor.is_agent else ticket.customer.name


def timeline_for(ticket: Ticket, user: User) -> list[TimelineItem]:
    """Messages (as this person may see them, with authors and files) and audit events,
    oldest first: four queries plus two for the names the events mention."""
    messages = list(messages_visible_to(user, ticket))
    audit = ticket_timeline(ticket).select_related("actor__agent_profile")
    events = [event for event in audit if event.kind in SHOWN_EVENTS]
    user_ids = {e.data.get("to") for e in events if e.kind == EventKind.ASSIGNEE_CHANGED}
    team_ids = {e.data.get("to") for e in events if e.kind == EventKind.TEAM_CHANGED}
    users = {
        u.pk: u.display_name
        for u in User.objects.filter(pk__in={i for i in user_ids if isinstance(i, int)})
    }
    teams = dict(
        Team.objects.filter(pk__in={i for i in team_ids if isinstance(i, int)}).values_list(
            "pk", "name"
        )
    )
    items = [TimelineItem("message", m.created_at, message=m) for m in messages]
    items += [
        TimelineItem(
            "event", e.created_at, event=e, text=_describe(e, users, teams), who=_who(e, ticket)
        )
        for e in events
    ]
    items.sort(key=lambda item: (item.at, 0 if item.kind == "event" else 1))
    return items


@dataclass
class CustomerPanel:
    customer: Customer
    open_tickets: list[Ticket] = field(default_factory=list)
    past_tickets: list[Ticket] = field(default_factory=list)


def customer_panel(customer: Customer, *, except_ticket: Ticket | None = None) -> CustomerPanel:
    """The customer beside a ticket: their other open tickets and the last ten past ones."""
    tickets = Ticket.objects.filter(customer=customer).only(
        "id", "subject", "status", "created_at", "updated_at", "customer_id"
    )
    open_tickets = tickets.filter(status__in=UNRESOLVED).order_by("-updated_at", "-id")
    if except_ticket is not None:
        open_tickets = open_tickets.exclude(pk=except_ticket.pk)
    past = tickets.filter(status__in=RESOLVED).order_by("-updated_at", "-id")[:PAST_TICKETS]
    return CustomerPanel(customer, list(open_tickets[:20]), list(past))


def customer_for_panel(pk: int) -> Customer:
    return (
        Customer.objects.select_related("tier", "organization").prefetch_related("tags").get(pk=pk)
    )


def customer_tickets(customer_id: int) -> QuerySet[Ticket]:
    """Every ticket of one customer, newest first (the customer page's history)."""
    return (
        Ticket.objects.filter(customer_id=customer_id)
        .select_related("assignee", "team")
        .defer("search_document")
        .order_by("-created_at", "-id")
    )


# --- what changed since the page was loaded -----------------------------------------------


def latest_event_id(ticket: Ticket | int) -> int:
    pk = ticket.pk if isinstance(ticket, Ticket) else ticket
    newest = TicketEvent.objects.filter(ticket_id=pk).order_by("-id").values_list("id", flat=True)
    return newest.first() or 0


def version_after(ticket: Ticket, *, since: int, viewer: User) -> int:
    """What the viewer's page may claim to have seen after their own write that was checked
    against `since`: the newest event, unless someone else wrote after `since` meanwhile (then
    `since` stays, so that change still warns on the next write)."""
    others = TicketEvent.objects.filter(ticket=ticket, pk__gt=since).exclude(actor=viewer)
    return since if others.exists() else latest_event_id(ticket)


def _verb(event: TicketEvent) -> str:
    data = event.data or {}
    if event.kind == EventKind.MESSAGE_POSTED:
        return "added an internal note" if data.get("is_internal") else "replied"
    verbs: dict[str, str] = {
        EventKind.STATUS_CHANGED: "changed the status",
        EventKind.PRIORITY_CHANGED: "changed the priority",
        EventKind.ASSIGNEE_CHANGED: "changed the assignee",
        EventKind.TEAM_CHANGED: "changed the team",
        EventKind.TAGS_CHANGED: "changed the tags",
        EventKind.DETAILS_CHANGED: "changed the details",
    }
    return verbs.get(str(event.kind), "changed the ticket")


def change_since(ticket: Ticket, *, seen_event: int, viewer: User) -> str | None:
    """A warning in words if someone else changed the ticket after event `seen_event` (the
    newest the viewer's page knew about), else None. The viewer's own changes don't count."""
    newer = (
        TicketEvent.objects.filter(ticket=ticket, pk__gt=seen_event)
        .exclude(actor=viewer)
        .select_related("actor", "ticket__customer")
        .order_by("-id")
        .first()
    )
    if newer is None:
        return None
    who = newer.actor.display_name if newer.actor else ticket.customer.name
    if newer.actor and not newer.actor.is_agent:
        who = ticket.customer.name
    return f"{who} {_verb(newer)} {_ago(newer.created_at)}: review before sending."


def _ago(moment: datetime) -> str:
    seconds = max(0, int((timezone.now() - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    return f"{timesince(moment, timezone.now()).split(',')[0]} ago"


def parse_version(raw: Any) -> int | None:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None
