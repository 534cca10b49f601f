"""The manager SLA dashboard's figures (docs/reports.md defines each one).

Every figure is an SQL aggregate: the queries group clocks and tickets in the database and
return at most a few hundred grouped rows (per day, target, team and agent), which are then
summed and labelled here. Nothing here loops over tickets, and the number of queries does not
depend on how many there are (tests/slas/test_reports.py asserts it).

A clock *counts* in a period when it has an outcome in it: a met clock when it stopped, a
breached clock when it breached (its due instant). Compliance is met / (met + breached).
"""

from __future__ import annotations

import math
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any

from django.db import connection, models
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Mod, TruncDate, TruncHour
from django.utils import timezone

from accounts.models import AgentProfile, Availability, Team, User
from core.errors import RuleBroken
from customers.models import Tier
from slas import clocks
from slas.models import (
    BusinessCalendar,
    CalendarVersion,
    ClockState,
    MinutesDimension,
    SlaMinutesRollup,
    SlaOutcomeRollup,
    SlaPolicy,
    SlaRollupDay,
    SlaTicketRollup,
    TeamCalendar,
    TicketClock,
)
from slas.services.rollup import day_bounds, report_timezone
from tickets.models import Priority, SlaTarget, Status, Ticket

OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD)
TARGETS: tuple[str, ...] = (SlaTarget.FIRST_REPLY, SlaTarget.NEXT_REPLY, SlaTarget.RESOLUTION)
TIMED_TARGETS: tuple[str, ...] = (
    SlaTarget.FIRST_REPLY,
    SlaTarget.RESOLUTION,
)  # median / p90 shown for these
AT_RISK_WITHIN = timedelta(hours=1)
LIST_LIMIT = 25
MAX_FORECAST_HOURS = 72


# --- percentiles ------------------------------------------------------------------------------


class _SqlitePercentile:
    """percentile_cont for SQLite, as a user-defined aggregate (same interpolation)."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value: float | None, fraction: float) -> None:
        if value is not None:
            self.values.append(value)
        self.fraction = fraction

    def finalize(self) -> float | None:
        return interpolate_percentile(sorted(self.values), self.fraction)


def interpolate_percentile(ordered: list[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont on an ordered list (linear between the closest ranks)."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class Percentile(models.Aggregate):
    """`percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)`; on SQLite a registered
    aggregate of the same name and meaning."""

    function = "percentile_cont"
    name = "Percentile"
    output_field = models.FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be within [0, 1]")
        super().__init__(expression, fraction=float(fraction), **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        connection.ensure_connection()
        # Registering again is harmless and keeps a new connection (tests, threads) working.
        connection.connection.create_aggregate("hd_percentile", 2, _SqlitePercentile)
        return self.as_sql(
            compiler,
            connection,
            function="hd_percentile",
            template="%(function)s(%(expressions)s, %(fraction)s)",
            **extra_context,
        )


# --- filters ----------------------------------------------------------------------------------


def _pk(value: models.Model | int | None) -> int | None:
    if value is None:
        return None
    return value.pk if isinstance(value, models.Model) else int(value)


@dataclass(frozen=True)
class Scope:
    """Who the figures are about: the ticket's current team, assignee and customer tier."""

    team: int | None = None
    agent: int | None = None
    tier: int | None = None

    def tickets(self, prefix: str = "") -> Q:
        q = Q()
        if self.team is not None:
            q &= Q(**{f"{prefix}team_id": self.team})
        if self.agent is not None:
            q &= Q(**{f"{prefix}assignee_id": self.agent})
        if self.tier is not None:
            # The tier copied onto the ticket (indexed), not a join through customers.
            q &= Q(**{f"{prefix}customer_tier_id": self.tier})
        return q

    def rollup(self) -> Q:
        """The same scope on the rollup's columns (team, assignee, tier at refresh time)."""
        q = Q()
        for column, value in (
            ("team_id", self.team),
            ("assignee_id", self.agent),
            ("tier_id", self.tier),
        ):
            if value is not None:
                q &= Q(**{column: value})
        return q

    def minutes_dimension(self) -> tuple[str, int | None] | None:
        """The histogram that holds this scope: everyone, or one team, agent or tier; None
        when more than one filter is set (no histogram crosses them)."""
        given = [
            (dimension, value)
            for dimension, value in (
                (MinutesDimension.TEAM, self.team),
                (MinutesDimension.AGENT, self.agent),
                (MinutesDimension.TIER, self.tier),
            )
            if value is not None
        ]
        if not given:
            return MinutesDimension.ALL.value, None
        if len(given) == 1:
            return given[0][0].value, given[0][1]
        return None


def outcome_in(start: datetime, end: datetime) -> Q:
    """Clocks with an outcome in [start, end): met when they stopped, breached when due."""
    return Q(state=ClockState.MET, stopped_at__gte=start, stopped_at__lt=end) | Q(
        state=ClockState.BREACHED, breached_at__gte=start, breached_at__lt=end
    )


def _instant_in(field: str, start: datetime, end: datetime) -> Q:
    return Q(**{f"{field}__gte": start, f"{field}__lt": end})


def _rollup_split(
    start: datetime, end: datetime, zone: zoneinfo.ZoneInfo
) -> tuple[list[date], list[tuple[datetime, datetime]]]:
    """The local days inside [start, end) whose rollup rows are read, and the instants left
    to count live, as ranges: a refreshed day's rows count its outcomes before the refresh
    instant, so only what came after (today: the last few minutes) is counted live; a day
    never refreshed, or only partly inside the period, is counted live whole."""
    first = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    refreshed = dict(
        SlaRollupDay.objects.filter(
            day__gte=first, day__lte=last, refreshed_at__isnull=False
        ).values_list("day", "refreshed_at")
    )
    rolled: list[date] = []
    live: list[tuple[datetime, datetime]] = []
    cursor = start  # counted up to here

    def count_live(until: datetime) -> None:
        if cursor < until:
            if live and live[-1][1] == cursor:
                live[-1] = (live[-1][0], until)
            else:
                live.append((cursor, until))

    day = first
    while day <= last:  # at most 367 days
        day_start, day_end = day_bounds(day, zone)
        at = refreshed.get(day)
        if at is not None and at > day_start and day_start >= start and day_end <= end:
            count_live(day_start)
            rolled.append(day)
            cursor = min(at, day_end)
            count_live(day_end)
            cursor = day_end
        day += timedelta(days=1)
    count_live(end)
    return rolled, live


def _live_q(
    ranges: list[tuple[datetime, datetime]], within: Callable[[datetime, datetime], Q]
) -> Q:
    """`within` over each live range, ORed; an empty range when there is none, so the query
    still runs (a fixed number of queries) and finds nothing through its index."""
    q = Q()
    for range_start, range_end in ranges or [(datetime.min.replace(tzinfo=UTC),) * 2]:
        q |= within(range_start, range_end)
    return q


def _bucket(field: str) -> models.Case:
    """slas.services.rollup.BUCKET_SQL as an expression, for the live days' histograms."""
    value = F(field)
    return models.Case(
        models.When(**{f"{field}__lt": 120}, then=value),
        models.When(**{f"{field}__lt": 600}, then=value - Mod(value, 5)),
        models.When(**{f"{field}__lt": 6000}, then=value - Mod(value, 30)),
        default=value - Mod(value, 300),
        output_field=models.IntegerField(),
    )


PERCENTILES = (("median", 0.5), ("p90", 0.9))


def _timings(
    scope: Scope,
    rolled: list[date],
    in_live: QuerySet[TicketClock],
    in_period: QuerySet[TicketClock],
) -> dict[str, dict[str, Any]]:
    """Count, median and p90 of business minutes per timed target, in one query. From the
    histograms: the buckets (rollup days plus live days) are summed per target and numbered
    by cumulative count with window functions; SQL returns only the buckets holding the ranks
    percentile_cont interpolates between, and a bucket's mean stands for its values."""
    dimension = scope.minutes_dimension()
    if dimension is None:
        return {
            row["target"]: dict(row)
            for row in in_period.filter(target__in=TIMED_TARGETS)
            .values("target")
            .annotate(
                median=Percentile("business_minutes", 0.5),
                p90=Percentile("business_minutes", 0.9),
                count=Count("id"),
            )
            .order_by()
        }
    name, dimension_id = dimension
    from_rollup = (
        SlaMinutesRollup.objects.filter(
            dimension=name, dimension_id=dimension_id, day__in=rolled or [date.min]
        )
        .filter(target__in=TIMED_TARGETS)
        .values_list("target", "bucket", "count", "minutes")
        .order_by()
    )
    from_live = (
        in_live.filter(target__in=TIMED_TARGETS)
        .annotate(bucket=_bucket("business_minutes"))
        .values("target", "bucket")
        .annotate(n=Count("id"), s=Sum("business_minutes"))
        .values_list("target", "bucket", "n", "s")
        .order_by()
    )
    rollup_sql, rollup_params = from_rollup.query.sql_with_params()
    live_sql, live_params = from_live.query.sql_with_params()
    near = " OR ".join(
        f"(upto - n <= {fraction} * (total - 1) + 1 AND upto > {fraction} * (total - 1) - 1)"
        for _, fraction in PERCENTILES
    )
    # Django's own SQL for the two parts; the fractions are constants: no user text.
    sql = (
        # A union's columns are named by its first part: the rollup's target, bucket, count,
        # minutes.
        "WITH h AS (SELECT target, bucket, SUM(count) AS n, SUM(minutes) AS s FROM ("  # noqa: S608
        f"{rollup_sql} UNION ALL {live_sql}) u GROUP BY target, bucket), "
        "w AS (SELECT target, bucket, n, s, "
        "SUM(n) OVER (PARTITION BY target ORDER BY bucket) AS upto, "
        "SUM(n) OVER (PARTITION BY target) AS total FROM h) "
        f"SELECT target, n, s, upto - n, total FROM w WHERE {near} ORDER BY target, bucket"
    )
    found: dict[str, list[tuple[int, int, float, int]]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*rollup_params, *live_params])
        for target, n, s, before, total in cursor.fetchall():
            found[target].append((int(before), int(before) + int(n), float(s) / int(n), int(total)))
    timing: dict[str, dict[str, Any]] = {}
    for target, buckets in found.items():
        total = buckets[0][3]

        def value_at(rank: int, buckets: list[tuple[int, int, float, int]] = buckets) -> float:
            return next(mean for low, high, mean, _ in buckets if low <= rank < high)

        timing[target] = {"count": total}
        for key, fraction in PERCENTILES:
            position = fraction * (total - 1)
            low, high = math.floor(position), math.ceil(position)
            timing[target][key] = value_at(low) + (value_at(high) - value_at(low)) * (
                position - low
            )
    return timing


def _clocks(scope: Scope) -> QuerySet[TicketClock]:
    return TicketClock.objects.filter(scope.tickets("ticket__"))


def _running() -> Q:
    # Still counting: running (not paused), not stopped. A running clock past its due instant
    # is "breached" only once the sweep marks it, so both states count as not yet stopped.
    return Q(state__in=[ClockState.RUNNING, ClockState.BREACHED], stopped_at__isnull=True)


def _rate(met: int, breached: int) -> float | None:
    total = met + breached
    return round(100 * met / total, 1) if total else None


# --- the report -------------------------------------------------------------------------------


def sla_report(
    *,
    start: datetime,
    end: datetime,
    team: Team | int | None = None,
    agent: User | int | None = None,
    tier: Tier | int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Every figure of the dashboard for [start, end) and the scope (docs/reports.md)."""
    now = now or timezone.now()
    zone = report_timezone()
    scope = Scope(team=_pk(team), agent=_pk(agent), tier=_pk(tier))
    # 1. Which days of the period the rollup holds, refreshed after they were over; the rest
    # (today, a day not refreshed yet) is counted live from the clocks' indexed columns.
    rolled, live_ranges = _rollup_split(start, end, zone)
    live = _live_q(live_ranges, outcome_in)
    in_live = _clocks(scope).filter(live)

    # 2-3. Outcomes per local day, target, team and agent, from the rollup and live: together
    # they give the totals, the trend, and the per-team and per-agent compliance.
    outcome_day = models.Case(
        models.When(state=ClockState.MET, then=F("stopped_at")),
        default=F("breached_at"),
        output_field=models.DateTimeField(),
    )
    live_grouped = (
        in_live.annotate(day=TruncDate(outcome_day, tzinfo=zone))
        .values("day", "target", "ticket__team_id", "ticket__assignee_id")
        .annotate(
            met=Count("id", filter=Q(state=ClockState.MET)),
            breached=Count("id", filter=Q(state=ClockState.BREACHED)),
        )
        .order_by()
    )
    rolled_grouped = (
        SlaOutcomeRollup.objects.filter(scope.rollup(), day__in=rolled or [date.min])
        .values("day", "target", "team_id", "assignee_id")
        .annotate(met=Sum("met"), breached=Sum("breached"))
        .order_by()
    )
    totals: dict[str, list[int]] = {t: [0, 0] for t in TARGETS}
    per_day: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    per_team: dict[int | None, dict[str, list[int]]] = defaultdict(
        lambda: {t: [0, 0] for t in TARGETS}
    )
    per_agent: dict[int | None, dict[str, list[int]]] = defaultdict(
        lambda: {t: [0, 0] for t in TARGETS}
    )
    rows = [
        *(
            (r["day"], r["target"], r["team_id"], r["assignee_id"], r["met"], r["breached"])
            for r in rolled_grouped
        ),
        *(
            (
                r["day"],
                r["target"],
                r["ticket__team_id"],
                r["ticket__assignee_id"],
                r["met"],
                r["breached"],
            )
            for r in live_grouped
        ),
    ]
    for day, target, team_id, assignee_id, met, breached in rows:
        for bucket in (
            totals[target],
            per_day[day],
            per_team[team_id][target],
            per_agent[assignee_id][target],
        ):
            bucket[0] += met
            bucket[1] += breached

    # 4. Median and 90th percentile of business minutes, per timed target: from the rollup's
    # histograms and the live days' (one filter at most), else exactly from the clocks.
    timing = _timings(scope, rolled, in_live, _clocks(scope).filter(outcome_in(start, end)))

    # 5-7. Tickets created and solved per local day (rollup, then live).
    tickets = Ticket.objects.filter(scope.tickets())
    created: dict[date, int] = defaultdict(int)
    solved: dict[date, int] = defaultdict(int)
    for row in (
        SlaTicketRollup.objects.filter(scope.rollup(), day__in=rolled or [date.min])
        .values("day")
        .annotate(created=Sum("created"), solved=Sum("solved"))
        .order_by()
    ):
        created[row["day"]] += row["created"]
        solved[row["day"]] += row["solved"]
    for field, counts in (("created_at", created), ("solved_at", solved)):
        for day, n in (
            tickets.filter(_live_q(live_ranges, partial(_instant_in, field)))
            .annotate(day=TruncDate(field, tzinfo=zone))
            .values("day")
            .annotate(n=Count("id"))
            .order_by()
            .values_list("day", "n")
        ):
            counts[day] += n

    # 8. Backlog now: open tickets by team, assignee, status and priority (a few dozen rows).
    backlog_rows: list[dict[str, Any]] = [
        dict(row)
        for row in tickets.filter(status__in=OPEN_STATUSES)
        .values("team_id", "assignee_id", "status", "priority")
        # Counting a grouped column: ticket_open_backlog (0004) alone answers (index-only).
        .annotate(n=Count("status"))
        .order_by()
    ]

    # 9. Breaches in the period, newest first; 10. at risk now (due within the hour).
    breaches = list(
        _clocks(scope)
        .filter(state=ClockState.BREACHED, breached_at__gte=start, breached_at__lt=end)
        .order_by("-breached_at", "-id")
        .values(*_LISTED)[:LIST_LIMIT]
    )
    at_risk = list(
        _clocks(scope)
        .filter(
            _running(), state=ClockState.RUNNING, due_at__gte=now, due_at__lt=now + AT_RISK_WITHIN
        )
        .order_by("due_at", "id")
        .values(*_LISTED)[:LIST_LIMIT]
    )
    # 11. How many are at risk and how many are running past due, right now.
    now_counts = (
        _clocks(scope)
        .filter(_running(), due_at__lt=now + AT_RISK_WITHIN)
        .aggregate(
            # Counting due_at, a column of the index: clock_running_due_state alone answers.
            at_risk=Count("due_at", filter=Q(state=ClockState.RUNNING, due_at__gte=now)),
            overdue=Count("due_at", filter=Q(due_at__lt=now)),
        )
    )

    # 12-13. Names for what the grouped rows name.
    team_ids = {r["team_id"] for r in backlog_rows} | set(per_team)
    agent_ids = {r["assignee_id"] for r in backlog_rows} | set(per_agent)
    team_names = dict(
        Team.objects.filter(pk__in=[t for t in team_ids if t]).values_list("id", "name")
    )
    agent_names = {
        pk: (f"{first} {last}".strip() or username)
        for pk, first, last, username in User.objects.filter(
            pk__in=[a for a in agent_ids if a]
        ).values_list("id", "first_name", "last_name", "username")
    }

    backlog = _backlog(backlog_rows, team_names=team_names, agent_names=agent_names)
    return {
        "period": {"start": start, "end": end, "timezone": zone.key},
        "filters": {"team": scope.team, "agent": scope.agent, "tier": scope.tier},
        "generated_at": now,
        "compliance": [
            {
                "target": t,
                "label": SlaTarget(t).label,
                "met": totals[t][0],
                "breached": totals[t][1],
                "percent": _rate(*totals[t]),
            }
            for t in TARGETS
        ],
        "timings": [
            {
                "target": t,
                "label": SlaTarget(t).label,
                "count": timing.get(t, {}).get("count", 0),
                "median_minutes": _minutes(timing.get(t, {}).get("median")),
                "p90_minutes": _minutes(timing.get(t, {}).get("p90")),
            }
            for t in TIMED_TARGETS
        ],
        "breach_count": sum(b for _, b in totals.values()),
        "at_risk_count": now_counts["at_risk"],
        "overdue_count": now_counts["overdue"],
        "breaches": [_listed(row, "breached_at") for row in breaches],
        "at_risk": [_listed(row, "due_at") for row in at_risk],
        "backlog": backlog,
        "teams": _per_group(per_team, team_names, backlog["by_team"], "No team"),
        "agents": _per_group(per_agent, agent_names, backlog["by_agent"], "Unassigned"),
        "trend": _trend(start, end, zone, per_day, created, solved),
    }


_LISTED = (
    "id",
    "ticket_id",
    "ticket__subject",
    "ticket__priority",
    "target",
    "due_at",
    "breached_at",
    "state",
)


def _listed(row: dict[str, Any], when: str) -> dict[str, Any]:
    return {
        "ticket": row["ticket_id"],
        "reference": Ticket(pk=row["ticket_id"]).reference,
        "subject": row["ticket__subject"],
        "priority": row["ticket__priority"],
        "target": row["target"],
        "target_label": SlaTarget(row["target"]).label,
        "at": row[when],
    }


def _minutes(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


def _backlog(
    rows: Iterable[dict[str, Any]], *, team_names: dict[int, str], agent_names: dict[int, str]
) -> dict[str, Any]:
    by_status = dict.fromkeys(OPEN_STATUSES, 0)
    by_priority = dict.fromkeys(Priority.values, 0)
    by_team: dict[int | None, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OPEN_STATUSES, 0))
    by_agent: dict[int | None, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(OPEN_STATUSES, 0)
    )
    for row in rows:
        n = row["n"]
        by_status[row["status"]] += n
        by_priority[row["priority"]] += n
        by_team[row["team_id"]][row["status"]] += n
        by_agent[row["assignee_id"]][row["status"]] += n
    return {
        "total": sum(by_status.values()),
        "by_status": [
            {"status": s, "label": Status(s).label, "count": by_status[s]} for s in OPEN_STATUSES
        ],
        "by_priority": [
            {"priority": p, "label": Priority(p).label, "count": by_priority[p]}
            for p in Priority.values
        ],
        "by_team": by_team,
        "by_agent": by_agent,
    }


def _per_group(
    outcomes: dict[int | None, dict[str, list[int]]],
    names: dict[int, str],
    backlog: dict[int | None, dict[str, int]],
    nobody: str,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for key in set(outcomes) | set(backlog):
        per_target = outcomes.get(key, {t: [0, 0] for t in TARGETS})
        met = sum(m for m, _ in per_target.values())
        breached = sum(b for _, b in per_target.values())
        open_by_status = backlog.get(key, dict.fromkeys(OPEN_STATUSES, 0))
        rows.append(
            {
                "id": key,
                "name": names.get(key, nobody) if key else nobody,
                "met": met,
                "breached": breached,
                "percent": _rate(met, breached),
                "targets": {t: {"met": m, "breached": b} for t, (m, b) in per_target.items()},
                "backlog": sum(open_by_status.values()),
                "backlog_by_status": dict(open_by_status),
            }
        )
    # Most breaches first: where a manager looks first.
    rows.sort(key=lambda r: (-r["breached"], -r["backlog"], r["name"]))
    return rows


def _trend(
    start: datetime,
    end: datetime,
    zone: zoneinfo.ZoneInfo,
    per_day: dict[date, list[int]],
    created: dict[date, int],
    solved: dict[date, int],
) -> list[dict[str, Any]]:
    first = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    days = []
    day = first
    while day <= last:  # at most 366 days
        met, breached = per_day.get(day, [0, 0])
        days.append(
            {
                "day": day,
                "met": met,
                "breached": breached,
                "percent": _rate(met, breached),
                "created": created.get(day, 0),
                "solved": solved.get(day, 0),
            }
        )
        day += timedelta(days=1)
    return days


# --- the breach forecast ----------------------------------------------------------------------


def breach_forecast(
    *, now: datetime | None = None, hours: int = 12, team: Team | int | None = None
) -> list[dict[str, Any]]:
    """For each of the next `hours` hours (the first one starts now): how many running targets
    fall due in it (they breach then unless someone acts), per team, and how many agents are
    on shift: for the hour now, the agents marked online; for later hours, the agents of the
    teams whose calendar is open at the hour's start."""
    now = now or timezone.now()
    hours = max(1, min(hours, MAX_FORECAST_HOURS))
    team_id = _pk(team)
    hour0 = now.replace(minute=0, second=0, microsecond=0)
    horizon = hour0 + timedelta(hours=hours)
    scope = Scope(team=team_id)

    # 1. Running clocks due in the window, per hour and team (the indexed due column).
    due_rows = (
        _clocks(scope)
        .filter(_running(), state=ClockState.RUNNING, due_at__gte=now, due_at__lt=horizon)
        .annotate(hour=TruncHour("due_at", tzinfo=UTC))
        .values("hour", "ticket__team_id")
        # due_at, state and ticket_id are in clock_running_due_state (0004): no clock rows read.
        .annotate(n=Count("due_at"))
        .order_by()
    )
    due: dict[datetime, dict[int | None, int]] = defaultdict(dict)
    for row in due_rows:
        due[row["hour"]][row["ticket__team_id"]] = row["n"]

    # 2. Active agents with their availability and teams (one row per agent and team).
    members = AgentProfile.objects.filter(user__is_active=True)
    if team_id is not None:
        members = members.filter(teams=team_id)
    agent_rows = list(members.values_list("user_id", "availability", "teams"))
    # 3-4. Each team's calendar, or the default policy's.
    team_calendars = {
        tc.team_id: tc.calendar for tc in TeamCalendar.objects.select_related("calendar")
    }
    default = (
        SlaPolicy.objects.filter(is_default=True, is_active=True).select_related("calendar").first()
    )
    # 5. Team names.
    team_names = dict(Team.objects.values_list("id", "name"))

    # 6. The latest saved version of each of those calendars (public holidays expanded).
    models_by_id = {c.pk: c for c in team_calendars.values()}
    if default is not None:
        models_by_id[default.calendar.pk] = default.calendar
    versions: dict[int, dict[str, Any]] = {}
    for calendar_id, spec in (
        CalendarVersion.objects.filter(calendar_id__in=list(models_by_id))
        .order_by("calendar_id", "version")
        .values_list("calendar_id", "spec")
    ):
        versions[calendar_id] = spec  # the last one wins
    specs: dict[int, clocks.BusinessCalendar] = {}

    def calendar_of(team_pk: int | None) -> clocks.BusinessCalendar | None:
        model = team_calendars.get(team_pk) if team_pk else None
        model = model or (default.calendar if default else None)
        if model is None:
            return None
        if model.pk not in specs:
            specs[model.pk] = calendar_spec(model, versions.get(model.pk))
        return specs[model.pk]

    online = {user for user, availability, _ in agent_rows if availability == Availability.ONLINE}
    teams_of: dict[int, set[int | None]] = defaultdict(set)
    for user, _, member_of in agent_rows:
        teams_of[user].add(member_of)

    forecast = []
    for i in range(hours):
        starts = hour0 + timedelta(hours=i)
        by_team = due.get(starts, {})
        if i == 0:
            on_shift = len(online)
        else:
            # An agent is on shift when one of their teams' calendars is open then (an agent
            # without a team follows the default calendar).
            on_shift = sum(
                1
                for user, their_teams in teams_of.items()
                if any(_open(calendar_of(t), starts) for t in their_teams)
            )
        forecast.append(
            {
                "hour": starts,
                "due": sum(by_team.values()),
                "by_team": [
                    {
                        "team": t,
                        "name": team_names.get(t, "No team") if t else "No team",
                        "due": n,
                    }
                    for t, n in sorted(by_team.items(), key=lambda kv: -kv[1])
                ],
                "agents_on_shift": on_shift,
                "basis": "online now" if i == 0 else "team calendars",
            }
        )
    return forecast


def _open(calendar: clocks.BusinessCalendar | None, moment: datetime) -> bool:
    return True if calendar is None else clocks.is_open(moment, calendar)


def calendar_spec(
    model: BusinessCalendar, saved: dict[str, Any] | None = None
) -> clocks.BusinessCalendar:
    """The arithmetic's calendar for a stored one: its latest saved version's spec (`saved`,
    public holidays expanded), else its own fields."""
    spec = saved or {
        "timezone": model.timezone,
        "hours": model.hours,
        "holidays": model.holidays,
        "always_open": model.always_open,
    }
    return clocks.BusinessCalendar.from_spec(spec)


# --- what a request asks for ------------------------------------------------------------------

DEFAULT_DAYS = 30
MAX_DAYS = 366


@dataclass(frozen=True)
class ReportRequest:
    """A parsed, checked request for the report: the period as instants, the dates as given
    (`last` included), and the scope's rows (looked up so a wrong id is a field error)."""

    first: date
    last: date
    start: datetime
    end: datetime
    team: Team | None
    agent: User | None
    tier: Tier | None
    hours: int

    def query(self) -> dict[str, str]:
        """The filters as a query string's parameters (links, CSV)."""
        params = {"start": self.first.isoformat(), "end": self.last.isoformat()}
        for name in ("team", "agent", "tier"):
            value = getattr(self, name)
            if value is not None:
                params[name] = str(value.pk)
        return params


def _date(params: Any, name: str) -> date | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise RuleBroken(name, "Enter a date like 2026-11-30.") from None


def _row(params: Any, name: str, rows: QuerySet[Any], what: str) -> Any:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise RuleBroken(name, f"Choose a {what} from the list.")
    found = rows.filter(pk=int(raw)).first()
    if found is None:
        raise RuleBroken(name, f"There is no such {what}.")
    return found


def parse_report_request(params: Any, *, today: date | None = None) -> ReportRequest:
    """Read `start`, `end` (dates, both included; default the last 30 days), `team`, `agent`,
    `tier` (ids) and `hours` (the forecast's, 1-72) from a query string; RuleBroken names the
    field that is wrong."""
    zone = report_timezone()
    today = today or timezone.now().astimezone(zone).date()
    last = _date(params, "end") or today
    first = _date(params, "start") or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise RuleBroken("end", "The end date must be on or after the start date.")
    if (last - first).days + 1 > MAX_DAYS:
        raise RuleBroken("start", f"Choose a period of at most {MAX_DAYS} days.")
    raw_hours = (params.get("hours") or "").strip() or "12"
    if not raw_hours.isascii() or not raw_hours.isdigit() or not 1 <= int(raw_hours) <= 72:
        raise RuleBroken("hours", "Choose between 1 and 72 hours.")
    team = _row(params, "team", Team.objects.all(), "team")
    agent = _row(params, "agent", User.objects.filter(agent_profile__isnull=False), "agent")
    tier = _row(params, "tier", Tier.objects.all(), "tier")
    return ReportRequest(
        first=first,
        last=last,
        start=datetime.combine(first, time.min, tzinfo=zone),
        end=datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone),
        team=team,
        agent=agent,
        tier=tier,
        hours=int(raw_hours),
    )


# --- CSV: what the page shows, section by section ---------------------------------------------


def report_csv_rows(report: dict[str, Any], forecast: list[dict[str, Any]]) -> Iterator[list[Any]]:
    """Rows for one CSV file: a section name row, a header row, the figures, a blank row."""
    period = report["period"]
    yield ["SLA report", period["start"].date().isoformat(), "to (excluded)",
           period["end"].date().isoformat(), period["timezone"]]  # fmt: skip
    yield []
    yield ["Compliance", "target", "met", "breached", "percent"]
    for row in report["compliance"]:
        yield ["", row["label"], row["met"], row["breached"], _blank(row["percent"])]
    yield []
    yield ["Business minutes", "target", "count", "median", "p90"]
    for row in report["timings"]:
        yield ["", row["label"], row["count"], _blank(row["median_minutes"]),
               _blank(row["p90_minutes"])]  # fmt: skip
    yield []
    yield ["Now", "breaches in period", "at risk (due within 1 h)", "running past due", "backlog"]
    yield ["", report["breach_count"], report["at_risk_count"], report["overdue_count"],
           report["backlog"]["total"]]  # fmt: skip
    for section, key in (("Per team", "teams"), ("Per agent", "agents")):
        yield []
        yield [section, "name", "met", "breached", "percent", "backlog"]
        for row in report[key]:
            yield ["", row["name"], row["met"], row["breached"], _blank(row["percent"]),
                   row["backlog"]]  # fmt: skip
    yield []
    yield ["Backlog by status", "status", "tickets"]
    for row in report["backlog"]["by_status"]:
        yield ["", row["label"], row["count"]]
    yield []
    yield ["Backlog by priority", "priority", "tickets"]
    for row in report["backlog"]["by_priority"]:
        yield ["", row["label"], row["count"]]
    yield []
    yield ["Daily trend", "day", "met", "breached", "percent", "created", "solved"]
    for row in report["trend"]:
        yield ["", row["day"].isoformat(), row["met"], row["breached"], _blank(row["percent"]),
               row["created"], row["solved"]]  # fmt: skip
    yield []
    yield ["Breach forecast", "hour (UTC)", "due", "agents on shift"]
    for row in forecast:
        yield ["", row["hour"].isoformat(), row["due"], row["agents_on_shift"]]
    for section, key in (("Breaches", "breaches"), ("At risk", "at_risk")):
        yield []
        yield [section, "ticket", "subject", "target", "priority", "at"]
        for row in report[key]:
            yield ["", row["reference"], _safe_cell(row["subject"]), row["target_label"],
                   row["priority"], row["at"].isoformat()]  # fmt: skip


def _blank(value: Any) -> Any:
    return "" if value is None else value


def _safe_cell(text: str) -> str:
    # A spreadsheet runs a cell starting with = + - @ as a formula: customers write subjects.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
