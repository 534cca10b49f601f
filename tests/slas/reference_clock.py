"""The test oracle for slas.clocks: the original minute-stepping implementation.

Slow (one step per real minute) but obviously right: it walks real minutes in UTC (adding a
minute to a datetime in a zone with DST would be wall-clock arithmetic) and judges each one by
the wall-clock time it reads at that real moment in the calendar's zone, exactly as issue 9
words it. It reads only the calendar's public fields (timezone, week, holidays, always_open),
never the fast module's internals, so the two implementations stay independent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from slas.clocks import BusinessCalendar, CalendarNeverOpens, Segment

MINUTE = timedelta(minutes=1)
Pause = tuple[datetime, datetime]


def floor_minute(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("Business-time arithmetic takes aware datetimes only.")
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def open_minute(calendar: BusinessCalendar, moment: datetime) -> bool:
    """Whether the real minute starting at `moment` is open: its local wall-clock time falls in
    an interval of its local weekday, and its local date is not a holiday."""
    if calendar.always_open:
        return True
    local = moment.astimezone(calendar.timezone)
    if local.date() in calendar.holidays:
        return False
    minute_of_day = local.hour * 60 + local.minute
    return any(start <= minute_of_day < end for start, end in calendar.week[local.weekday()])


def paused(moment: datetime, pauses: Sequence[Pause]) -> bool:
    return any(floor_minute(start) <= moment < floor_minute(end) for start, end in pauses)


def business_minute(calendar: BusinessCalendar, moment: datetime, pauses: Sequence[Pause]) -> bool:
    return open_minute(calendar, moment) and not paused(moment, pauses)


def add_business_minutes(
    start: datetime,
    minutes: int,
    calendar: BusinessCalendar,
    pauses: Sequence[Pause] = (),
    *,
    limit: datetime | None = None,
) -> datetime:
    """The earliest T at or after start with `minutes` business minutes in [start, T).
    `limit` bounds the walk (AssertionError past it) so a wrong test cannot hang."""
    if minutes < 0:
        raise ValueError("minutes must be zero or more")
    moment = floor_minute(start)
    if minutes == 0:
        return moment
    if not (calendar.always_open or any(calendar.week)):
        raise CalendarNeverOpens("This calendar is never open.")
    counted = 0
    while True:
        assert limit is None or moment < limit, "reference walk went past its limit"
        if business_minute(calendar, moment, pauses):
            counted += 1
            if counted == minutes:
                return moment + MINUTE
        moment += MINUTE


def business_minutes_between(
    start: datetime, end: datetime, calendar: BusinessCalendar, pauses: Sequence[Pause] = ()
) -> int:
    moment, end = floor_minute(start), floor_minute(end)
    counted = 0
    while moment < end:
        if business_minute(calendar, moment, pauses):
            counted += 1
        moment += MINUTE
    return counted


def segments_between(
    start: datetime, end: datetime, calendar: BusinessCalendar, pauses: Sequence[Pause] = ()
) -> list[Segment]:
    moment, end = floor_minute(start), floor_minute(end)
    segments: list[Segment] = []
    while moment < end:
        if not open_minute(calendar, moment):
            local_day = moment.astimezone(calendar.timezone).date()
            kind, counted = ("holiday" if local_day in calendar.holidays else "outside_hours"), 0
        elif paused(moment, pauses):
            kind, counted = "paused", 1
        else:
            kind, counted = "running", 1
        last = segments[-1] if segments else None
        if last is not None and last.kind == kind and last.end == moment:
            segments[-1] = Segment(
                kind, last.start, moment + MINUTE, last.business_minutes + counted
            )
        else:
            segments.append(Segment(kind, moment, moment + MINUTE, counted))
        moment += MINUTE
    return segments


def open_intervals(
    start: datetime, end: datetime, calendar: BusinessCalendar
) -> list[tuple[datetime, datetime]]:
    """Maximal runs of open minutes in [start, end)."""
    moment, end = floor_minute(start), floor_minute(end)
    runs: list[tuple[datetime, datetime]] = []
    while moment < end:
        if open_minute(calendar, moment):
            if runs and runs[-1][1] == moment:
                runs[-1] = (runs[-1][0], moment + MINUTE)
            else:
                runs.append((moment, moment + MINUTE))
        moment += MINUTE
    return runs
