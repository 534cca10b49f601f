"""SLA demo data for `manage.py seed_demo` (via tickets.signals.demo_seeded): business
calendars, a policy per tier, team calendars, a few escalation rules, and a believable past of
clocks for the demo tickets, so the manager dashboard has something to show.

The past is history, not live computation: clocks are written in bulk (PostgreSQL COPY through
tickets.demo.Table, in batches) from each ticket's real timestamps (created, first reply,
solved), with outcomes drawn from the run's random generator: most targets met, VIP and Gold
tighter and better kept, the Payments team and one bad week three weeks ago worse than the
rest. Business minutes are drawn to agree with the outcome (met: at most the target; breached:
more) and due instants placed to agree with both. No ledger segments are written for the past:
the ledger is for clocks the services compute. The tickets' SLA summary (sla_due_at, sla_state,
reply_due_at, reply_promise) is written with one bulk UPDATE per batch to match the clocks.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import holidays as public_holidays
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from accounts.models import Team
from customers.models import Tier
from slas.models import (
    BusinessCalendar,
    CalendarVersion,
    ClockState,
    EscalationRule,
    PolicyTarget,
    PolicyVersion,
    RuleTrigger,
    SlaMinutesRollup,
    SlaOutcomeRollup,
    SlaPolicy,
    SlaTicketRollup,
    TeamCalendar,
    TicketClock,
)
from slas.services.rollup import refresh_sla_rollup_between, report_timezone
from tickets.demo import Table
from tickets.models import SlaState, SlaTarget, Status, Ticket

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
EU_HOURS = {day: [["09:00", "12:30"], ["13:30", "18:00"]] for day in WEEKDAYS} | {
    "sat": [],
    "sun": [],
}
AMERICAS_HOURS = {day: [["08:00", "17:00"]] for day in WEEKDAYS} | {
    "sat": [["10:00", "14:00"]],
    "sun": [],
}
CALENDARS: dict[str, dict[str, Any]] = {
    "EU support hours": {
        "timezone": "Europe/Paris",
        "hours": EU_HOURS,
        "holiday_country": "FR",
        "always_open": False,
    },
    "Americas support hours": {
        "timezone": "America/New_York",
        "hours": AMERICAS_HOURS,
        "holiday_country": "US",
        "always_open": False,
    },
    "24/7": {"timezone": "UTC", "hours": {}, "holiday_country": "", "always_open": True},
}
# Share of real time a calendar is open (EU: 40 h of 168), to turn business minutes into a
# believable real-time due instant for the synthetic past.
OPEN_SHARE = {"EU support hours": 40 / 168, "Americas support hours": 49 / 168, "24/7": 1.0}
TEAM_CALENDARS = {
    "Orders & Shipping": "EU support hours",
    "Returns & Refunds": "EU support hours",
    "Payments": "EU support hours",
    "Product questions": "Americas support hours",
}

# Business minutes (first reply, next reply, resolution) per priority: urgent, high, normal, low.
Targets = dict[str, tuple[int, int, int]]
POLICIES: list[dict[str, Any]] = [
    {
        "name": "VIP around the clock",
        "tiers": ["vip"],
        "calendar": "24/7",
        "pause_on_hold": False,
        "targets": {
            "urgent": (15, 30, 240),
            "high": (30, 60, 480),
            "normal": (60, 120, 960),
            "low": (120, 240, 1440),
        },
    },
    {
        "name": "Gold",
        "tiers": ["gold"],
        "calendar": "EU support hours",
        "pause_on_hold": True,
        "targets": {
            "urgent": (30, 60, 480),
            "high": (60, 120, 960),
            "normal": (120, 240, 1440),
            "low": (240, 480, 2400),
        },
    },
    {
        "name": "Silver",
        "tiers": ["silver"],
        "calendar": "EU support hours",
        "pause_on_hold": True,
        "targets": {
            "urgent": (60, 120, 960),
            "high": (120, 240, 1440),
            "normal": (240, 480, 2400),
            "low": (480, 720, 4800),
        },
    },
    {
        "name": "Standard",
        "tiers": [],
        "calendar": "EU support hours",
        "pause_on_hold": True,
        "default": True,
        "targets": {
            "urgent": (120, 240, 1440),
            "high": (240, 480, 2400),
            "normal": (480, 720, 4800),
            "low": (960, 960, 7200),
        },
    },
]
RULES: list[dict[str, Any]] = [
    {
        "name": "Warn at 75% of first-reply time",
        "trigger": RuleTrigger.TIME,
        "conditions": [
            {"field": "sla.percent_elapsed", "op": "gte", "value": 75, "target": "first_reply"}
        ],
        "actions": [
            {
                "type": "notify",
                "to": "assignee",
                "message": "75% of the first-reply time is used.",
            }
        ],
    },
    {
        "name": "Breached: tell the team manager",
        "trigger": RuleTrigger.TIME,
        "conditions": [{"field": "sla.breached", "op": "is", "value": True, "target": "any"}],
        "actions": [
            {"type": "notify", "to": "team_manager"},
            {"type": "set_escalation_level", "level": 1},
        ],
    },
    {
        "name": "Urgent words raise the priority",
        "trigger": RuleTrigger.EVENT,
        "conditions": [
            {
                "field": "message.keywords",
                "op": "contains_any",
                "value": ["chargeback", "lawyer", "fraud"],
            },
            {"field": "priority", "op": "in", "value": ["low", "normal"]},
        ],
        "actions": [{"type": "set_priority", "priority": "high"}],
    },
]

BATCH = 5000
BREACH_BASE: dict[str, float] = {
    SlaTarget.FIRST_REPLY: 0.06,
    SlaTarget.NEXT_REPLY: 0.07,
    SlaTarget.RESOLUTION: 0.09,
}
TIER_FACTOR = {"vip": 0.5, "gold": 0.75, "silver": 1.0, "standard": 1.25}
TEAM_FACTOR = {"Payments": 1.6, "Product questions": 0.8}
BAD_WEEK = (timedelta(days=24), timedelta(days=17))  # how long ago it started and ended


# --- setup ------------------------------------------------------------------------------------


def _expanded_holidays(country: str) -> list[str]:
    if not country:
        return []
    this_year = timezone.now().year
    found = public_holidays.country_holidays(country, years=range(this_year - 1, this_year + 2))
    return sorted(day.isoformat() for day in found)


def ensure_calendars_and_policies() -> dict[str, Any]:
    """Calendars, policies, team calendars and rules; what exists already (by name) is kept."""
    calendars: dict[str, BusinessCalendar] = {}
    for name, data in CALENDARS.items():
        calendar, created = BusinessCalendar.objects.get_or_create(
            name=name,
            defaults={
                "timezone": data["timezone"],
                "hours": data["hours"],
                "holiday_country": data["holiday_country"],
                "always_open": data["always_open"],
            },
        )
        if created:
            CalendarVersion.objects.create(
                calendar=calendar,
                version=calendar.version,
                spec={
                    "timezone": calendar.timezone,
                    "hours": calendar.hours,
                    "holidays": _expanded_holidays(calendar.holiday_country),
                    "always_open": calendar.always_open,
                },
            )
        calendars[name] = calendar

    tiers = dict(Tier.objects.values_list("slug", "id"))
    policies: dict[str, SlaPolicy] = {}
    has_default = SlaPolicy.objects.filter(is_default=True).exists()
    for position, data in enumerate(POLICIES, start=1):
        calendar = calendars[data["calendar"]]
        policy = SlaPolicy.objects.filter(name=data["name"]).first()
        if policy is None:
            is_default = bool(data.get("default")) and not has_default
            policy = SlaPolicy.objects.create(
                name=data["name"],
                description=f"Demo: {data['name']} customers.",
                position=position,
                is_default=is_default,
                conditions={"tiers": [tiers[s] for s in data["tiers"] if s in tiers]}
                if data["tiers"]
                else {},
                calendar=calendar,
                pause_on_hold=data["pause_on_hold"],
            )
            PolicyTarget.objects.bulk_create(
                PolicyTarget(
                    policy=policy,
                    priority=priority,
                    first_reply_minutes=first,
                    next_reply_minutes=following,
                    resolution_minutes=resolution,
                )
                for priority, (first, following, resolution) in data["targets"].items()
            )
            PolicyVersion.objects.create(
                policy=policy,
                version=policy.version,
                snapshot={
                    "name": policy.name,
                    "conditions": policy.conditions,
                    "calendar": calendar.pk,
                    "calendar_version": calendar.version,
                    "pause_on_hold": policy.pause_on_hold,
                    "targets": {
                        p: dict(zip(("first_reply", "next_reply", "resolution"), t, strict=True))
                        for p, t in data["targets"].items()
                    },
                },
            )
        policies[data["name"]] = policy

    for team in Team.objects.filter(name__in=list(TEAM_CALENDARS)):
        TeamCalendar.objects.get_or_create(
            team=team, defaults={"calendar": calendars[TEAM_CALENDARS[team.name]]}
        )
    for position, rule in enumerate(RULES, start=1):
        EscalationRule.objects.get_or_create(
            name=rule["name"],
            defaults={
                "trigger": rule["trigger"],
                "position": position,
                "conditions": rule["conditions"],
                "actions": rule["actions"],
                "description": "Demo rule.",
            },
        )
    return {"calendars": calendars, "policies": policies}


# --- the past ---------------------------------------------------------------------------------


@dataclass
class PolicyPlan:
    policy_id: int
    policy_version: int
    calendar_id: int
    calendar_version: int
    open_share: float
    targets: dict[str, tuple[int, int, int]]
    tier_name: str


class ClockMaker:
    """Clocks for one ticket from its timestamps and the run's random choices."""

    def __init__(
        self,
        *,
        rng: random.Random,
        now: datetime,
        plans: dict[str, PolicyPlan],
        team_names: dict[int, str],
    ) -> None:
        self.rng, self.now, self.plans, self.team_names = rng, now, plans, team_names
        self.clocks = Table(
            TicketClock,
            ["ticket_id", "target", "sequence", "policy_id", "policy_version", "calendar_id",
             "calendar_version", "priority", "target_minutes", "started_at", "due_at", "state",
             "stopped_at", "breached_at", "business_minutes", "paused_business_minutes",
             "created_at", "updated_at"],
        )  # fmt: skip
        # (ticket id, sla_due_at, sla_target, sla_state, reply_due_at, reply_promise)
        self.summaries: list[tuple[Any, ...]] = []
        self.count = 0

    def _breach_odds(self, target: str, tier: str, team_id: int | None, when: datetime) -> float:
        odds = BREACH_BASE[target] * TIER_FACTOR.get(tier, 1.0)
        odds *= TEAM_FACTOR.get(self.team_names.get(team_id or 0, ""), 1.0)
        ago = self.now - when
        if BAD_WEEK[1] <= ago < BAD_WEEK[0]:
            odds *= 2.6  # two agents off sick: the dip in the trend
        elif ago < timedelta(days=7):
            odds *= 0.8  # and the team got better since
        return min(odds, 0.9)

    def _finished(
        self,
        *,
        ticket: int,
        target: str,
        sequence: int,
        plan: PolicyPlan,
        priority: str,
        minutes: int,
        started: datetime,
        stopped: datetime,
        tier: str,
        team_id: int | None,
    ) -> None:
        rng = self.rng
        stopped = max(stopped, started + timedelta(minutes=1))
        elapsed = stopped - started
        breached = rng.random() < self._breach_odds(target, tier, team_id, stopped)
        if breached:
            used = int(minutes * (1.05 + rng.expovariate(1 / 0.6)))
            # Due proportionally earlier than the stop: the target ran out on the way.
            due = started + elapsed * (minutes / used)
            state, breached_at = ClockState.BREACHED, due
        else:
            used = max(1, int(minutes * (0.05 + 0.9 * rng.random() ** 0.8)))
            due = stopped + timedelta(minutes=(minutes - used) / plan.open_share)
            state, breached_at = ClockState.MET, None
        self.clocks.add(
            ticket, target, sequence, plan.policy_id, plan.policy_version, plan.calendar_id,
            plan.calendar_version, priority, minutes, started, due, state, stopped, breached_at,
            used, 0, started, stopped,
        )  # fmt: skip

    def _running(
        self,
        *,
        ticket: int,
        target: str,
        sequence: int,
        plan: PolicyPlan,
        priority: str,
        minutes: int,
        started: datetime,
        paused: bool = False,
    ) -> datetime:
        """A clock still going; returns its due instant. Some breached, some at risk."""
        rng, now = self.rng, self.now
        age = now - started
        roll = rng.random()
        if paused:
            due = now + timedelta(minutes=rng.uniform(60, 3 * minutes / plan.open_share))
            state = ClockState.PAUSED
        elif roll < 0.14 and age > timedelta(minutes=10):
            due = started + age * rng.uniform(0.3, 0.95)  # already past due
            state = ClockState.BREACHED
        elif roll < 0.30:
            due = now + timedelta(minutes=rng.uniform(2, 59))  # at risk: due within the hour
            state = ClockState.RUNNING
        else:
            due = now + timedelta(minutes=rng.uniform(60, max(90, minutes / plan.open_share)))
            state = ClockState.RUNNING
        total_real = max((due - started).total_seconds() / 60, 1)
        used = int(minutes * min(1.5, age.total_seconds() / 60 / total_real))
        breached_at = due if state == ClockState.BREACHED else None
        self.clocks.add(
            ticket, target, sequence, plan.policy_id, plan.policy_version, plan.calendar_id,
            plan.calendar_version, priority, minutes, started, due, state, None, breached_at,
            used, 0, started, now,
        )  # fmt: skip
        return due

    def make(self, row: tuple[Any, ...]) -> None:
        (ticket, created, first_reply, solved, status, priority, tier, team_id) = row
        plan = self.plans.get(tier) or self.plans["standard"]
        first_m, next_m, resolution_m = plan.targets[priority]
        rng = self.rng
        self.count += 1
        running: list[tuple[datetime, str, str]] = []  # (due, target, state)

        common = {"ticket": ticket, "plan": plan, "priority": priority}
        # First reply.
        if first_reply is not None:
            self._finished(
                **common, target=SlaTarget.FIRST_REPLY, sequence=1, minutes=first_m,
                started=created, stopped=first_reply, tier=tier, team_id=team_id,
            )  # fmt: skip
        elif status not in (Status.SOLVED, Status.CLOSED):
            due = self._running(
                **common, target=SlaTarget.FIRST_REPLY, sequence=1, minutes=first_m,
                started=created,
            )  # fmt: skip
            running.append((due, SlaTarget.FIRST_REPLY, "reply"))

        # Next reply: a customer follow-up after the first reply.
        if first_reply is not None:
            end = solved or self.now
            span = end - first_reply
            if status == Status.OPEN and span > timedelta(minutes=20):
                started = first_reply + span * rng.uniform(0.5, 0.95)
                due = self._running(
                    **common, target=SlaTarget.NEXT_REPLY, sequence=1, minutes=next_m,
                    started=started,
                )  # fmt: skip
                running.append((due, SlaTarget.NEXT_REPLY, "reply"))
            elif solved is not None and rng.random() < 0.55 and span > timedelta(minutes=20):
                started = first_reply + span * rng.uniform(0.1, 0.5)
                stopped = started + (end - started) * rng.uniform(0.2, 0.9)
                self._finished(
                    **common, target=SlaTarget.NEXT_REPLY, sequence=1, minutes=next_m,
                    started=started, stopped=stopped, tier=tier, team_id=team_id,
                )  # fmt: skip

        # Resolution.
        if solved is not None:
            self._finished(
                **common, target=SlaTarget.RESOLUTION, sequence=1, minutes=resolution_m,
                started=created, stopped=solved, tier=tier, team_id=team_id,
            )  # fmt: skip
        else:
            paused = status == Status.PENDING
            due = self._running(
                **common, target=SlaTarget.RESOLUTION, sequence=1, minutes=resolution_m,
                started=created, paused=paused,
            )  # fmt: skip
            if not paused:
                running.append((due, SlaTarget.RESOLUTION, "resolution"))

        self._summarize(ticket, running, plan, status)

    def _summarize(
        self, ticket: int, running: list[tuple[datetime, str, str]], plan: PolicyPlan, status: str
    ) -> None:
        if status in (Status.SOLVED, Status.CLOSED):
            return
        if not running:  # only a paused resolution clock
            self.summaries.append((ticket, None, "", SlaState.PAUSED, None, ""))
            return
        due, target, _ = min(running)
        state = SlaState.BREACHED if any(d < self.now for d, _, _ in running) else SlaState.RUNNING
        replies = [d for d, _, kind in running if kind == "reply"]
        reply_due = min(replies) if replies else None
        promise = f"{plan.tier_name} priority" if reply_due else ""
        self.summaries.append((ticket, due, target, state, reply_due, promise))

    def flush(self) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            self.clocks.flush(cursor)
            rows, self.summaries = self.summaries, []
            if rows:
                table = connection.ops.quote_name(Ticket._meta.db_table)
                cursor.executemany(
                    f"UPDATE {table} SET sla_due_at = %s, sla_target = %s, sla_state = %s, "  # noqa: S608 - model table
                    "reply_due_at = %s, reply_promise = %s WHERE id = %s",
                    [
                        (
                            _db_time(due),
                            target,
                            state,
                            _db_time(reply_due),
                            promise,
                            ticket,
                        )
                        for ticket, due, target, state, reply_due, promise in rows
                    ],
                )


def _db_time(value: datetime | None) -> Any:
    return None if value is None else connection.ops.adapt_datetimefield_value(value)


# The dashboard shows at most 366 days; older days are refreshed when someone needs them.
ROLLUP_DAYS = 366


def seed_sla_demo(*, rng: random.Random, log: Callable[[str], None]) -> int:
    """Calendars, policies and rules, then clocks for every ticket that has none yet (tickets
    are added in id order, so: those above the highest ticket id with a clock). Returns the
    number of tickets given clocks."""
    setup = ensure_calendars_and_policies()
    tier_names = dict(Tier.objects.values_list("slug", "name"))
    plans: dict[str, PolicyPlan] = {}
    by_tier = {slug: policy for policy in POLICIES for slug in policy["tiers"]}
    for slug in [*tier_names, "standard"]:
        data = by_tier.get(slug, POLICIES[-1])
        policy = setup["policies"][data["name"]]
        calendar = setup["calendars"][data["calendar"]]
        plans[slug] = PolicyPlan(
            policy_id=policy.pk,
            policy_version=policy.version,
            calendar_id=calendar.pk,
            calendar_version=calendar.version,
            open_share=OPEN_SHARE[data["calendar"]],
            targets=data["targets"],
            tier_name=tier_names.get(slug, "Standard"),
        )
    team_names = dict(Team.objects.values_list("id", "name"))
    maker = ClockMaker(rng=rng, now=timezone.now(), plans=plans, team_names=team_names)

    last = TicketClock.objects.aggregate(last=Max("ticket_id"))["last"] or 0
    total = Ticket.objects.filter(pk__gt=last).count()
    log(f"SLA: {len(setup['calendars'])} calendars, {len(setup['policies'])} policies; "
        f"clocks for {total:,} tickets...")  # fmt: skip
    started = report = time.monotonic()
    done = 0
    while True:
        rows = list(
            Ticket.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list(
                "pk", "created_at", "first_agent_reply_at", "solved_at", "status", "priority",
                "customer__tier__slug", "team_id",
            )[:BATCH]
        )  # fmt: skip
        if not rows:
            break
        for row in rows:
            maker.make(row)
        maker.flush()
        last = rows[-1][0]
        done += len(rows)
        if time.monotonic() - report >= 5:
            report = time.monotonic()
            log(f"  SLA clocks for {done:,}/{total:,} tickets")
    if connection.vendor == "postgresql" and done:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(TicketClock._meta.db_table)}")
    log(f"SLA: clocks for {done:,} tickets in {time.monotonic() - started:.1f}s.")
    # The dashboard's daily rollup for the seeded past (at most the longest period it shows).
    first = Ticket.objects.aggregate(first=Min("created_at"))["first"]
    if first is not None:
        zone = report_timezone()
        today = timezone.now().astimezone(zone).date()
        oldest = max(first.astimezone(zone).date(), today - timedelta(days=ROLLUP_DAYS - 1))
        started = time.monotonic()
        days = refresh_sla_rollup_between(first=oldest, last=today)
        log(f"SLA: dashboard rollup for {days} days in {time.monotonic() - started:.1f}s.")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for model in (SlaOutcomeRollup, SlaMinutesRollup, SlaTicketRollup):
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    return done
