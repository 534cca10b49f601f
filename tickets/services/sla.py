"""The writes `slas` makes on a ticket: its SLA summary, its escalation level, and the timeline
entries for breaches and rule firings. `slas` owns the rules; these only store the outcome,
always inside the caller's transaction (the ticket change, or the worker's sweep)."""

from datetime import datetime
from typing import Any

from django.db import transaction

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
