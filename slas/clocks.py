"""Business-time arithmetic: pure (standard library and zoneinfo only, no ORM).

PLACEHOLDER IMPLEMENTATION: the public interface below is final; the bodies of
`add_business_minutes` and `business_minutes_between` step minute by minute, which is correct
but slow. They are being replaced by interval arithmetic (and this stepping kept as the test
oracle in tests/slas/).

Semantics (issue 9): time counts in whole minutes; instants are truncated to their minute. A
real minute is open when its wall-clock time in the calendar's zone falls inside an opening
interval of that local date's weekday and that local date is not a holiday; it is business time
when open and not inside a pause. Adding D minutes gives the earliest T at or after the start
with D business minutes in [start, T); measuring counts the business minutes in [start, end).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTE = timedelta(minutes=1)
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")

Pause = tuple[datetime, datetime]


class CalendarSpecError(ValueError):
    """A calendar spec that cannot be read; `field` names where (e.g. "hours.mon.1")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class CalendarNeverOpens(ValueError):
    """Adding business minutes on a calendar that has no open minute left."""


def _minutes_of(text: Any, field: str, *, is_end: bool) -> int:
    match = _HHMM.match(text) if isinstance(text, str) else None
    if match is None:
        raise CalendarSpecError(field, f"{text!r} is not a time like 09:30.")
    hours, minutes = int(match.group(1)), int(match.group(2))
    total = hours * 60 + minutes
    if total > 24 * 60 or (total == 24 * 60 and not is_end):
        raise CalendarSpecError(field, "24:00 is allowed only as the end of an interval.")
    return total


@dataclass(frozen=True)
class BusinessCalendar:
    """A calendar ready for arithmetic: per weekday (0 = Monday) the union of its opening
    intervals as sorted, disjoint (start, end) minutes of the local day."""

    timezone: zoneinfo.ZoneInfo
    week: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[date]
    always_open: bool

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> BusinessCalendar:
        """Read the API's JSON shape; overlapping or touching intervals are merged, malformed
        ones refused with a CalendarSpecError naming the field."""
        if not isinstance(spec, Mapping):
            raise CalendarSpecError("calendar", "A calendar is an object.")
        zone_name = spec.get("timezone", "UTC")
        try:
            zone = zoneinfo.ZoneInfo(zone_name) if isinstance(zone_name, str) else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = None
        if zone is None:
            raise CalendarSpecError("timezone", f"{zone_name!r} is not a known time zone.")

        hours = spec.get("hours") or {}
        if not isinstance(hours, Mapping):
            raise CalendarSpecError("hours", "Hours are an object keyed by weekday (mon..sun).")
        unknown = set(hours) - set(WEEKDAYS)
        if unknown:
            raise CalendarSpecError("hours", f"Unknown weekday {sorted(unknown)[0]!r}.")
        week: list[tuple[tuple[int, int], ...]] = []
        for day in WEEKDAYS:
            intervals = hours.get(day) or []
            if not isinstance(intervals, Sequence) or isinstance(intervals, str):
                raise CalendarSpecError(f"hours.{day}", "A day is a list of [start, end] pairs.")
            spans: list[tuple[int, int]] = []
            for index, pair in enumerate(intervals):
                field = f"hours.{day}.{index}"
                if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
                    raise CalendarSpecError(field, "An interval is a [start, end] pair.")
                start = _minutes_of(pair[0], field, is_end=False)
                end = _minutes_of(pair[1], field, is_end=True)
                if end <= start:
                    raise CalendarSpecError(
                        field, "An interval ends after it starts and never crosses midnight."
                    )
                spans.append((start, end))
            week.append(_union(spans))

        holidays: set[date] = set()
        raw_holidays = spec.get("holidays") or []
        if not isinstance(raw_holidays, Sequence) or isinstance(raw_holidays, str):
            raise CalendarSpecError("holidays", "Holidays are a list of YYYY-MM-DD dates.")
        for index, text in enumerate(raw_holidays):
            try:
                holidays.add(date.fromisoformat(text))
            except (TypeError, ValueError):
                raise CalendarSpecError(
                    f"holidays.{index}", f"{text!r} is not a date like 2026-12-25."
                ) from None
        always_open = spec.get("always_open", False)
        if not isinstance(always_open, bool):
            raise CalendarSpecError("always_open", "always_open is true or false.")
        return cls(zone, tuple(week), frozenset(holidays), always_open)

    @property
    def ever_opens(self) -> bool:
        return self.always_open or any(self.week)

    def is_open_minute(self, moment: datetime) -> bool:
        """Whether the real minute starting at `moment` (aware) is open."""
        if self.always_open:
            return True
        local = moment.astimezone(self.timezone)
        if local.date() in self.holidays:
            return False
        minute_of_day = local.hour * 60 + local.minute
        return any(start <= minute_of_day < end for start, end in self.week[local.weekday()])


def _union(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _floor_minute(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("Business-time arithmetic takes aware datetimes only.")
    # In UTC: adding a minute to a datetime in a zone with DST would be wall-clock arithmetic.
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _paused(moment: datetime, pauses: Sequence[Pause]) -> bool:
    return any(_floor_minute(start) <= moment < _floor_minute(end) for start, end in pauses)


def add_business_minutes(
    start: datetime, minutes: int, calendar: BusinessCalendar, pauses: Sequence[Pause] = ()
) -> datetime:
    """The earliest instant T at or after `start` with `minutes` business minutes in [start, T)."""
    if minutes < 0:
        raise ValueError("minutes must be zero or more")
    moment = _floor_minute(start)
    if minutes == 0:
        return moment
    if not calendar.ever_opens:
        raise CalendarNeverOpens("This calendar is never open.")
    counted = 0
    while True:
        if calendar.is_open_minute(moment) and not _paused(moment, pauses):
            counted += 1
            if counted == minutes:
                return moment + MINUTE
        moment += MINUTE


def business_minutes_between(
    start: datetime, end: datetime, calendar: BusinessCalendar, pauses: Sequence[Pause] = ()
) -> int:
    """The number of business minutes in [start, end); 0 when end is not after start."""
    moment, end = _floor_minute(start), _floor_minute(end)
    counted = 0
    while moment < end:
        if calendar.is_open_minute(moment) and not _paused(moment, pauses):
            counted += 1
        moment += MINUTE
    return counted


def is_open(moment: datetime, calendar: BusinessCalendar) -> bool:
    """Whether the minute holding `moment` is open (hours and holidays; no pauses)."""
    return calendar.is_open_minute(_floor_minute(moment))


def next_opening(moment: datetime, calendar: BusinessCalendar) -> datetime | None:
    """The start of the first open minute at or after `moment`; None if it never opens again
    ("we are closed; we open Monday at 09:00")."""
    if not calendar.ever_opens:
        return None
    return add_business_minutes(moment, 1, calendar) - MINUTE


@dataclass(frozen=True)
class Segment:
    """A stretch of real time as the ledger explains it: `kind` is "running" (counting),
    "paused", "outside_hours" or "holiday"; `business_minutes` is the business time it holds
    (for a paused segment, the business time the pause took away)."""

    kind: str
    start: datetime
    end: datetime
    business_minutes: int


def segments_between(
    start: datetime, end: datetime, calendar: BusinessCalendar, pauses: Sequence[Pause] = ()
) -> list[Segment]:
    """[start, end) cut into ledger segments, in order, consecutive same-kind stretches merged.
    Closed time is closed whatever else holds: a holiday or the night inside a pause shows as
    holiday or outside hours, and only the open minutes of a pause are "paused"."""
    moment, end = _floor_minute(start), _floor_minute(end)
    segments: list[Segment] = []
    while moment < end:
        if not calendar.is_open_minute(moment):
            local_day = moment.astimezone(calendar.timezone).date()
            kind, counted = ("holiday" if local_day in calendar.holidays else "outside_hours"), 0
        elif _paused(moment, pauses):
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
