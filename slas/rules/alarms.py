"""When a time rule should next look at a ticket: one RuleAlarm row per (rule, ticket,
occasion) with the instant its time conditions all become true, so the sweep finds its
candidates by the indexed `due_at` column alone.

- "sla.percent_elapsed >= p": start + ceil(p x target) business minutes, in the clock's
  calendar (at the version it started under) and around its finished pauses;
- "sla.minutes_to_breach <= m": the due instant minus m real minutes;
- "sla.breached is true": the due instant;
- "time.since_customer_message >= m" / "time.since_agent_reply >= m": that timestamp + m.

The occasion names what the rule fires for: the clock ("clock:<id>") and the timestamps the
waits count from ("customer:<epoch>", "agent:<epoch>"), so a rule fires once per target and
again after a new customer message, never twice for the same one.

Alarms are refreshed for one ticket on every change of it (the ticket_changed receiver, after
its clocks) and for one rule when the rule is saved (`recompute_rule_alarms`). A paused clock
has no alarm: it gets one when it resumes (a change of the ticket).
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Exists, OuterRef, Prefetch
from django.utils import timezone

from slas.models import (
    ClockSegment,
    EscalationRule,
    RuleAlarm,
    RuleFiring,
    RuleTrigger,
    SegmentKind,
    TicketClock,
)
from slas.rules.catalog import CONDITION_FIELDS_BY_KEY, OPEN_STATUSES
from slas.rules.conditions import (
    live_clocks,
    live_clocks_by_ticket,
    matching_tickets,
    preload_calendars,
    threshold_instant,
)
from tickets.models import Ticket

RECOMPUTE_BATCH = 2000


def _time_conditions(rule: EscalationRule) -> list[dict[str, Any]]:
    return [c for c in rule.conditions if CONDITION_FIELDS_BY_KEY[c["field"]].time_based]


def _clock_instant(condition: dict[str, Any], clock: TicketClock) -> datetime | None:
    key, value = condition["field"], condition["value"]
    if key == "sla.percent_elapsed":
        return threshold_instant(clock, value)
    if key == "sla.minutes_to_breach":
        return clock.due_at - timedelta(minutes=value)
    return clock.due_at  # sla.breached is true


def alarms_for(
    rule: EscalationRule,
    *,
    last_customer_message_at: datetime | None,
    last_agent_reply_at: datetime | None,
    clocks: Iterable[TicketClock],
) -> dict[str, datetime]:
    """occasion -> instant for one ticket (its live clocks given, paused segments attached)."""
    waits: list[str] = []
    wait_due: datetime | None = None
    clock_conditions = []
    for condition in _time_conditions(rule):
        key = condition["field"]
        if key.startswith("sla."):
            clock_conditions.append(condition)
            continue
        side, moment = (
            ("customer", last_customer_message_at)
            if key == "time.since_customer_message"
            else ("agent", last_agent_reply_at)
        )
        if moment is None:
            return {}  # nothing to count from: no alarm until there is
        due = moment + timedelta(minutes=condition["value"])
        wait_due = due if wait_due is None else max(wait_due, due)
        waits.append(f"{side}:{int(moment.timestamp())}")
    if not clock_conditions:
        return {"|".join(sorted(set(waits))): wait_due} if wait_due is not None else {}
    found: dict[str, datetime] = {}
    for clock in clocks:
        if any(c["target"] not in ("any", clock.target) for c in clock_conditions):
            continue
        instants = [_clock_instant(c, clock) for c in clock_conditions]
        if any(instant is None for instant in instants):
            continue
        due_at = max(i for i in instants if i is not None)
        if wait_due is not None:
            due_at = max(due_at, wait_due)
        found["|".join([f"clock:{clock.pk}", *sorted(set(waits))])] = due_at
    return found


def _with_pauses(clocks: Any) -> Any:
    return clocks.prefetch_related(
        Prefetch(
            "segments",
            queryset=ClockSegment.objects.filter(
                kind=SegmentKind.PAUSED, ends_at__isnull=False
            ).order_by("starts_at"),
            to_attr="paused_segments",
        )
    )


def active_time_rules() -> list[EscalationRule]:
    return list(
        EscalationRule.objects.filter(trigger=RuleTrigger.TIME, is_active=True).order_by(
            "position", "id"
        )
    )


def refresh_ticket_alarms(
    *,
    ticket: Ticket,
    rules: list[EscalationRule] | None = None,
    now: datetime | None = None,
) -> None:
    """Make the ticket's alarms (for `rules`, default every active time rule) what its clocks
    and timestamps say now. Occasions that already fired get none."""
    if rules is None:
        rules = active_time_rules()
        stale = RuleAlarm.objects.filter(ticket=ticket).exclude(rule__in=rules)
    else:
        stale = RuleAlarm.objects.none()
    if not rules:
        return
    wanted: dict[tuple[int, str], datetime] = {}
    if ticket.status in OPEN_STATUSES:
        clocks = list(_with_pauses(live_clocks("any").filter(ticket=ticket)))
        for rule in rules:
            for occasion, due_at in alarms_for(
                rule,
                last_customer_message_at=ticket.last_customer_message_at,
                last_agent_reply_at=ticket.last_agent_reply_at,
                clocks=clocks,
            ).items():
                wanted[(rule.pk, occasion)] = due_at
        if wanted:
            fired = set(
                RuleFiring.objects.filter(ticket=ticket, rule__in=rules).values_list(
                    "rule_id", "occasion"
                )
            )
            wanted = {key: due for key, due in wanted.items() if key not in fired}
    existing = {
        (alarm.rule_id, alarm.occasion): alarm
        for alarm in RuleAlarm.objects.filter(ticket=ticket, rule__in=rules)
    }
    gone = [alarm.pk for key, alarm in existing.items() if key not in wanted]
    if gone:
        RuleAlarm.objects.filter(pk__in=gone).delete()
    stale.delete()
    for key, due_at in wanted.items():
        alarm = existing.get(key)
        if alarm is None:
            RuleAlarm.objects.bulk_create(
                [RuleAlarm(rule_id=key[0], ticket=ticket, occasion=key[1], due_at=due_at)],
                ignore_conflicts=True,
            )
        elif alarm.due_at != due_at:
            RuleAlarm.objects.filter(pk=alarm.pk).update(due_at=due_at)


def refresh_alarms_of_tickets(
    *,
    tickets: list[Ticket],
    rules: list[EscalationRule] | None = None,
    now: datetime | None = None,
    clocks_of: dict[int, list[TicketClock]] | None = None,
) -> None:
    """refresh_ticket_alarms for many tickets (the time-rule sweep's batch) in a fixed number
    of queries: their live clocks with pauses (unless `clocks_of` is given), their firings,
    their alarms, one DELETE of those gone or moved and one INSERT of those new or moved."""
    if not tickets:
        return
    ids = [ticket.pk for ticket in tickets]
    if rules is None:
        rules = active_time_rules()
        RuleAlarm.objects.filter(ticket_id__in=ids).exclude(rule__in=rules).delete()
    if not rules:
        return
    wanted: dict[tuple[int, int, str], datetime] = {}
    open_tickets = [ticket for ticket in tickets if ticket.status in OPEN_STATUSES]
    if open_tickets:
        if clocks_of is None:
            clocks_of = live_clocks_by_ticket([ticket.pk for ticket in open_tickets])
        preload_calendars([clock for found in clocks_of.values() for clock in found])
        for ticket in open_tickets:
            for rule in rules:
                for occasion, due_at in alarms_for(
                    rule,
                    last_customer_message_at=ticket.last_customer_message_at,
                    last_agent_reply_at=ticket.last_agent_reply_at,
                    clocks=clocks_of.get(ticket.pk, ()),
                ).items():
                    wanted[(rule.pk, ticket.pk, occasion)] = due_at
        if wanted:
            fired = set(
                RuleFiring.objects.filter(ticket_id__in=ids, rule__in=rules).values_list(
                    "rule_id", "ticket_id", "occasion"
                )
            )
            wanted = {key: due for key, due in wanted.items() if key not in fired}
    existing = {
        (alarm.rule_id, alarm.ticket_id, alarm.occasion): alarm
        for alarm in RuleAlarm.objects.filter(ticket_id__in=ids, rule__in=rules)
    }
    gone = [alarm.pk for key, alarm in existing.items() if wanted.get(key) != alarm.due_at]
    if gone:
        RuleAlarm.objects.filter(pk__in=gone).delete()
    kept = {key for key, alarm in existing.items() if wanted.get(key) == alarm.due_at}
    RuleAlarm.objects.bulk_create(
        [
            RuleAlarm(rule_id=rule_id, ticket_id=ticket_id, occasion=occasion, due_at=due_at)
            for (rule_id, ticket_id, occasion), due_at in wanted.items()
            if (rule_id, ticket_id, occasion) not in kept
        ],
        ignore_conflicts=True,
    )


def rule_candidates(rule: EscalationRule, *, now: datetime) -> Any:
    """The open tickets a time rule may ever fire on as things stand: its other conditions in
    SQL, plus "has a live clock" / "has the timestamp" for its time conditions."""
    base = Ticket.objects.filter(status__in=OPEN_STATUSES)
    for condition in _time_conditions(rule):
        key = condition["field"]
        if key.startswith("sla."):
            base = base.filter(
                Exists(live_clocks(condition["target"]).filter(ticket=OuterRef("pk")))
            )
        elif key == "time.since_customer_message":
            base = base.filter(last_customer_message_at__isnull=False)
        else:
            base = base.filter(last_agent_reply_at__isnull=False)
    others = [c for c in rule.conditions if not CONDITION_FIELDS_BY_KEY[c["field"]].time_based]
    return matching_tickets(others, now=now, base=base)


def recompute_rule_alarms(
    *, rule: EscalationRule, now: datetime | None = None, batch: int = RECOMPUTE_BATCH
) -> int:
    """Replace every alarm of one rule (after it is saved). Candidates come from SQL
    (`rule_candidates`); they are read in batches of `batch` tickets (one query for their
    live clocks with pauses, one for their firings, one bulk insert per batch). Cost: linear in
    the candidates, about 3 queries per 2,000 tickets plus the business-time arithmetic per
    clock. Returns how many alarms were written."""
    now = now or timezone.now()
    RuleAlarm.objects.filter(rule=rule).delete()
    if not rule.is_active or rule.trigger != RuleTrigger.TIME:
        return 0
    needs_clocks = any(c["field"].startswith("sla.") for c in _time_conditions(rule))
    rows = (
        rule_candidates(rule, now=now)
        .order_by("pk")
        .values_list("pk", "last_customer_message_at", "last_agent_reply_at")
    )
    written = 0
    last_pk = 0
    while True:
        chunk = list(rows.filter(pk__gt=last_pk)[:batch])
        if not chunk:
            return written
        last_pk = chunk[-1][0]
        ids = [row[0] for row in chunk]
        clocks_of: dict[int, list[TicketClock]] = {}
        if needs_clocks:
            for clock in _with_pauses(live_clocks("any").filter(ticket_id__in=ids)):
                clocks_of.setdefault(clock.ticket_id, []).append(clock)
        fired = set(
            RuleFiring.objects.filter(rule=rule, ticket_id__in=ids).values_list(
                "ticket_id", "occasion"
            )
        )
        new: list[RuleAlarm] = []
        for pk, customer_at, agent_at in chunk:
            found = alarms_for(
                rule,
                last_customer_message_at=customer_at,
                last_agent_reply_at=agent_at,
                clocks=clocks_of.get(pk, ()),
            )
            new.extend(
                RuleAlarm(rule=rule, ticket_id=pk, occasion=occasion, due_at=due_at)
                for occasion, due_at in found.items()
                if (pk, occasion) not in fired
            )
        RuleAlarm.objects.bulk_create(new, ignore_conflicts=True)
        written += len(new)


def candidate_count(rule: EscalationRule, *, now: datetime) -> int:
    return int(rule_candidates(rule, now=now).count())
