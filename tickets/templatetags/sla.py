"""The SLA badge on queue rows and the workspace, and the promise a customer reads.

Reads only the ticket's SLA summary (tickets.models: sla_due_at, sla_target, sla_state,
reply_due_at, reply_promise, escalation_level), never `slas`, which sits above tickets. The
words here and in static/js/sla.js (which keeps them current every 30 s and on
`ticket.sla_changed`) follow the same rules, so the page does not change when the script
first runs.

Levels (a text label always; the colour only adds to it):
- "ok": on track, more than AT_RISK_MINUTES of real time left;
- "risk": due within AT_RISK_MINUTES (one hour): the same window as the queue's
  "At risk / breaching" view, so a badge says "At risk" exactly when the ticket is in it;
- "breached": the due instant has passed (or the summary says breached);
- "paused": the target is paused (pending on the customer, on hold).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import template
from django.utils import timezone

from tickets.models import SlaState, SlaTarget, Status, Ticket

register = template.Library()

AT_RISK_MINUTES = 60
LEVEL_LABELS = {"ok": "On track", "risk": "At risk", "breached": "Breached", "paused": "Paused"}
CLOSED_STATUSES = (Status.SOLVED, Status.CLOSED)


def duration_words(minutes: int) -> str:
    """42 min / 3 h 20 min / 2 d 4 h: short enough for a queue cell."""
    minutes = max(0, minutes)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def minutes_until(due_at: datetime, now: datetime) -> int:
    """Whole minutes from now until `due_at`, rounded down (never promises more time)."""
    return int((due_at - now).total_seconds() // 60)


@dataclass(frozen=True)
class Badge:
    level: str
    label: str  # the level in words
    target: str  # "First reply"
    left: str  # "42 min left", "breached 12 min ago", "paused"
    due_at: datetime | None
    exact: str  # the due instant in the agent's zone, for the tooltip


def badge_for(ticket: Ticket, *, now: datetime | None = None, zone: str = "") -> Badge | None:
    if not ticket.sla_state or ticket.status in CLOSED_STATUSES:
        return None
    now = now or timezone.now()
    target = SlaTarget(ticket.sla_target).label if ticket.sla_target else "SLA"
    due = ticket.sla_due_at
    if ticket.sla_state == SlaState.PAUSED and due is None:
        return Badge("paused", LEVEL_LABELS["paused"], target, "paused", None, "")
    if due is None:
        return None
    left = minutes_until(due, now)
    if ticket.sla_state == SlaState.BREACHED or due <= now:
        level = "breached"
        ago = -left - 1 if left < 0 else 0
        words = f"breached {duration_words(ago)} ago" if ago else "breached just now"
    else:
        level = "risk" if left < AT_RISK_MINUTES else "ok"
        words = f"{duration_words(left)} left"
    if ticket.sla_state == SlaState.PAUSED:
        level, words = "paused", "paused"
    return Badge(level, LEVEL_LABELS[level], target, words, due, exact_time(due, zone))


def exact_time(moment: datetime, zone: str) -> str:
    try:
        tz = ZoneInfo(zone) if zone else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    local = moment.astimezone(tz)
    return f"{local:%-d %b %Y, %H:%M} ({tz.key})"


@register.inclusion_tag("tickets/_sla_badge.html", takes_context=True)
def sla_badge(context: template.Context, ticket: Ticket) -> dict[str, Any]:
    shell = context.get("shell")
    zone = getattr(shell, "timezone", "") or ""
    return {"ticket": ticket, "badge": badge_for(ticket, zone=zone)}


@register.inclusion_tag("tickets/_promise.html")
def reply_promise(ticket: Ticket) -> dict[str, Any]:
    """What the customer is told: the next promised reply and why. Only the two promise
    fields; the internal state (breached, targets, policies) never reaches a customer."""
    due = ticket.reply_due_at
    if due is None or ticket.status in CLOSED_STATUSES:
        return {"promise": None}
    now = timezone.now()
    return {
        "promise": {
            "due_at": due,
            "reason": ticket.reply_promise,
            "overdue": due <= now,
            "utc": f"{due.astimezone(ZoneInfo('UTC')):%-d %b, %H:%M} UTC",
        }
    }
