"""Properties of slas.clocks over random calendars, starts, targets and pauses (hypothesis).

Calendars draw their zone from ones with clock changes in both hemispheres, off-the-hour
offsets and a 30-minute summer shift (Lord Howe); starts cluster around clock changes. The fast
implementation is compared with the minute-stepping oracle (tests/slas/reference_clock.py) over
windows of a few days; the round-trip properties run on targets of up to a year, fast side only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slas.clocks import (
    WEEKDAYS,
    BusinessCalendar,
    add_business_minutes,
    business_minutes_between,
    open_intervals,
    segments_between,
)
from tests.slas import reference_clock as reference

ZONES = (
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Adelaide",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Pacific/Chatham",
)
# Moments near which clocks change (UTC), plus ordinary ones.
ANCHORS = (
    datetime(2026, 3, 8, 7, 0, tzinfo=UTC),  # New York spring forward
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # Paris spring forward
    datetime(2026, 4, 4, 15, 0, tzinfo=UTC),  # Sydney / Adelaide / Lord Howe fall back
    datetime(2026, 10, 3, 16, 0, tzinfo=UTC),  # Sydney spring forward
    datetime(2026, 10, 25, 1, 0, tzinfo=UTC),  # Paris fall back
    datetime(2026, 11, 1, 6, 0, tzinfo=UTC),  # New York fall back
    datetime(2026, 6, 15, 12, 0, tzinfo=UTC),
    datetime(2026, 12, 24, 12, 0, tzinfo=UTC),
)
ORACLE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def intervals(draw: st.DrawFn) -> list[list[str]]:
    """A day: up to three intervals, possibly overlapping or touching, often on the quarter."""
    spans = []
    for _ in range(draw(st.integers(0, 3))):
        step = draw(st.sampled_from((1, 15, 30, 60)))
        start = draw(st.integers(0, 1440 // step - 1)) * step
        end = draw(st.integers(start // step + 1, 1440 // step)) * step
        spans.append([hhmm(start), hhmm(end)])
    return spans


@st.composite
def calendars(draw: st.DrawFn, *, must_open: bool = False) -> BusinessCalendar:
    hours = {day: draw(intervals()) for day in WEEKDAYS}
    if must_open and not any(hours.values()):
        hours["wed"] = [["10:00", "11:00"]]
    first = date(2026, 1, 1)
    holidays = draw(
        st.lists(st.integers(0, 540).map(lambda days: (first + timedelta(days)).isoformat()))
    )
    spec: dict[str, Any] = {
        "timezone": draw(st.sampled_from(ZONES)),
        "hours": hours,
        "holidays": holidays,
        "always_open": draw(st.integers(0, 19)) == 0,
    }
    return BusinessCalendar.from_spec(spec)


@st.composite
def starts(draw: st.DrawFn) -> datetime:
    anchor = draw(st.sampled_from(ANCHORS))
    return anchor + timedelta(
        minutes=draw(st.integers(-3 * 1440, 3 * 1440)), seconds=draw(st.integers(0, 59))
    )


@st.composite
def pause_lists(draw: st.DrawFn, start: datetime) -> list[tuple[datetime, datetime]]:
    pauses = []
    for _ in range(draw(st.integers(0, 4))):
        begin = start + timedelta(minutes=draw(st.integers(-1440, 4 * 1440)))
        pauses.append((begin, begin + timedelta(minutes=draw(st.integers(-60, 2 * 1440)))))
    return pauses


@ORACLE
@given(calendar=calendars(), data=st.data())
def test_fast_equals_the_oracle_over_a_few_days(calendar: BusinessCalendar, data: Any) -> None:
    start = data.draw(starts())
    end = start + timedelta(minutes=data.draw(st.integers(-60, 4 * 1440)))
    pauses = data.draw(pause_lists(start))

    expected = reference.business_minutes_between(start, end, calendar, pauses)
    assert business_minutes_between(start, end, calendar, pauses) == expected
    assert segments_between(start, end, calendar, pauses) == reference.segments_between(
        start, end, calendar, pauses
    )
    assert list(open_intervals(start, end, calendar)) == reference.open_intervals(
        start, end, calendar
    )
    # Any target the window can hold: the oracle's walk ends inside the window.
    minutes = data.draw(st.integers(0, expected))
    assert add_business_minutes(start, minutes, calendar, pauses) == (
        reference.add_business_minutes(start, minutes, calendar, pauses, limit=end)
    )


@FAST
@given(calendar=calendars(must_open=True), data=st.data())
def test_measuring_back_gives_the_target(calendar: BusinessCalendar, data: Any) -> None:
    start = data.draw(starts())
    minutes = data.draw(st.integers(0, 120_000))
    pauses = data.draw(pause_lists(start))
    due = add_business_minutes(start, minutes, calendar, pauses)
    assert business_minutes_between(start, due, calendar, pauses) == minutes


@FAST
@given(calendar=calendars(must_open=True), data=st.data())
def test_the_due_instant_is_never_inside_closed_time_except_as_a_closing_instant(
    calendar: BusinessCalendar, data: Any
) -> None:
    start = data.draw(starts())
    minutes = data.draw(st.integers(0, 120_000))
    pauses = data.draw(pause_lists(start))
    due = add_business_minutes(start, minutes, calendar, pauses)
    assert due >= reference.floor_minute(start)
    if minutes == 0:
        assert due == reference.floor_minute(start)
    else:
        # The minute just before the due instant is a business minute (judged by the oracle):
        # so the due instant is inside open time or exactly where it closes.
        assert reference.business_minute(calendar, due - reference.MINUTE, pauses)
        # ... and one business minute less is due strictly earlier.
        assert add_business_minutes(start, minutes - 1, calendar, pauses) < due


@FAST
@given(calendar=calendars(must_open=True), data=st.data())
def test_adding_is_monotonic(calendar: BusinessCalendar, data: Any) -> None:
    start = data.draw(starts())
    first = data.draw(st.integers(0, 60_000))
    second = data.draw(st.integers(first, 120_000))
    pauses = data.draw(pause_lists(start))
    earlier = add_business_minutes(start, first, calendar, pauses)
    later = add_business_minutes(start, second, calendar, pauses)
    assert earlier <= later
    assert (earlier < later) == (first < second)
    # Adding in two steps is adding once.
    assert add_business_minutes(earlier, second - first, calendar, pauses) == later


@FAST
@given(calendar=calendars(), data=st.data())
def test_measuring_is_additive(calendar: BusinessCalendar, data: Any) -> None:
    start = data.draw(starts())
    middle = start + timedelta(minutes=data.draw(st.integers(0, 200_000)))
    end = middle + timedelta(minutes=data.draw(st.integers(0, 200_000)))
    pauses = data.draw(pause_lists(start))
    whole = business_minutes_between(start, end, calendar, pauses)
    assert whole == business_minutes_between(
        start, middle, calendar, pauses
    ) + business_minutes_between(middle, end, calendar, pauses)
    assert 0 <= whole <= business_minutes_between(start, end, calendar)


@settings(max_examples=100, deadline=None)
@given(calendar=calendars(), data=st.data())
def test_segments_add_up(calendar: BusinessCalendar, data: Any) -> None:
    start = data.draw(starts())
    end = start + timedelta(minutes=data.draw(st.integers(-60, 30 * 1440)))
    pauses = data.draw(pause_lists(start))
    segments = segments_between(start, end, calendar, pauses)
    running = sum(s.business_minutes for s in segments if s.kind == "running")
    paused = sum(s.business_minutes for s in segments if s.kind == "paused")
    assert running == business_minutes_between(start, end, calendar, pauses)
    assert running + paused == business_minutes_between(start, end, calendar)
    assert all(s.business_minutes == 0 for s in segments if s.kind in {"holiday", "outside_hours"})
    # They tile [start, end) exactly, in order, with no two neighbours of the same kind.
    if reference.floor_minute(end) > reference.floor_minute(start):
        assert segments[0].start == reference.floor_minute(start)
        assert segments[-1].end == reference.floor_minute(end)
    else:
        assert segments == []
    for before, after in pairwise(segments):
        assert before.end == after.start
        assert before.kind != after.kind
    # Open intervals are the running and paused time.
    opened = sum(
        (to - since) // reference.MINUTE for since, to in open_intervals(start, end, calendar)
    )
    assert opened == running + paused
