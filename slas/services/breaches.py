"""The breach sweep: running clocks whose due instant has passed are marked breached, with a
timeline event and the ticket's summary updated. Run by the worker every 30 seconds
(slas.tasks); safe with any number of workers at once."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from slas.models import ClockState, TicketClock
from slas.services.ticket_clocks import recompute_ticket_clocks
from tickets.models import Ticket

SWEEP_BATCH = 500


def breach_due_clocks(*, now: datetime | None = None, limit: int = SWEEP_BATCH) -> int:
    """Mark every running clock due at or before `now`; returns how many tickets it changed.

    Candidates come from the partial index of unbreached running due instants only
    (`clock_unbreached_due`).
    Each ticket is then handled in its own transaction under its row lock, taken with SKIP
    LOCKED: a ticket another worker (or a ticket change) holds is left to it; the engine
    re-reads the clocks under the lock, so a clock is marked, and its event written, once."""
    now = now or timezone.now()
    due = (
        TicketClock.objects.filter(
            state=ClockState.RUNNING, stopped_at__isnull=True, due_at__lte=now
        )
        .order_by("due_at")
        .values_list("ticket_id", flat=True)[:limit]
    )
    ticket_ids = list(dict.fromkeys(due))
    changed = 0
    for ticket_id in ticket_ids:
        with transaction.atomic():
            ticket = Ticket.objects.select_for_update(skip_locked=True).filter(pk=ticket_id).first()
            if ticket is None:
                continue
            before = TicketClock.objects.filter(
                ticket_id=ticket_id, state=ClockState.RUNNING, due_at__lte=now
            ).count()
            recompute_ticket_clocks(ticket=ticket, now=now)
            changed += 1 if before else 0
    return changed
