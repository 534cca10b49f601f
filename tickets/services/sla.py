"""The writes `slas` makes on a ticket: its SLA summary, its escalation level, and the timeline
entries for breaches and rule firings. `slas` owns the rules; these only store the outcome,
always inside the caller's transaction (the ticket change, or the worker's sweep)."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.errors import RuleBroken
from tickets import events
from tickets.models import EventKind, Notification, SlaState, SlaTarget, Ticket, TicketEvent
from tickets.services._shared import QUIET_EVENT_KINDS, _announce, _locked, _record

TICKET_SLA_CHANGED = "ticket.sla_changed"
TICKET_ESCALATED = "ticket.escalated"
MAX_ESCALATION_LEVEL = 9
REPLY_PROMISE_MAX_LENGTH = 200


def record_sla_summary(
    *,
    ticket: Ticket,
    due_at: datetime | None,
    target: str,
    state: str,
    reply_due_at: datetime | None,
    reply_promise: str,
) -> Ticket:
    """Store what the queue, the workspace and the customer see of the ticket's clocks.

    Called by `slas` whenever it recomputes them; writes (and announces, after commit) only
    when something changed, and never touches `updated_at` (a clock ticking is not an edit).
    """
    if target and target not in SlaTarget.values:
        raise ValueError(f"{target!r} is not an SLA target")
    if state not in SlaState.values:
        raise ValueError(f"{state!r} is not an SLA state")
    summary = {
        "sla_due_at": due_at,
        "sla_target": target,
        "sla_state": state,
        "reply_due_at": reply_due_at,
        "reply_promise": reply_promise[:REPLY_PROMISE_MAX_LENGTH],
    }
    if all(getattr(ticket, field) == value for field, value in summary.items()):
        return ticket
    Ticket.objects.filter(pk=ticket.pk).update(**summary)
    for field, value in summary.items():
        setattr(ticket, field, value)
    events.broadcast_on_commit(
        events.AGENT_STREAM_GROUP,
        TICKET_SLA_CHANGED,
        {"ticket": events.ticket_snapshot(ticket), "change": sla_summary_of(ticket), "actor": None},
    )
    return ticket


def sla_summary_of(ticket: Ticket) -> dict[str, Any]:
    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    return {
        "sla_due_at": iso(ticket.sla_due_at),
        "sla_target": ticket.sla_target,
        "sla_state": ticket.sla_state,
        "reply_due_at": iso(ticket.reply_due_at),
        "reply_promise": ticket.reply_promise,
    }


def record_ticket_event(
    *, ticket: Ticket, kind: str, data: dict[str, Any], actor: User | None = None
) -> TicketEvent:
    """Put an SLA breach or a rule's firing on the ticket's timeline (QUIET_EVENT_KINDS only:
    they never set off the ticket_changed signal, so rules cannot loop on their own firings)."""
    if kind not in QUIET_EVENT_KINDS:
        raise ValueError(f"{kind!r} is a ticket change; use the service that makes it")
    return _record(ticket, actor, kind, data)


def record_ticket_events(
    *, entries: Sequence[tuple[Ticket, str, dict[str, Any]]], actor: User | None = None
) -> list[TicketEvent]:
    """record_ticket_event for many tickets in one INSERT (the time-rule sweep's firings).
    Quiet kinds only, so no signal is owed."""
    for _ticket, kind, _data in entries:
        if kind not in QUIET_EVENT_KINDS:
            raise ValueError(f"{kind!r} is a ticket change; use the service that makes it")
    return TicketEvent.objects.bulk_create(
        [
            TicketEvent(ticket=ticket, actor=actor, kind=kind, data=data)
            for ticket, kind, data in entries
        ]
    )


@transaction.atomic
def set_escalation_level(*, ticket: Ticket, level: int, actor: User | None) -> Ticket:
    ticket = _locked(ticket)
    if not 0 <= level <= MAX_ESCALATION_LEVEL:
        raise RuleBroken("level", f"An escalation level is from 0 to {MAX_ESCALATION_LEVEL}.")
    if level == ticket.escalation_level:
        return ticket
    old = ticket.escalation_level
    ticket.escalation_level = level
    ticket.save(update_fields=["escalation_level", "updated_at"])
    _record(ticket, actor, EventKind.ESCALATED, {"from": old, "to": level})
    change = {"field": "escalation_level", "from": old, "to": level}
    _announce(ticket, TICKET_ESCALATED, change, actor=actor)
    return ticket


@transaction.atomic(savepoint=False)  # one write set; the caller's savepoint covers it
def set_escalation_levels(
    *, tickets: Sequence[Ticket], level: int, actor: User | None
) -> list[Ticket]:
    """set_escalation_level for many tickets the caller has already locked (the time-rule
    sweep locks its batch first, in id order, as every change locks its ticket first): one
    UPDATE, the events in one INSERT, the live events after commit in one go. The tickets
    given are updated in place; returns those that changed."""
    if not 0 <= level <= MAX_ESCALATION_LEVEL:
        raise RuleBroken("level", f"An escalation level is from 0 to {MAX_ESCALATION_LEVEL}.")
    changing = [ticket for ticket in tickets if ticket.escalation_level != level]
    if not changing:
        return []
    now = timezone.now()
    Ticket.objects.filter(pk__in=[ticket.pk for ticket in changing]).update(
        escalation_level=level, updated_at=now
    )
    rows, messages = [], []
    for ticket in changing:
        change = {"field": "escalation_level", "from": ticket.escalation_level, "to": level}
        ticket.escalation_level, ticket.updated_at = level, now
        rows.append(
            TicketEvent(
                ticket=ticket,
                actor=actor,
                kind=EventKind.ESCALATED,
                data={"from": change["from"], "to": level},
            )
        )
        payload = {
            "ticket": events.ticket_snapshot(ticket),
            "change": change,
            "actor": events.actor_summary(actor),
        }
        messages.append((events.AGENT_STREAM_GROUP, TICKET_ESCALATED, payload))
    TicketEvent.objects.bulk_create(rows)  # ESCALATED is quiet: no ticket_changed owed
    events.broadcast_many_on_commit(messages)
    return changing


def owe_escalation_email(*, ticket: Ticket, recipient: str, context: dict[str, Any]) -> None:
    """Write an escalation rule's notice to the outbox (Notification.Kind.ESCALATION, with what
    the email says in `context`); the worker sends it after commit (tickets.tasks)."""
    if not recipient:
        return
    notification = Notification.objects.create(
        ticket=ticket, kind=Notification.Kind.ESCALATION, recipient=recipient, context=context
    )
    from tickets.tasks import queue_notification  # tasks import services' models; avoid a cycle

    transaction.on_commit(lambda: queue_notification(notification.pk))


def owe_escalation_emails(*, owed: Sequence[tuple[Ticket, str, dict[str, Any]]]) -> None:
    """owe_escalation_email for many (ticket, recipient, context): one INSERT into the outbox,
    queued for the worker after commit."""
    notifications = Notification.objects.bulk_create(
        [
            Notification(
                ticket=ticket, kind=Notification.Kind.ESCALATION, recipient=recipient,
                context=context,
            )
            for ticket, recipient, context in owed
            if recipient
        ]
    )  # fmt: skip
    if not notifications:
        return
    from tickets.tasks import queue_notification  # tasks import services' models; avoid a cycle

    ids = [notification.pk for notification in notifications]

    def queue_all() -> None:
        for pk in ids:
            queue_notification(pk)

    transaction.on_commit(queue_all)
