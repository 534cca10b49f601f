"""The dashboard's daily rollup: per report-day, the targets met and breached, a histogram of
their business minutes, and the tickets created and solved (docs/reports.md, "Pre-aggregation").

`refresh_sla_rollup(days=...)` recomputes whole days: for each day, in one transaction that
holds the day's marker row (select_for_update, so two workers refreshing the same day queue
instead of doubling it), DELETE its rows and INSERT ... SELECT them again from the clocks and
tickets, grouped in SQL. Running it twice gives the same rows. The worker runs it every few
minutes for today and yesterday (slas.tasks); seed_demo runs it for the seeded past.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from slas.models import (
    MinutesDimension,
    SlaMinutesRollup,
    SlaOutcomeRollup,
    SlaRollupDay,
    SlaTicketRollup,
    TicketClock,
)
from tickets.models import SlaTarget, Ticket

# Histogram buckets (the lowest minute of each): 1 minute wide below 2 hours (exact), then
# 5 minutes below 10 hours, 30 minutes below 100 hours, 300 minutes above: at most ~5% of the
# value wide (%% is the modulo: the SQL runs with parameters). A bucket also keeps the sum of
# its values; its mean stands for every value in it.
BUCKET_SQL = (
    "CASE WHEN {m} < 120 THEN {m} WHEN {m} < 600 THEN {m} - ({m} %% 5) "
    "WHEN {m} < 6000 THEN {m} - ({m} %% 30) ELSE {m} - ({m} %% 300) END"
)
TIMED_TARGETS: tuple[str, ...] = (SlaTarget.FIRST_REPLY, SlaTarget.RESOLUTION)


def report_timezone() -> zoneinfo.ZoneInfo:
    """The zone whose local days the dashboard counts (SLA_REPORT_TIME_ZONE, else TIME_ZONE)."""
    return zoneinfo.ZoneInfo(getattr(settings, "SLA_REPORT_TIME_ZONE", settings.TIME_ZONE))


def day_bounds(day: date, zone: zoneinfo.ZoneInfo | None = None) -> tuple[datetime, datetime]:
    """[00:00, next day 00:00) of a local day, as aware instants (DST days are 23 or 25 h)."""
    zone = zone or report_timezone()
    return (
        datetime.combine(day, time.min, tzinfo=zone),
        datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone),
    )


def recent_days(*, count: int = 2, now: datetime | None = None) -> list[date]:
    """Today and the days before it (local), oldest first: what the beat refreshes."""
    today = (now or timezone.now()).astimezone(report_timezone()).date()
    return [today - timedelta(days=n) for n in range(count - 1, -1, -1)]


def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    return {
        "clock": quote(TicketClock._meta.db_table),
        "ticket": quote(Ticket._meta.db_table),
        "outcomes": quote(SlaOutcomeRollup._meta.db_table),
        "minutes": quote(SlaMinutesRollup._meta.db_table),
        "tickets": quote(SlaTicketRollup._meta.db_table),
    }


# The clocks with an outcome in [start, end): met when they stopped, breached when due.
_OUTCOME_IN = (
    "((c.state = 'met' AND c.stopped_at >= %s AND c.stopped_at < %s) OR "
    "(c.state = 'breached' AND c.breached_at >= %s AND c.breached_at < %s))"
)
_DIMENSION_COLUMN = {
    MinutesDimension.ALL: "NULL",
    MinutesDimension.TEAM: "t.team_id",
    MinutesDimension.AGENT: "t.assignee_id",
    MinutesDimension.TIER: "t.customer_tier_id",
}


def _refresh_day(day: date, zone: zoneinfo.ZoneInfo) -> None:
    start, day_end = day_bounds(day, zone)
    adapt = connection.ops.adapt_datetimefield_value
    sql_day = connection.ops.adapt_datefield_value(day)
    names = _tables()
    # The ticket's copy of its customer's tier: no join through customers.
    joins = f"FROM {names['clock']} c JOIN {names['ticket']} t ON t.id = c.ticket_id"
    SlaRollupDay.objects.get_or_create(day=day)
    with transaction.atomic():
        marker = SlaRollupDay.objects.select_for_update().get(day=day)
        # The rows count what happened before this instant (today: so far); sla_report counts
        # from it on live, so nothing is counted twice. An outcome whose instant is earlier but
        # which commits later (a transaction in flight, the breach sweep's lag) waits for the
        # next refresh: the beat refreshes today and yesterday every 5 minutes.
        refreshed_at = timezone.now()
        bounds = [adapt(start), adapt(min(day_end, refreshed_at))]
        outcome_params = bounds * 2
        SlaOutcomeRollup.objects.filter(day=day).delete()
        SlaMinutesRollup.objects.filter(day=day).delete()
        SlaTicketRollup.objects.filter(day=day).delete()
        # Table names and the SQL text are ours; every value is a parameter.
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {names['outcomes']} "
                "(day, target, team_id, assignee_id, tier_id, met, breached) "
                "SELECT %s, c.target, t.team_id, t.assignee_id, t.customer_tier_id, "
                "SUM(CASE WHEN c.state = 'met' THEN 1 ELSE 0 END), "
                "SUM(CASE WHEN c.state = 'breached' THEN 1 ELSE 0 END) "
                f"{joins} WHERE {_OUTCOME_IN} "
                "GROUP BY c.target, t.team_id, t.assignee_id, t.customer_tier_id",
                [sql_day, *outcome_params],
            )
            bucket = BUCKET_SQL.format(m="c.business_minutes")
            timed = ", ".join(["%s"] * len(TIMED_TARGETS))
            for dimension, column in _DIMENSION_COLUMN.items():
                grouped = f"c.target, {bucket}" + ("" if column == "NULL" else f", {column}")
                cursor.execute(
                    f"INSERT INTO {names['minutes']} "
                    "(day, target, dimension, dimension_id, bucket, count, minutes) "
                    f"SELECT %s, c.target, %s, {column}, {bucket}, COUNT(*), "
                    f"SUM(c.business_minutes) {joins} "
                    f"WHERE c.target IN ({timed}) AND {_OUTCOME_IN} "
                    f"GROUP BY {grouped}",
                    [sql_day, dimension.value, *TIMED_TARGETS, *outcome_params],
                )
            cursor.execute(
                f"INSERT INTO {names['tickets']} "  # noqa: S608
                "(day, team_id, assignee_id, tier_id, created, solved) "
                "SELECT %s, team_id, assignee_id, tier_id, SUM(created), SUM(solved) FROM ("
                "SELECT t.team_id, t.assignee_id, t.customer_tier_id AS tier_id, 1 AS created, "
                f"0 AS solved FROM {names['ticket']} t "
                "WHERE t.created_at >= %s AND t.created_at < %s "
                "UNION ALL "
                "SELECT t.team_id, t.assignee_id, t.customer_tier_id, 0, 1 "
                f"FROM {names['ticket']} t "
                "WHERE t.solved_at >= %s AND t.solved_at < %s"
                ") x GROUP BY team_id, assignee_id, tier_id",
                [sql_day, *bounds, *bounds],
            )
        marker.refreshed_at = refreshed_at
        marker.save(update_fields=["refreshed_at"])


def refresh_sla_rollup(*, days: Iterable[date]) -> int:
    """Recompute the rollup of each local day given (one transaction per day). Idempotent and
    safe with several workers: a day's refreshes run one after the other. Returns the number
    of days refreshed."""
    zone = report_timezone()
    done = 0
    for day in sorted(set(days)):
        _refresh_day(day, zone)
        done += 1
    return done


def refresh_sla_rollup_between(*, first: date, last: date) -> int:
    """Every local day from `first` to `last`, both included."""
    count = (last - first).days + 1
    return refresh_sla_rollup(days=[first + timedelta(days=n) for n in range(max(count, 0))])
