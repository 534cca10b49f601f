"""A rule's conditions as one SQL query over tickets, and the reasons a ticket matches.

Every condition but one is a filter in SQL (indexed columns, EXISTS over the ticket's running
clocks, a subquery for the last customer message). "Percent of an SLA target used" depends on
the calendar and the pauses, so SQL narrows it to tickets with a running clock of that target
and `percent_reached` finishes it in Python on those candidates only.
"""

import math
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, Subquery

from slas import clocks
from slas.models import CalendarVersion, ClockSegment, ClockState, SegmentKind, TicketClock
from slas.rules import catalog
from tickets.models import Message, SenderKind, Ticket
from tickets.services import plain_text

# A clock still counting: running, or running past its due instant (the breach sweep marks it
# breached without stopping it). Paused clocks do not move towards a threshold.
LIVE_CLOCK_STATES = (ClockState.RUNNING, ClockState.BREACHED)


def live_clocks(target: str) -> QuerySet[TicketClock]:
    clocks_qs = TicketClock.objects.filter(state__in=LIVE_CLOCK_STATES, stopped_at__isnull=True)
    if target != "any":
        clocks_qs = clocks_qs.filter(target=target)
    return clocks_qs


def last_customer_body() -> Subquery:
    return Subquery(
        Message.objects.filter(ticket=OuterRef("pk"), sender=SenderKind.CUSTOMER)
        .order_by("-created_at", "-id")
        .values("body")[:1]
    )


def condition_q(condition: dict[str, Any], now: datetime) -> Q:
    """One condition as a filter on Ticket (a necessary condition for sla.percent_elapsed)."""
    key, op = condition["field"], condition["op"]
    value: Any = condition.get("value")
    column = {
        "status": "status",
        "priority": "priority",
        "type": "type",
        "channel": "channel",
        "team": "team_id",
        "assignee": "assignee_id",
        "customer.tier": "customer__tier_id",
        "customer.organization": "customer__organization_id",
        "customer.lifetime_value": "customer__lifetime_value",
    }.get(key)
    if column is not None:
        if op == "in":
            return Q(**{f"{column}__in": value})
        if op == "not_in":
            # NULL is "not one of" these too (SQL's NOT IN would drop it).
            return ~Q(**{f"{column}__in": value}) | Q(**{f"{column}__isnull": True})
        if op == "is_set":
            return Q(**{f"{column}__isnull": False})
        if op == "is_not_set":
            return Q(**{f"{column}__isnull": True})
        return Q(**{f"{column}__{op}": Decimal(value)})
    if key == "tags":
        if op == "has_all":
            q = Q()
            for name in value:
                q &= Q(
                    Exists(
                        Ticket.tags.through.objects.filter(ticket=OuterRef("pk"), tag__name=name)
                    )
                )
            return q
        any_tag = Q(
            Exists(Ticket.tags.through.objects.filter(ticket=OuterRef("pk"), tag__name__in=value))
        )
        return any_tag if op == "has_any" else ~any_tag
    if key.startswith("sla."):
        live = live_clocks(condition.get("target", "any")).filter(ticket=OuterRef("pk"))
        if key == "sla.minutes_to_breach":
            live = live.filter(due_at__lte=now + timedelta(minutes=value))
        elif key == "sla.breached":
            past_due = Q(Exists(live.filter(due_at__lte=now)))
            return past_due if value else ~past_due
        return Q(Exists(live))
    if key == "time.since_customer_message":
        return Q(last_customer_message_at__lte=now - timedelta(minutes=value))
    if key == "time.since_agent_reply":
        return Q(last_agent_reply_at__lte=now - timedelta(minutes=value))
    # message.keywords: the annotation `last_customer_body` (see matching_tickets)
    q = Q()
    for word in value:
        q |= Q(last_customer_body__icontains=word)
    return q


def matching_tickets(
    conditions: list[dict[str, Any]], *, now: datetime, base: QuerySet[Ticket] | None = None
) -> QuerySet[Ticket]:
    """The tickets whose row matches every condition now (see `needs_python_check`)."""
    tickets = base if base is not None else Ticket.objects.all()
    if any(c["field"] == "message.keywords" for c in conditions):
        tickets = tickets.annotate(last_customer_body=last_customer_body())
    for condition in conditions:
        tickets = tickets.filter(condition_q(condition, now))
    return tickets


def needs_python_check(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in conditions if c["field"] == "sla.percent_elapsed"]


# --- business time on a clock ------------------------------------------------------------------

_calendars: dict[tuple[int, int], clocks.BusinessCalendar] = {}


def calendar_of(clock: TicketClock) -> clocks.BusinessCalendar:
    """The calendar the clock counts in, at the version it started under (cached: versions
    never change once written)."""
    key = (clock.calendar_id, clock.calendar_version)
    if key not in _calendars:
        spec = (
            CalendarVersion.objects.filter(calendar_id=key[0], version=key[1])
            .values_list("spec", flat=True)
            .first()
        )
        if spec is None:  # no snapshot written (yet): today's calendar row
            from slas.models import BusinessCalendar

            row = BusinessCalendar.objects.get(pk=key[0])
            spec = {
                "timezone": row.timezone,
                "hours": row.hours,
                "holidays": row.holidays,
                "always_open": row.always_open,
            }
        _calendars[key] = clocks.BusinessCalendar.from_spec(spec)
    return _calendars[key]


def preload_calendars(clocks_seen: list[TicketClock]) -> None:
    """Read the calendar versions of many clocks in one query, so a batch costs the same
    whatever calendars its clocks count in (calendar_of then finds them cached)."""
    missing = {(c.calendar_id, c.calendar_version) for c in clocks_seen} - set(_calendars)
    if not missing:
        return
    wanted = Q()
    for calendar_id, version in missing:
        wanted |= Q(calendar_id=calendar_id, version=version)
    for calendar_id, version, spec in CalendarVersion.objects.filter(wanted).values_list(
        "calendar_id", "version", "spec"
    ):
        _calendars[(calendar_id, version)] = clocks.BusinessCalendar.from_spec(spec)
    # A clock whose version has no snapshot is looked up by calendar_of, one by one.


def pauses_of(clock: TicketClock) -> list[tuple[datetime, datetime]]:
    """The clock's finished pauses (a running clock has no open one)."""
    segments = getattr(clock, "paused_segments", None)
    if segments is None:
        segments = list(
            ClockSegment.objects.filter(
                clock=clock, kind=SegmentKind.PAUSED, ends_at__isnull=False
            ).order_by("starts_at")
        )
    return [(s.starts_at, s.ends_at) for s in segments if s.ends_at is not None]


def threshold_instant(clock: TicketClock, percent: int) -> datetime | None:
    """When `percent` % of the clock's target is used: the due instant itself at 100 %, else
    start + ceil(percent x target) business minutes (the same arithmetic as its due instant).
    None if the calendar never opens again."""
    if percent == 100:
        return clock.due_at
    minutes = math.ceil(percent * clock.target_minutes / 100)
    try:
        return clocks.add_business_minutes(
            clock.started_at, minutes, calendar_of(clock), pauses_of(clock)
        )
    except clocks.CalendarNeverOpens:
        return None


def percent_reached(
    ticket: Ticket,
    condition: dict[str, Any],
    now: datetime,
    clocks_of_ticket: list[TicketClock] | None = None,
) -> bool:
    """Is `condition` (sla.percent_elapsed) true of one of the ticket's live clocks now?
    `clocks_of_ticket`: its live clocks, already read (with `paused_segments`), if at hand."""
    target = condition.get("target", "any")
    if clocks_of_ticket is None:
        clocks_of_ticket = list(live_clocks(target).filter(ticket=ticket))
    for clock in clocks_of_ticket:
        if target not in ("any", clock.target):
            continue
        instant = threshold_instant(clock, condition["value"])
        if instant is not None and instant <= now:
            return True
    return False


def live_clocks_by_ticket(ticket_ids: list[int]) -> dict[int, list[TicketClock]]:
    """The live clocks of many tickets in one query (two with their finished pauses)."""
    found: dict[int, list[TicketClock]] = {}
    clocks_qs = (
        live_clocks("any")
        .filter(ticket_id__in=ticket_ids)
        .prefetch_related(
            Prefetch(
                "segments",
                queryset=ClockSegment.objects.filter(
                    kind=SegmentKind.PAUSED, ends_at__isnull=False
                ).order_by("starts_at"),
                to_attr="paused_segments",
            )
        )
    )
    for clock in clocks_qs:
        found.setdefault(clock.ticket_id, []).append(clock)
    return found


def ticket_matches(ticket: Ticket, conditions: list[dict[str, Any]], *, now: datetime) -> bool:
    """Does this ticket match every condition now? One query (plus the clocks for a percent
    condition)."""
    if not matching_tickets(conditions, now=now).filter(pk=ticket.pk).exists():
        return False
    return all(percent_reached(ticket, c, now) for c in needs_python_check(conditions))


# --- reasons ------------------------------------------------------------------------------------


def _minutes_ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    minutes = max(0, int((now - moment).total_seconds() // 60))
    return f"{minutes} min ago"


def reasons_for(
    ticket: Ticket,
    conditions: list[dict[str, Any]],
    *,
    now: datetime,
    clocks_of_ticket: list[TicketClock] | None = None,
) -> list[str]:
    """One sentence per condition saying what about this ticket matches it. A batch (the
    time-rule sweep) passes the ticket's live clocks and loads the rest with the ticket (team,
    assignee, customer with tier and organization, tags, the `last_customer_body` annotation),
    so this reads nothing more."""
    reasons: list[str] = []
    for condition in conditions:
        key, op = condition["field"], condition["op"]
        value: Any = condition.get("value")
        spec = catalog.CONDITION_FIELDS_BY_KEY[key]
        wording = catalog.OPERATORS[op]
        if key in ("status", "priority", "type", "channel"):
            current = getattr(ticket, f"get_{key}_display")()
            reasons.append(f"{spec.label} is {current} ({wording} {', '.join(value)})")
        elif key == "team":
            reasons.append(f"Team is {ticket.team.name if ticket.team else 'not set'}")
        elif key == "assignee":
            who = ticket.assignee.display_name if ticket.assignee else "nobody"
            reasons.append(f"Assignee is {who}")
        elif key == "tags":
            names = sorted(tag.name for tag in ticket.tags.all())
            reasons.append(f"Tags are {', '.join(names) or 'none'} ({wording} {', '.join(value)})")
        elif key == "customer.tier":
            reasons.append(f"Customer tier is {ticket.customer.tier.name}")
        elif key == "customer.organization":
            org = ticket.customer.organization
            reasons.append(f"Customer organization is {org.name if org else 'not set'}")
        elif key == "customer.lifetime_value":
            reasons.append(
                f"Customer lifetime value is {ticket.customer.lifetime_value} ({wording} {value})"
            )
        elif key.startswith("sla."):
            reasons.append(_sla_reason(ticket, condition, now, clocks_of_ticket))
        elif key == "time.since_customer_message":
            ago = _minutes_ago(ticket.last_customer_message_at, now)
            reasons.append(f"Customer's last message {ago} ({wording} {value} min)")
        elif key == "time.since_agent_reply":
            ago = _minutes_ago(ticket.last_agent_reply_at, now)
            reasons.append(f"Last agent reply {ago} ({wording} {value} min)")
        else:
            body = getattr(ticket, "last_customer_body", None)
            if not hasattr(ticket, "last_customer_body"):
                body = (
                    Message.objects.filter(ticket=ticket, sender=SenderKind.CUSTOMER)
                    .order_by("-created_at", "-id")
                    .values_list("body", flat=True)
                    .first()
                )
            text = plain_text(body or "").lower()
            found = [word for word in value if word in text]
            reasons.append(f"Last customer message mentions {', '.join(found) or '-'}")
    return reasons


def _sla_reason(
    ticket: Ticket,
    condition: dict[str, Any],
    now: datetime,
    clocks_of_ticket: list[TicketClock] | None = None,
) -> str:
    key, value = condition["field"], condition["value"]
    target = condition.get("target", "any")
    clock: TicketClock | None
    if clocks_of_ticket is None:
        clock = live_clocks(target).filter(ticket=ticket).order_by("due_at").first()
    else:
        of_target = [c for c in clocks_of_ticket if target in ("any", c.target)]
        clock = min(of_target, key=lambda c: (c.due_at, c.pk)) if of_target else None
    if clock is None:
        return "No running SLA target"
    label = clock.get_target_display()
    minutes_left = int((clock.due_at - now).total_seconds() // 60)
    if key == "sla.percent_elapsed":
        return f"{label}: at least {value} % of {clock.target_minutes} business min used"
    if key == "sla.minutes_to_breach":
        return f"{label} due in {minutes_left} min (at most {value})"
    if value:
        return f"{label} breached {-minutes_left} min ago"
    return f"{label} not breached (due in {minutes_left} min)"
