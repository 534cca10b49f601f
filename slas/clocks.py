"""Business-time arithmetic: pure (standard library and zoneinfo only, no ORM).

Semantics (issue 9, exact):

- Time counts in whole minutes. Every instant given (start, end, a pause's from and to) is
  truncated to the real (UTC) minute holding it: 09:00:45 counts as 09:00. Results are aware UTC
  datetimes on a whole minute. Naive datetimes are refused (ValueError).
- A real minute is *open* when its wall-clock time in the calendar's zone falls inside an
  opening interval of that local date's weekday and that local date is not a holiday; it is
  *business* time when it is open and not inside a pause. The hour skipped by a spring-forward
  change counts nothing (an interval opening at 02:30 that day opens at 03:00, the first wall
  minute that happens); a repeated fall-back hour inside opening hours counts twice.
- Intervals are [start, end) local wall-clock "HH:MM", "24:00" only as an end, never crossing
  midnight; a day's intervals may touch or overlap (their union counts); a missing or empty day
  is closed. Holidays close their whole local date. An always-open calendar ignores hours,
  holidays and timezone.
- Pauses are real-time [from, to); they may overlap (their union counts) and reach outside the
  window; only the business minutes they cover are lost.
- `add_business_minutes(start, D)` is the earliest T at or after start with D business minutes
  in [start, T): D = 0 gives start (truncated) even outside hours; a target used up by the last
  minute before closing is due at closing time; a start outside hours counts from the next
  business minute. A calendar that never opens again raises CalendarNeverOpens.
- `business_minutes_between(start, end)` counts the business minutes in [start, end), 0 when
  end is not after start.

Public interface: `BusinessCalendar.from_spec(spec)` (+ `.to_spec()`, `.ever_opens`,
`.weekly_minutes`, `.is_open_minute()`), `add_business_minutes`, `business_minutes_between`,
`is_open`, `next_opening`, `open_intervals` (real-time open [from, to) intervals: who is on
shift), `segments_between` (the ledger's `Segment`s), `CalendarSpecError(field, message)`,
`CalendarNeverOpens`. Everything else (underscored) is internal.

How it is fast (interval arithmetic, no minute stepping): real time is cut into *pieces* in which
the zone's UTC offset is constant (the zone's transitions, found once per zone and UTC year by
sampling `utcoffset()` daily and bisecting to the minute, then cached). Inside a piece, wall
time is real time plus a constant, so counting business time is counting open *wall* minutes of a
naive weekly schedule: whole weeks in O(1) (weekly total), the partial week by bisection over the
week's intervals, holidays subtracted through a sorted list with prefix sums (bisect). The
inverse (adding) walks only the holidays it crosses. A 30-day target costs microseconds.

Known limit: two offset transitions less than a day apart that cancel each other out would be
missed by the daily sampling; no zone in the tz database does that in the era a helpdesk uses.
"""

from __future__ import annotations

import operator
import re
import zoneinfo
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTE = timedelta(minutes=1)
_HHMM = re.compile(r"([01]\d|2[0-4]):([0-5]\d)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Pause = tuple[datetime, datetime]

# Every instant is handled as an integer count of real minutes since 0001-01-01 00:00 UTC, and
# every wall-clock time as the same count in local wall time. Day 0 (0001-01-01) is a Monday, so
# the weekday of wall minute w is (w // DAY) % 7 and weeks start on Mondays at multiples of WEEK.
DAY = 24 * 60
WEEK = 7 * DAY
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
_END = date(9999, 12, 31).toordinal() * DAY  # 10000-01-01 00:00 UTC: past every datetime


class CalendarSpecError(ValueError):
    """A calendar spec that cannot be read; `field` names where (e.g. "hours.mon.1")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class CalendarNeverOpens(ValueError):
    """Adding business minutes on a calendar that has no open minute left (no opening hours at
    all, or none before the year 10000 that datetimes can hold)."""


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def _minutes_of(text: Any, field: str, *, is_end: bool) -> int:
    match = _HHMM.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise CalendarSpecError(field, f"{text!r} is not a time like 09:30.")
    total = int(match.group(1)) * 60 + int(match.group(2))
    if total > DAY:
        raise CalendarSpecError(field, f"{text!r} is past 24:00.")
    if total == DAY and not is_end:
        raise CalendarSpecError(field, "24:00 is allowed only as the end of an interval.")
    return total


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _holiday_of(value: Any, field: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise CalendarSpecError(field, f"{value!r} is not a date like 2026-12-25.")


def _union(spans: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


class _Plan:
    """What the arithmetic needs from a calendar, computed once per calendar.

    The week's intervals in minutes of the week (Monday 00:00 = 0) with the open minutes before
    each (`before`) and up to its end (`upto`); the holidays that fall on a day with opening
    hours, as sorted wall minutes of their day's start, with their day's minute of the week and
    the prefix sums of their lost minutes."""

    __slots__ = (
        "before",
        "ends",
        "holiday_ordinals",
        "holiday_prefix",
        "holiday_starts",
        "holiday_weekday_starts",
        "starts",
        "total",
        "upto",
    )

    def __init__(
        self, week: tuple[tuple[tuple[int, int], ...], ...], holidays: frozenset[date]
    ) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.before: list[int] = []
        self.upto: list[int] = []
        total = 0
        day_totals = []
        for weekday, spans in enumerate(week):
            day_total = 0
            for start, end in spans:
                self.starts.append(weekday * DAY + start)
                self.ends.append(weekday * DAY + end)
                self.before.append(total)
                total += end - start
                day_total += end - start
                self.upto.append(total)
            day_totals.append(day_total)
        self.total = total
        self.holiday_ordinals = frozenset(day.toordinal() for day in holidays)
        self.holiday_starts: list[int] = []
        self.holiday_weekday_starts: list[int] = []
        self.holiday_prefix: list[int] = [0]
        for day in sorted(holidays):
            lost = day_totals[day.weekday()]
            if lost:
                self.holiday_starts.append((day.toordinal() - 1) * DAY)
                self.holiday_weekday_starts.append(day.weekday() * DAY)
                self.holiday_prefix.append(self.holiday_prefix[-1] + lost)

    def in_week(self, offset: int) -> int:
        """Open minutes in [0, offset) of the week, 0 <= offset <= WEEK."""
        index = bisect_right(self.starts, offset) - 1
        if index < 0:
            return 0
        end = self.ends[index]
        return self.before[index] + (offset if offset < end else end) - self.starts[index]

    def weekly(self, wall: int) -> int:
        """Open minutes of the weekly schedule (holidays ignored) in [0, wall)."""
        weeks, offset = divmod(wall, WEEK)
        return weeks * self.total + self.in_week(offset)

    def weekly_inverse(self, count: int) -> int:
        """The smallest wall minute w with weekly(w) >= count (count >= 1, total > 0)."""
        weeks, rest = divmod(count - 1, self.total)
        index = bisect_left(self.upto, rest + 1)
        return weeks * WEEK + self.ends[index] - (self.upto[index] - rest - 1)

    def lost_to_holidays(self, wall: int) -> int:
        """Open minutes of the weekly schedule in [0, wall) that holidays close."""
        starts = self.holiday_starts
        if not starts:
            return 0
        index = bisect_right(starts, wall - DAY)
        lost = self.holiday_prefix[index]
        if index < len(starts) and starts[index] < wall:
            day = self.holiday_weekday_starts[index]
            lost += self.in_week(day + wall - starts[index]) - self.in_week(day)
        return lost

    def open_before(self, wall: int) -> int:
        """Open wall minutes (hours and holidays) in [0, wall); only differences matter."""
        return self.weekly(wall) - self.lost_to_holidays(wall)

    def find(self, wall: int, need: int, limit: int) -> tuple[int, int]:
        """Walk open wall minutes from `wall` towards `limit` until `need` (>= 1) are found:
        (x, 0) with x the earliest wall minute with `need` open ones in [wall, x), or
        (limit, what is still needed) when [wall, limit) holds fewer. Whole weeks are one
        multiplication; only the holidays on the way are stepped over."""
        starts = self.holiday_starts
        index = bisect_right(starts, wall - DAY)
        while True:
            if index < len(starts) and starts[index] <= wall:
                # Inside a holiday: nothing counts until the next day.
                wall = starts[index] + DAY
                index += 1
                if wall >= limit:
                    return limit, need
                continue
            stop = starts[index] if index < len(starts) and starts[index] < limit else limit
            base = self.weekly(wall)
            available = self.weekly(stop) - base
            if available >= need:
                return self.weekly_inverse(base + need), 0
            need -= available
            if stop >= limit:
                return limit, need
            wall = stop


@dataclass(frozen=True)
class BusinessCalendar:
    """A calendar ready for arithmetic: per weekday (0 = Monday) the union of its opening
    intervals as sorted, disjoint (start, end) minutes of the local day."""

    timezone: zoneinfo.ZoneInfo
    week: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[date]
    always_open: bool
    _plan: _Plan = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise ValueError("A week has seven days (Monday first).")
        # Normalized here too, so a calendar built directly (not from a spec) is also merged.
        week = tuple(_union(day) for day in self.week)
        object.__setattr__(self, "week", week)
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "_plan", _Plan(week, self.holidays))

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> BusinessCalendar:
        """Read the API's JSON shape; overlapping or touching intervals are merged, malformed
        ones refused with a CalendarSpecError naming the field. Keys other than timezone, hours,
        holidays and always_open are ignored (a stored calendar row may carry more). A missing
        timezone is UTC; holidays may be "YYYY-MM-DD" strings or dates, duplicates allowed."""
        if not isinstance(spec, Mapping):
            raise CalendarSpecError("calendar", "A calendar is an object.")
        zone_name = spec.get("timezone", "UTC")
        try:
            zone = zoneinfo.ZoneInfo(zone_name) if isinstance(zone_name, str) else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            zone = None
        if zone is None:
            raise CalendarSpecError("timezone", f"{zone_name!r} is not a known time zone.")

        hours = spec.get("hours")
        if hours is None:
            hours = {}
        if not isinstance(hours, Mapping):
            raise CalendarSpecError("hours", "Hours are an object keyed by weekday (mon..sun).")
        for key in hours:
            if key not in WEEKDAYS:
                raise CalendarSpecError("hours", f"Unknown weekday {key!r} (mon..sun).")
        week: list[tuple[tuple[int, int], ...]] = []
        for day in WEEKDAYS:
            intervals = hours.get(day)
            if intervals is None:
                intervals = []
            if not _is_list(intervals):
                raise CalendarSpecError(f"hours.{day}", "A day is a list of [start, end] pairs.")
            spans: list[tuple[int, int]] = []
            for index, pair in enumerate(intervals):
                field_name = f"hours.{day}.{index}"
                if not _is_list(pair) or len(pair) != 2:
                    raise CalendarSpecError(field_name, "An interval is a [start, end] pair.")
                start = _minutes_of(pair[0], field_name, is_end=False)
                end = _minutes_of(pair[1], field_name, is_end=True)
                if end <= start:
                    raise CalendarSpecError(
                        field_name, "An interval ends after it starts and never crosses midnight."
                    )
                spans.append((start, end))
            week.append(_union(spans))

        raw_holidays = spec.get("holidays")
        if raw_holidays is None:
            raw_holidays = []
        if not _is_list(raw_holidays):
            raise CalendarSpecError("holidays", "Holidays are a list of YYYY-MM-DD dates.")
        holidays = {
            _holiday_of(value, f"holidays.{index}") for index, value in enumerate(raw_holidays)
        }
        always_open = spec.get("always_open", False)
        if not isinstance(always_open, bool):
            raise CalendarSpecError("always_open", "always_open is true or false.")
        return cls(zone, tuple(week), frozenset(holidays), always_open)

    def to_spec(self) -> dict[str, Any]:
        """The normalized JSON shape (intervals merged and sorted, every weekday present,
        holidays sorted): `from_spec(calendar.to_spec()) == calendar`. Handy for version
        snapshots and for showing what a calendar really means after normalization."""
        return {
            "timezone": self.timezone.key,
            "hours": {
                name: [[_hhmm(start), _hhmm(end)] for start, end in spans]
                for name, spans in zip(WEEKDAYS, self.week, strict=True)
            },
            "holidays": [day.isoformat() for day in sorted(self.holidays)],
            "always_open": self.always_open,
        }

    @property
    def ever_opens(self) -> bool:
        """Whether any minute is ever open (holidays are finite, so hours suffice)."""
        return self.always_open or self._plan.total > 0

    @property
    def weekly_minutes(self) -> int:
        """Open minutes in an ordinary week (no holiday, no clock change); 10080 if always
        open."""
        return WEEK if self.always_open else self._plan.total

    def is_open_minute(self, moment: datetime) -> bool:
        """Whether the real minute starting at `moment` (aware) is open."""
        if self.always_open:
            return True
        local = moment.astimezone(self.timezone)
        if local.date() in self.holidays:
            return False
        minute_of_day = local.hour * 60 + local.minute
        return any(start <= minute_of_day < end for start, end in self.week[local.weekday()])


# --- instants as integer minutes -------------------------------------------------------------


def _minute_of(moment: datetime) -> int:
    if not isinstance(moment, datetime):
        raise TypeError(f"{moment!r} is not a datetime.")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("Business-time arithmetic takes aware datetimes only.")
    # Aware subtraction works in UTC: this is the real minute, seconds truncated.
    return (moment - _EPOCH) // MINUTE


def _datetime_of(minute: int) -> datetime:
    return _EPOCH + timedelta(minutes=minute)


def _merge_pauses(pauses: Sequence[Pause]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for pause in pauses:
        start, end = pause
        spans.append((_minute_of(start), _minute_of(end)))
    return list(_union(spans))


# --- the zone's offset pieces ----------------------------------------------------------------


def _offset_at(zone: zoneinfo.ZoneInfo, minute: int) -> int:
    """The zone's UTC offset in whole minutes (floored: an old local mean time like +00:09:21
    reads each real minute at the wall minute it falls in) at the real minute."""
    # Two days' margin keeps astimezone away from datetime's limits at years 1 and 9999.
    minute = min(max(minute, 2 * DAY), _END - 2 * DAY)
    offset = _datetime_of(minute).astimezone(zone).utcoffset()
    return 0 if offset is None else offset // MINUTE  # a ZoneInfo always has one


@lru_cache(maxsize=16384)
def _zone_year(zone: zoneinfo.ZoneInfo, year: int) -> tuple[list[int], list[int], int]:
    """For a UTC year: the real minutes where each constant-offset piece starts (the first is
    the year's start), their offsets, and the year's end."""
    year_start = (date(year, 1, 1).toordinal() - 1) * DAY
    year_end = (date(year + 1, 1, 1).toordinal() - 1) * DAY if year < 9999 else _END
    starts, offsets = [year_start], [_offset_at(zone, year_start)]
    previous, previous_offset = year_start, offsets[0]
    samples = [*range(year_start + DAY, year_end, DAY), year_end - 1]
    for sample in samples:
        offset = _offset_at(zone, sample)
        while offset != previous_offset:
            # A change in (previous, sample]: bisect to its first minute; repeat in case the
            # day held two changes.
            low, high = previous, sample
            while high - low > 1:
                middle = (low + high) // 2
                if _offset_at(zone, middle) == previous_offset:
                    low = middle
                else:
                    high = middle
            previous, previous_offset = high, _offset_at(zone, high)
            starts.append(high)
            offsets.append(previous_offset)
        previous = sample
    return starts, offsets, year_end


def _piece_at(zone: zoneinfo.ZoneInfo, minute: int) -> tuple[int, int]:
    """(end, offset) of the constant-offset piece holding the real minute."""
    year = date.fromordinal(minute // DAY + 1).year
    starts, offsets, year_end = _zone_year(zone, year)
    index = bisect_right(starts, minute) - 1
    end = starts[index + 1] if index + 1 < len(starts) else year_end
    return end, offsets[index]


# --- open time in real minutes ---------------------------------------------------------------


def _count_open(calendar: BusinessCalendar, start: int, end: int) -> int:
    """Open real minutes in [start, end)."""
    if end <= start:
        return 0
    if calendar.always_open:
        return end - start
    plan = calendar._plan
    if not plan.total:
        return 0
    zone = calendar.timezone
    counted = 0
    while start < end:
        piece_end, offset = _piece_at(zone, start)
        stop = piece_end if piece_end < end else end
        counted += plan.open_before(stop + offset) - plan.open_before(start + offset)
        start = stop
    return counted


def _advance(calendar: BusinessCalendar, start: int, need: int, limit: int) -> tuple[int, int]:
    """Walk open real minutes from `start` towards `limit` until `need` (>= 1) are found:
    (T, 0) with T the earliest real minute with `need` open ones in [start, T), or (limit,
    what is still needed) when [start, limit) holds fewer."""
    if calendar.always_open:
        if start + need <= limit:
            return start + need, 0
        return limit, need - max(limit - start, 0)
    plan, zone = calendar._plan, calendar.timezone
    while start < limit:
        piece_end, offset = _piece_at(zone, start)
        stop = piece_end if piece_end < limit else limit
        found, need = plan.find(start + offset, need, stop + offset)
        if not need:
            return found - offset, 0
        start = stop
    return limit, need


def _find_open(calendar: BusinessCalendar, start: int, need: int) -> int:
    """The earliest real minute T with `need` (>= 1) open minutes in [start, T)."""
    if not calendar.ever_opens:
        raise CalendarNeverOpens("This calendar is never open.")
    # Refuse at once what cannot fit before the year 10000 (a week holds at most its open
    # minutes plus a repeated hour or two), rather than walking millennia of pieces.
    if need > ((_END - start) // WEEK + 2) * (calendar.weekly_minutes + 2 * 60):
        raise CalendarNeverOpens("This calendar does not open enough before the year 10000.")
    found, need = _advance(calendar, start, need, _END)
    if need:
        raise CalendarNeverOpens("This calendar does not open again before the year 10000.")
    return found


def _walk(calendar: BusinessCalendar, start: int, end: int) -> Iterator[tuple[str, int, int]]:
    """[start, end) as consecutive ("open" | "outside_hours" | "holiday", from, to) stretches,
    day by day (for the ledger and open_intervals; the counting functions never walk)."""
    if end <= start:
        return
    if calendar.always_open:
        yield "open", start, end
        return
    plan, zone = calendar._plan, calendar.timezone
    while start < end:
        piece_end, offset = _piece_at(zone, start)
        stop = piece_end if piece_end < end else end
        wall, wall_stop = start + offset, stop + offset
        day = wall // DAY
        while day * DAY < wall_stop:
            day_start = day * DAY
            low = max(wall, day_start)
            high = min(wall_stop, day_start + DAY)
            if day + 1 in plan.holiday_ordinals:
                yield "holiday", low - offset, high - offset
            else:
                cursor = low
                for open_from, open_to in calendar.week[day % 7]:
                    open_from = max(open_from + day_start, cursor)
                    open_to = min(open_to + day_start, high)
                    if open_from < open_to:
                        if cursor < open_from:
                            yield "outside_hours", cursor - offset, open_from - offset
                        yield "open", open_from - offset, open_to - offset
                        cursor = open_to
                if cursor < high:
                    yield "outside_hours", cursor - offset, high - offset
            day += 1
        start = stop


# --- the public interface --------------------------------------------------------------------


def add_business_minutes(
    start: datetime, minutes: int, calendar: BusinessCalendar, pauses: Sequence[Pause] = ()
) -> datetime:
    """The earliest instant T at or after `start` with `minutes` business minutes in [start, T)
    (UTC, whole minute). Raises CalendarNeverOpens when the calendar has no open minute left."""
    minutes = operator.index(minutes)
    if minutes < 0:
        raise ValueError("minutes must be zero or more")
    moment = _minute_of(start)
    merged = _merge_pauses(pauses)
    if minutes == 0:
        return _datetime_of(moment)
    if not calendar.ever_opens:
        raise CalendarNeverOpens("This calendar is never open.")
    need = minutes
    for pause_start, pause_end in merged:
        if pause_end <= moment:
            continue
        if pause_start > moment:
            # The stretch before this pause: walk it (no counting then walking again).
            found, need = _advance(calendar, moment, need, pause_start)
            if not need:
                return _datetime_of(found)
        moment = pause_end
    return _due(calendar, moment, need)


def _due(calendar: BusinessCalendar, start: int, need: int) -> datetime:
    try:
        return _datetime_of(_find_open(calendar, start, need))
    except OverflowError:
        raise CalendarNeverOpens("The due instant would be past the year 9999.") from None


def business_minutes_between(
    start: datetime, end: datetime, calendar: BusinessCalendar, pauses: Sequence[Pause] = ()
) -> int:
    """The number of business minutes in [start, end); 0 when end is not after start."""
    first, last = _minute_of(start), _minute_of(end)
    merged = _merge_pauses(pauses)
    if last <= first:
        return 0
    counted = _count_open(calendar, first, last)
    for pause_start, pause_end in merged:
        counted -= _count_open(calendar, max(pause_start, first), min(pause_end, last))
    return counted


def is_open(moment: datetime, calendar: BusinessCalendar) -> bool:
    """Whether the minute holding `moment` is open (hours and holidays; no pauses)."""
    return calendar.is_open_minute(_datetime_of(_minute_of(moment)))


def next_opening(moment: datetime, calendar: BusinessCalendar) -> datetime | None:
    """The start of the first open minute at or after `moment` (UTC); None if it never opens
    again ("we are closed; we open Monday at 09:00")."""
    start = _minute_of(moment)
    if not calendar.ever_opens:
        return None
    try:
        return _datetime_of(_find_open(calendar, start, 1) - 1)
    except (CalendarNeverOpens, OverflowError):
        return None


def open_intervals(
    start: datetime, end: datetime, calendar: BusinessCalendar
) -> Iterator[tuple[datetime, datetime]]:
    """The calendar's open time within [start, end) as real-time [from, to) UTC intervals, in
    order, maximal (touching stretches, e.g. a night shift's 22:00-24:00 and 00:00-06:00, come
    out as one). Pauses play no part: this is "who is on shift" time. Lazy: stop iterating when
    you have seen enough."""
    first, last = _minute_of(start), _minute_of(end)
    pending: tuple[int, int] | None = None
    for kind, low, high in _walk(calendar, first, last):
        if kind != "open":
            continue
        if pending is not None and pending[1] == low:
            pending = (pending[0], high)
            continue
        if pending is not None:
            yield _datetime_of(pending[0]), _datetime_of(pending[1])
        pending = (low, high)
    if pending is not None:
        yield _datetime_of(pending[0]), _datetime_of(pending[1])


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
    first, last = _minute_of(start), _minute_of(end)
    merged = _merge_pauses(pauses)
    pieces: list[list[Any]] = []  # [kind, from, to, business minutes], merged as they come

    def emit(kind: str, low: int, high: int, counted: int) -> None:
        if pieces and pieces[-1][0] == kind and pieces[-1][2] == low:
            pieces[-1][2] = high
            pieces[-1][3] += counted
        else:
            pieces.append([kind, low, high, counted])

    index = 0
    for kind, low, high in _walk(calendar, first, last):
        if kind != "open":
            emit(kind, low, high, 0)
            continue
        # Split the open stretch by the pauses (sorted, disjoint) that touch it.
        while index < len(merged) and merged[index][1] <= low:
            index += 1
        cursor, scan = low, index
        while cursor < high:
            if scan < len(merged) and merged[scan][0] < high:
                pause_start, pause_end = merged[scan]
                if cursor < pause_start:
                    emit("running", cursor, pause_start, pause_start - cursor)
                    cursor = pause_start
                stop = min(pause_end, high)
                emit("paused", cursor, stop, stop - cursor)
                cursor = stop
                scan += 1
            else:
                emit("running", cursor, high, high - cursor)
                cursor = high
        index = max(index, scan - 1)
    return [
        Segment(kind, _datetime_of(low), _datetime_of(high), counted)
        for kind, low, high, counted in pieces
    ]
