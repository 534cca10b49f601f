"""slas.clocks pinned point by point against issue 9's semantics (hand-computed instants).

Expected instants are written in UTC wherever a clock change is near: an aware datetime inside
a repeated hour never compares equal across zones (PEP 495), and UTC says exactly which real
minute is meant. Some cases are also checked against the minute-stepping oracle
(tests/slas/reference_clock.py)."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from slas.clocks import (
    BusinessCalendar,
    CalendarNeverOpens,
    CalendarSpecError,
    Segment,
    add_business_minutes,
    business_minutes_between,
    is_open,
    next_opening,
    open_intervals,
    segments_between,
)
from tests.slas import reference_clock as reference

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
SPLIT = {day: [["09:00", "12:00"], ["13:00", "17:30"]] for day in WORKDAYS}
NINE_TO_FIVE = {day: [["09:00", "17:00"]] for day in WORKDAYS}
ALL_DAY = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def calendar(
    hours: dict[str, Any] | None = None,
    timezone: str = "Europe/Paris",
    holidays: tuple[str, ...] = (),
    *,
    always_open: bool = False,
) -> BusinessCalendar:
    return BusinessCalendar.from_spec(
        {
            "timezone": timezone,
            "hours": SPLIT if hours is None else hours,
            "holidays": list(holidays),
            "always_open": always_open,
        }
    )


def paris(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=PARIS, fold=fold)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# Week of Monday 30 November 2026 (Paris is UTC+1 in winter).
MON = (2026, 11, 30)
TUE = (2026, 12, 1)
FRI = (2026, 12, 4)
SAT = (2026, 12, 5)
NEXT_MON = (2026, 12, 7)


class TestSplitShift:
    def test_adds_within_a_morning(self) -> None:
        assert add_business_minutes(paris(*MON, 9, 0), 60, calendar()) == paris(*MON, 10, 0)

    def test_lunch_is_skipped(self) -> None:
        assert add_business_minutes(paris(*MON, 11, 30), 60, calendar()) == paris(*MON, 13, 30)

    def test_target_used_up_by_last_minute_before_closing_is_due_at_closing_time(self) -> None:
        # Not at the next opening (Tuesday 09:00, or 13:00 after the morning).
        assert add_business_minutes(paris(*MON, 17, 0), 30, calendar()) == paris(*MON, 17, 30)
        assert add_business_minutes(paris(*MON, 11, 0), 60, calendar()) == paris(*MON, 12, 0)
        assert add_business_minutes(paris(*MON, 17, 0), 31, calendar()) == paris(*TUE, 9, 1)

    def test_start_outside_hours_counts_from_the_next_business_minute(self) -> None:
        assert add_business_minutes(paris(*MON, 7, 0), 1, calendar()) == paris(*MON, 9, 1)
        assert add_business_minutes(paris(*MON, 12, 20), 10, calendar()) == paris(*MON, 13, 10)
        assert add_business_minutes(paris(*SAT, 10, 0), 90, calendar()) == paris(*NEXT_MON, 10, 30)

    def test_weekend_is_closed(self) -> None:
        assert add_business_minutes(paris(*FRI, 17, 0), 60, calendar()) == paris(*NEXT_MON, 9, 30)
        assert (
            business_minutes_between(paris(*FRI, 17, 0), paris(*NEXT_MON, 9, 30), calendar()) == 60
        )

    def test_zero_minutes_gives_the_start_itself_even_outside_hours(self) -> None:
        for moment in (paris(*SAT, 10, 0), paris(*MON, 10, 0), paris(*MON, 12, 30)):
            assert add_business_minutes(moment, 0, calendar()) == moment

    def test_measures_business_minutes_in_start_end(self) -> None:
        assert business_minutes_between(paris(*MON, 0, 0), paris(*TUE, 0, 0), calendar()) == 450
        assert business_minutes_between(paris(*MON, 8, 0), paris(*MON, 18, 0), calendar()) == 450
        assert business_minutes_between(paris(*MON, 0, 0), paris(*NEXT_MON, 0, 0), calendar()) == (
            5 * 450
        )
        # [start, end): the minute at end is not counted.
        assert business_minutes_between(paris(*MON, 9, 0), paris(*MON, 9, 1), calendar()) == 1
        assert business_minutes_between(paris(*MON, 11, 59), paris(*MON, 13, 1), calendar()) == 2

    def test_measuring_backwards_or_nothing_is_zero(self) -> None:
        assert business_minutes_between(paris(*TUE, 10, 0), paris(*MON, 10, 0), calendar()) == 0
        assert business_minutes_between(paris(*MON, 10, 0), paris(*MON, 10, 0), calendar()) == 0

    def test_results_are_utc_on_a_whole_minute(self) -> None:
        due = add_business_minutes(paris(*MON, 9, 0, 0), 61, calendar())
        assert due.tzinfo is UTC
        assert due == utc(*MON, 9, 1)


class TestWholeMinutes:
    def test_a_start_with_seconds_is_truncated_to_its_minute(self) -> None:
        start = datetime(*MON, 9, 0, 45, tzinfo=PARIS)
        assert add_business_minutes(start, 0, calendar()) == paris(*MON, 9, 0)
        assert add_business_minutes(start, 1, calendar()) == paris(*MON, 9, 1)

    def test_measuring_counts_whole_minutes_of_truncated_instants(self) -> None:
        start = datetime(*MON, 9, 0, 59, tzinfo=PARIS)
        assert business_minutes_between(start, paris(*MON, 9, 2), calendar()) == 2
        assert business_minutes_between(paris(*MON, 9, 0), start, calendar()) == 0


class TestNightsAndIntervals:
    NIGHT = {"mon": [["22:00", "24:00"]], "tue": [["00:00", "06:00"]]}

    def test_a_night_shift_is_two_touching_intervals(self) -> None:
        night = calendar(self.NIGHT)
        assert add_business_minutes(paris(*MON, 23, 0), 120, night) == paris(*TUE, 1, 0)
        assert business_minutes_between(paris(*MON, 20, 0), paris(*TUE, 8, 0), night) == 480
        assert list(open_intervals(paris(*MON, 0, 0), paris(*TUE, 12, 0), night)) == [
            (paris(*MON, 22, 0), paris(*TUE, 6, 0))
        ]

    def test_overlapping_and_touching_intervals_count_their_union(self) -> None:
        merged = calendar({"mon": [["10:00", "12:00"], ["09:00", "11:00"], ["12:00", "13:00"]]})
        assert merged.week[0] == ((9 * 60, 13 * 60),)
        assert business_minutes_between(paris(*MON, 0, 0), paris(*TUE, 0, 0), merged) == 240

    def test_missing_and_empty_days_are_closed(self) -> None:
        only_monday = calendar({"mon": [["09:00", "10:00"]], "tue": [], "wed": None})
        assert only_monday.week[1:] == ((),) * 6
        assert add_business_minutes(paris(*MON, 9, 30), 60, only_monday) == paris(*NEXT_MON, 9, 30)


class TestHolidays:
    def test_a_holiday_closes_its_day(self) -> None:
        christmas = calendar(holidays=("2026-12-25",))
        # Thursday 24 December, 17:00: 30 minutes left on Thursday, Friday is Christmas.
        assert add_business_minutes(paris(2026, 12, 24, 17, 0), 60, christmas) == paris(
            2026, 12, 28, 9, 30
        )
        assert (
            business_minutes_between(
                paris(2026, 12, 24, 0, 0), paris(2026, 12, 28, 0, 0), christmas
            )
            == 450
        )

    def test_a_holiday_closes_the_whole_local_date_even_on_a_24_hour_calendar(self) -> None:
        new_york = calendar(ALL_DAY, "America/New_York", ("2026-12-25",))
        # 25 December in New York runs from 05:00 UTC on the 25th to 05:00 UTC on the 26th.
        assert (
            business_minutes_between(utc(2026, 12, 25, 0, 0), utc(2026, 12, 26, 0, 0), new_york)
            == 300
        )
        assert (
            business_minutes_between(utc(2026, 12, 25, 5, 0), utc(2026, 12, 26, 5, 0), new_york)
            == 0
        )
        assert add_business_minutes(utc(2026, 12, 25, 4, 0), 61, new_york) == utc(
            2026, 12, 26, 5, 1
        )

    def test_many_holidays_in_a_row_are_walked_over(self) -> None:
        mondays = [date(2026, 1, 5) + timedelta(weeks=week) for week in range(60)]
        only_mondays = calendar(
            {"mon": [["09:00", "10:00"]]}, "UTC", tuple(day.isoformat() for day in mondays)
        )
        assert add_business_minutes(utc(2026, 1, 1, 0, 0), 61, only_mondays) == utc(
            2027, 3, 8, 9, 1
        )

    def test_duplicate_holidays_are_one_holiday(self) -> None:
        twice = calendar(holidays=("2026-12-25", "2026-12-25"))
        assert twice.holidays == frozenset({date(2026, 12, 25)})

    def test_a_holiday_on_a_clock_change_day(self) -> None:
        sundays = calendar(ALL_DAY, holidays=("2026-03-29",))
        # Saturday counts; the 23-hour Sunday is a holiday.
        assert (
            business_minutes_between(paris(2026, 3, 28, 0, 0), paris(2026, 3, 30, 0, 0), sundays)
            == 1440
        )
        fall_back = calendar({"sun": [["01:00", "03:00"]]}, holidays=("2026-10-25",))
        assert (
            business_minutes_between(
                paris(2026, 10, 24, 0, 0), paris(2026, 10, 26, 0, 0), fall_back
            )
            == 0
        )
        assert add_business_minutes(paris(2026, 10, 24, 12, 0), 1, fall_back) == paris(
            2026, 11, 1, 1, 1
        )


class TestAlwaysOpen:
    def test_ignores_hours_holidays_and_timezone(self) -> None:
        always = calendar({}, "Asia/Kolkata", ("2026-12-25",), always_open=True)
        assert always.ever_opens
        assert add_business_minutes(utc(2026, 12, 24, 23, 0), 2 * 1440, always) == utc(
            2026, 12, 26, 23, 0
        )
        # Real minutes, whatever a zone's clocks do: Paris's 23-hour day is 23 hours.
        assert (
            business_minutes_between(paris(2026, 3, 29, 0, 0), paris(2026, 3, 30, 0, 0), always)
            == 1380
        )

    def test_pauses_still_count(self) -> None:
        always = calendar(always_open=True)
        pause = (utc(2026, 1, 1, 10, 0), utc(2026, 1, 1, 11, 0))
        assert add_business_minutes(utc(2026, 1, 1, 9, 0), 120, always, [pause]) == utc(
            2026, 1, 1, 12, 0
        )


class TestParisClockChanges:
    def test_spring_forward_day_has_23_hours(self) -> None:
        sundays = calendar(ALL_DAY)
        assert (
            business_minutes_between(paris(2026, 3, 29, 0, 0), paris(2026, 3, 30, 0, 0), sundays)
            == 1380
        )

    def test_an_opening_inside_the_skipped_hour_opens_when_the_clock_reads_03_00(self) -> None:
        # 02:30-02:59 never happens on 29 March 2026 (02:00 CET becomes 03:00 CEST).
        late = calendar({"sun": [["02:30", "04:00"]]})
        saturday = paris(2026, 3, 28, 12, 0)
        assert business_minutes_between(saturday, paris(2026, 3, 30, 0, 0), late) == 60
        assert next_opening(paris(2026, 3, 29, 0, 0), late) == utc(2026, 3, 29, 1, 0)
        assert add_business_minutes(saturday, 1, late) == utc(2026, 3, 29, 1, 1)
        assert add_business_minutes(saturday, 60, late) == utc(2026, 3, 29, 2, 0)
        # A week later the interval is whole again (90 minutes).
        assert add_business_minutes(saturday, 61, late) == paris(2026, 4, 5, 2, 31)

    def test_an_interval_entirely_inside_the_skipped_hour_never_happens_that_day(self) -> None:
        skipped = calendar({"sun": [["02:00", "03:00"]]})
        assert add_business_minutes(paris(2026, 3, 28, 12, 0), 1, skipped) == paris(
            2026, 4, 5, 2, 1
        )

    def test_a_repeated_hour_inside_opening_hours_counts_twice(self) -> None:
        # 25 October 2026: 03:00 CEST becomes 02:00 CET; 01:00-03:00 lasts three real hours.
        early = calendar({"sun": [["01:00", "03:00"]]})
        saturday = paris(2026, 10, 24, 12, 0)
        assert business_minutes_between(saturday, paris(2026, 10, 26, 0, 0), early) == 180
        start = paris(2026, 10, 25, 1, 0)  # 23:00 UTC on Saturday
        assert add_business_minutes(start, 120, early) == utc(2026, 10, 25, 1, 0)
        # That is 02:00 CET, the second 02:00 of the night (compared in UTC: PEP 495).
        second_two = paris(2026, 10, 25, 2, 0, fold=1).astimezone(UTC)
        assert add_business_minutes(start, 120, early) == second_two
        assert add_business_minutes(start, 180, early) == utc(2026, 10, 25, 2, 0)

    def test_an_opening_inside_the_repeated_hour_opens_twice(self) -> None:
        # 02:30 is read twice: at 00:30 UTC (CEST) and at 01:30 UTC (CET).
        late = calendar({"sun": [["02:30", "05:00"]]})
        saturday = paris(2026, 10, 24, 12, 0)
        assert business_minutes_between(saturday, paris(2026, 10, 26, 0, 0), late) == 30 + 30 + 120
        assert list(open_intervals(saturday, paris(2026, 10, 26, 0, 0), late)) == [
            (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 0)),
            (utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 4, 0)),
        ]
        assert add_business_minutes(saturday, 30, late) == utc(2026, 10, 25, 1, 0)
        assert add_business_minutes(saturday, 31, late) == utc(2026, 10, 25, 1, 31)

    def test_a_closing_inside_the_repeated_hour_closes_twice(self) -> None:
        early = calendar({"sun": [["00:00", "02:30"]]})
        saturday = paris(2026, 10, 24, 12, 0)
        assert list(open_intervals(saturday, paris(2026, 10, 26, 0, 0), early)) == [
            (utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 0, 30)),
            (utc(2026, 10, 25, 1, 0), utc(2026, 10, 25, 1, 30)),
        ]

    def test_weekday_hours_follow_the_wall_clock_across_the_change(self) -> None:
        # Friday 27 March opens at 08:00 UTC, Monday 30 March at 07:00 UTC.
        nine = calendar(NINE_TO_FIVE)
        assert add_business_minutes(paris(2026, 3, 27, 16, 0), 120, nine) == utc(2026, 3, 30, 8, 0)


class TestNewYorkClockChanges:
    def test_spring_forward(self) -> None:
        # 8 March 2026: 02:00 EST becomes 03:00 EDT.
        early = calendar({"sun": [["01:00", "04:00"]]}, "America/New_York")
        start = datetime(2026, 3, 8, 1, 0, tzinfo=NEW_YORK)  # 06:00 UTC
        assert business_minutes_between(start, utc(2026, 3, 9, 0, 0), early) == 120
        assert add_business_minutes(start, 60, early) == utc(2026, 3, 8, 7, 0)
        assert add_business_minutes(start, 90, early) == datetime(
            2026, 3, 8, 3, 30, tzinfo=NEW_YORK
        )

    def test_an_opening_inside_the_skipped_hour(self) -> None:
        late = calendar({"sun": [["02:15", "03:30"]]}, "America/New_York")
        assert next_opening(utc(2026, 3, 7, 0, 0), late) == utc(2026, 3, 8, 7, 0)
        assert business_minutes_between(utc(2026, 3, 7, 0, 0), utc(2026, 3, 9, 0, 0), late) == 30

    def test_fall_back_day_has_25_hours(self) -> None:
        sundays = calendar(ALL_DAY, "America/New_York")
        start = datetime(2026, 11, 1, 0, 0, tzinfo=NEW_YORK)
        end = datetime(2026, 11, 2, 0, 0, tzinfo=NEW_YORK)
        assert business_minutes_between(start, end, sundays) == 1500

    def test_an_opening_inside_the_repeated_hour(self) -> None:
        # 1 November 2026: 01:30 is read at 05:30 UTC (EDT) and at 06:30 UTC (EST).
        late = calendar({"sun": [["01:30", "02:00"]]}, "America/New_York")
        assert list(open_intervals(utc(2026, 10, 31, 0, 0), utc(2026, 11, 2, 0, 0), late)) == [
            (utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 0)),
            (utc(2026, 11, 1, 6, 30), utc(2026, 11, 1, 7, 0)),
        ]

    def test_weekday_hours_across_the_change(self) -> None:
        nine = calendar(NINE_TO_FIVE, "America/New_York")
        friday = datetime(2026, 3, 6, 16, 0, tzinfo=NEW_YORK)  # 21:00 UTC
        assert add_business_minutes(friday, 120, nine) == utc(2026, 3, 9, 14, 0)


class TestSydneyClockChanges:
    """Southern hemisphere: clocks fall back in April and spring forward in October."""

    def test_april_fall_back_repeats_the_hour(self) -> None:
        # 5 April 2026: 03:00 AEDT (+11) becomes 02:00 AEST (+10).
        early = calendar({"sun": [["02:00", "03:00"]]}, "Australia/Sydney")
        saturday = datetime(2026, 4, 4, 12, 0, tzinfo=SYDNEY)
        assert business_minutes_between(saturday, utc(2026, 4, 6, 0, 0), early) == 120
        assert add_business_minutes(saturday, 90, early) == utc(2026, 4, 4, 16, 30)

    def test_october_spring_forward_skips_the_hour(self) -> None:
        # 4 October 2026: 02:00 AEST becomes 03:00 AEDT; an opening at 02:30 happens at 03:00.
        late = calendar({"sun": [["02:30", "04:00"]]}, "Australia/Sydney")
        saturday = datetime(2026, 10, 3, 20, 0, tzinfo=SYDNEY)
        assert next_opening(saturday, late) == utc(2026, 10, 3, 16, 0)
        assert business_minutes_between(saturday, utc(2026, 10, 5, 0, 0), late) == 60

    def test_a_full_working_week_is_unchanged_by_the_change(self) -> None:
        nine = calendar(NINE_TO_FIVE, "Australia/Sydney")
        for monday in (date(2026, 3, 30), date(2026, 4, 6), date(2026, 9, 28), date(2026, 10, 5)):
            start = datetime(monday.year, monday.month, monday.day, tzinfo=SYDNEY)
            assert business_minutes_between(start, start + timedelta(days=7), nine) == 2400


class TestOffsetsOffTheHour:
    def test_kolkata_half_hour_offset(self) -> None:
        kolkata = calendar(NINE_TO_FIVE, "Asia/Kolkata")  # 09:00 IST is 03:30 UTC
        assert add_business_minutes(utc(*MON, 3, 0), 60, kolkata) == utc(*MON, 4, 30)
        assert add_business_minutes(utc(*MON, 11, 0), 60, kolkata) == utc(*TUE, 4, 0)
        assert business_minutes_between(utc(*MON, 0, 0), utc(*TUE, 0, 0), kolkata) == 480

    def test_kathmandu_quarter_hour_offset(self) -> None:
        kathmandu = calendar(NINE_TO_FIVE, "Asia/Kathmandu")  # 09:00 NPT is 03:15 UTC
        assert next_opening(utc(*MON, 0, 0), kathmandu) == utc(*MON, 3, 15)
        assert add_business_minutes(utc(*MON, 0, 0), 1, kathmandu) == utc(*MON, 3, 16)

    def test_adelaide_half_hour_offset_with_summer_time(self) -> None:
        adelaide = calendar(NINE_TO_FIVE, "Australia/Adelaide")  # +10:30 in November
        assert add_business_minutes(utc(2026, 11, 29, 22, 0), 30, adelaide) == utc(
            2026, 11, 29, 23, 0
        )
        # In July (+09:30) Monday 09:00 is 23:30 UTC on Sunday.
        assert next_opening(utc(2026, 7, 5, 12, 0), adelaide) == utc(2026, 7, 5, 23, 30)


class TestPauses:
    def test_a_pause_spanning_closed_hours_loses_only_the_business_minutes_it_covers(
        self,
    ) -> None:
        pause = (paris(*MON, 17, 0), paris(*TUE, 10, 0))
        # Monday 450 + Tuesday morning 180, minus 17:00-17:30 and 09:00-10:00.
        assert (
            business_minutes_between(paris(*MON, 9, 0), paris(*TUE, 12, 0), calendar(), [pause])
            == 540
        )
        assert add_business_minutes(paris(*MON, 17, 0), 30, calendar(), [pause]) == paris(
            *TUE, 10, 30
        )

    def test_overlapping_pauses_count_their_union(self) -> None:
        pauses = [
            (paris(*MON, 10, 0), paris(*MON, 11, 0)),
            (paris(*MON, 10, 30), paris(*MON, 11, 30)),
        ]
        assert (
            business_minutes_between(paris(*MON, 9, 0), paris(*MON, 12, 0), calendar(), pauses)
            == 90
        )

    def test_pauses_may_reach_outside_the_window(self) -> None:
        pauses = [
            (paris(2026, 11, 29, 0, 0), paris(*MON, 10, 0)),
            (paris(*MON, 11, 30), paris(*FRI, 0, 0)),
        ]
        assert (
            business_minutes_between(paris(*MON, 9, 0), paris(*MON, 12, 0), calendar(), pauses)
            == 90
        )
        assert add_business_minutes(paris(*MON, 9, 0), 91, calendar(), pauses) == paris(*FRI, 9, 1)

    def test_a_start_inside_a_pause_waits_for_its_end(self) -> None:
        pause = (paris(*MON, 9, 30), paris(*MON, 11, 0))
        assert add_business_minutes(paris(*MON, 10, 0), 30, calendar(), [pause]) == paris(
            *MON, 11, 30
        )

    def test_pauses_before_the_start_empty_or_backwards_change_nothing(self) -> None:
        pauses = [
            (paris(2026, 11, 1, 0, 0), paris(2026, 11, 2, 0, 0)),
            (paris(*MON, 10, 0), paris(*MON, 10, 0)),
            (paris(*MON, 11, 0), paris(*MON, 10, 0)),
        ]
        assert add_business_minutes(paris(*MON, 9, 0), 120, calendar(), pauses) == paris(
            *MON, 11, 0
        )

    def test_a_pause_ending_exactly_where_the_target_is_used_up(self) -> None:
        pause = (paris(*MON, 9, 0), paris(*MON, 10, 0))
        assert add_business_minutes(paris(*MON, 9, 0), 120, calendar(), [pause]) == paris(
            *MON, 12, 0
        )

    def test_pause_instants_are_truncated_to_their_minute(self) -> None:
        pause = (datetime(*MON, 10, 0, 30, tzinfo=PARIS), datetime(*MON, 10, 5, 30, tzinfo=PARIS))
        assert (
            business_minutes_between(paris(*MON, 10, 0), paris(*MON, 10, 10), calendar(), [pause])
            == 5
        )


class TestSeveralWeeks:
    def test_a_30_day_target_on_a_nine_to_five_week(self) -> None:
        # 43,200 minutes = 90 days of 8 hours = 18 working weeks from Monday 5 January.
        nine = calendar(NINE_TO_FIVE, "UTC")
        due = add_business_minutes(utc(2026, 1, 5, 9, 0), 43_200, nine)
        assert due == utc(2026, 5, 8, 17, 0)
        assert business_minutes_between(utc(2026, 1, 5, 9, 0), due, nine) == 43_200

    def test_90_days_always_open(self) -> None:
        always = calendar(always_open=True)
        # 90 real days (in UTC: a Paris wall-clock + 90 days would lose March's hour).
        start = utc(2026, 2, 1, 12, 0)
        assert business_minutes_between(start, start + timedelta(days=90), always) == 129_600
        assert add_business_minutes(start, 129_600, always) == start + timedelta(days=90)

    def test_a_30_day_target_on_the_split_shift_with_holidays_matches_the_oracle(self) -> None:
        french = calendar(
            holidays=("2026-04-06", "2026-05-01", "2026-05-08", "2026-05-14", "2026-05-25")
        )
        start = paris(2026, 3, 2, 10, 17)
        pauses = [(paris(2026, 3, 10, 15, 0), paris(2026, 3, 16, 11, 0))]
        due = add_business_minutes(start, 43_200, french, pauses)
        assert due == reference.add_business_minutes(start, 43_200, french, pauses)
        assert due.astimezone(PARIS).date() > date(2026, 7, 1)

    def test_90_days_on_the_split_shift_matches_the_oracle(self) -> None:
        french = calendar(holidays=("2026-10-25", "2026-11-11", "2026-12-25", "2027-01-01"))
        start = paris(2026, 10, 20, 8, 0)
        end = start + timedelta(days=90)
        pauses = [(paris(2026, 11, 2, 0, 0), paris(2026, 11, 4, 13, 30))]
        expected = reference.business_minutes_between(start, end, french, pauses)
        assert business_minutes_between(start, end, french, pauses) == expected


class TestNeverOpens:
    def test_a_calendar_without_hours_raises_instead_of_hanging(self) -> None:
        closed = calendar({})
        assert not closed.ever_opens
        with pytest.raises(CalendarNeverOpens):
            add_business_minutes(paris(*MON, 9, 0), 1, closed)
        assert add_business_minutes(paris(*MON, 9, 0), 0, closed) == paris(*MON, 9, 0)
        assert business_minutes_between(paris(*MON, 0, 0), paris(*NEXT_MON, 0, 0), closed) == 0
        assert next_opening(paris(*MON, 9, 0), closed) is None

    def test_no_opening_left_before_the_year_10000(self) -> None:
        start = datetime(9999, 12, 30, tzinfo=UTC)
        with pytest.raises(CalendarNeverOpens):
            add_business_minutes(start, 100_000, calendar())
        with pytest.raises(CalendarNeverOpens):
            add_business_minutes(utc(2026, 1, 1), 10**15, calendar())
        assert next_opening(datetime(9999, 12, 31, 18, 0, tzinfo=UTC), calendar()) is None


class TestBadArguments:
    def test_naive_datetimes_are_refused(self) -> None:
        naive = datetime(2026, 11, 30, 9, 0)  # noqa: DTZ001
        aware = paris(*MON, 9, 0)
        with pytest.raises(ValueError, match="aware"):
            add_business_minutes(naive, 10, calendar())
        with pytest.raises(ValueError, match="aware"):
            business_minutes_between(aware, naive, calendar())
        with pytest.raises(ValueError, match="aware"):
            add_business_minutes(aware, 10, calendar(), [(naive, aware)])
        with pytest.raises(ValueError, match="aware"):
            is_open(naive, calendar())
        with pytest.raises(ValueError, match="aware"):
            next_opening(naive, calendar())
        with pytest.raises(ValueError, match="aware"):
            segments_between(naive, aware, calendar())

    def test_minutes_are_a_whole_non_negative_number(self) -> None:
        with pytest.raises(ValueError, match="zero or more"):
            add_business_minutes(paris(*MON, 9, 0), -1, calendar())
        with pytest.raises(TypeError):
            add_business_minutes(paris(*MON, 9, 0), 1.5, calendar())  # type: ignore[arg-type]


class TestIsOpenAndNextOpening:
    def test_is_open(self) -> None:
        christmas = calendar(holidays=("2026-12-25",))
        assert is_open(paris(*MON, 9, 0), christmas)
        assert is_open(datetime(*MON, 9, 0, 30, tzinfo=PARIS), christmas)
        assert not is_open(datetime(*MON, 8, 59, 59, tzinfo=PARIS), christmas)
        assert not is_open(paris(*MON, 12, 0), christmas)
        assert is_open(paris(*MON, 17, 29), christmas)
        assert not is_open(paris(*MON, 17, 30), christmas)
        assert not is_open(paris(*SAT, 10, 0), christmas)
        assert not is_open(paris(2026, 12, 25, 10, 0), christmas)

    def test_next_opening(self) -> None:
        assert next_opening(paris(*FRI, 18, 0), calendar()) == paris(*NEXT_MON, 9, 0)
        assert next_opening(paris(*MON, 12, 15), calendar()) == paris(*MON, 13, 0)
        assert next_opening(datetime(*MON, 10, 0, 40, tzinfo=PARIS), calendar()) == paris(
            *MON, 10, 0
        )


class TestSegments:
    def test_the_ledger_explains_a_christmas_weekend(self) -> None:
        christmas = calendar(holidays=("2026-12-25",))
        pause = (paris(2026, 12, 28, 9, 0), paris(2026, 12, 28, 9, 30))
        segments = segments_between(
            paris(2026, 12, 24, 16, 0), paris(2026, 12, 28, 10, 0), christmas, [pause]
        )
        assert segments == [
            Segment("running", utc(2026, 12, 24, 15, 0), utc(2026, 12, 24, 16, 30), 90),
            Segment("outside_hours", utc(2026, 12, 24, 16, 30), utc(2026, 12, 24, 23, 0), 0),
            Segment("holiday", utc(2026, 12, 24, 23, 0), utc(2026, 12, 25, 23, 0), 0),
            Segment("outside_hours", utc(2026, 12, 25, 23, 0), utc(2026, 12, 28, 8, 0), 0),
            Segment("paused", utc(2026, 12, 28, 8, 0), utc(2026, 12, 28, 8, 30), 30),
            Segment("running", utc(2026, 12, 28, 8, 30), utc(2026, 12, 28, 9, 0), 30),
        ]

    def test_a_pause_over_the_night_shows_the_night_as_outside_hours(self) -> None:
        pause = (paris(*MON, 17, 0), paris(*TUE, 9, 30))
        segments = segments_between(paris(*MON, 17, 0), paris(*TUE, 10, 0), calendar(), [pause])
        assert [(segment.kind, segment.business_minutes) for segment in segments] == [
            ("paused", 30),
            ("outside_hours", 0),
            ("paused", 30),
            ("running", 30),
        ]

    def test_segments_match_the_oracle_across_a_clock_change(self) -> None:
        early = calendar(
            {"sun": [["01:00", "03:00"]], "sat": [["22:00", "24:00"]]}, holidays=("2026-10-26",)
        )
        start, end = paris(2026, 10, 24, 12, 0), paris(2026, 10, 27, 0, 0)
        pauses = [(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 15))]
        assert segments_between(start, end, early, pauses) == reference.segments_between(
            start, end, early, pauses
        )

    def test_nothing_to_explain(self) -> None:
        assert segments_between(paris(*TUE, 0, 0), paris(*MON, 0, 0), calendar()) == []


class TestOpenIntervals:
    def test_a_split_shift_monday(self) -> None:
        assert list(open_intervals(paris(*MON, 0, 0), paris(*TUE, 0, 0), calendar())) == [
            (paris(*MON, 9, 0), paris(*MON, 12, 0)),
            (paris(*MON, 13, 0), paris(*MON, 17, 30)),
        ]

    def test_clipped_to_the_window_and_lazy(self) -> None:
        window = open_intervals(paris(*MON, 10, 0), paris(2036, 1, 1, 0, 0), calendar())
        assert next(window) == (paris(*MON, 10, 0), paris(*MON, 12, 0))
        assert next(window) == (paris(*MON, 13, 0), paris(*MON, 17, 30))

    def test_always_open_is_one_interval(self) -> None:
        always = calendar(always_open=True)
        assert list(open_intervals(paris(*MON, 0, 0), paris(*TUE, 0, 0), always)) == [
            (paris(*MON, 0, 0), paris(*TUE, 0, 0))
        ]


class TestFromSpec:
    def test_reads_the_api_shape(self) -> None:
        cal = BusinessCalendar.from_spec(
            {
                "timezone": "Europe/Paris",
                "hours": {"mon": [["09:00", "12:00"], ["13:00", "17:30"]], "sun": []},
                "holidays": ["2026-12-25", date(2026, 12, 26)],
                "always_open": False,
                "name": "Paris office",  # other keys of a stored calendar are ignored
            }
        )
        assert cal.timezone == PARIS
        assert cal.week[0] == ((540, 720), (780, 1050))
        assert cal.holidays == frozenset({date(2026, 12, 25), date(2026, 12, 26)})
        assert cal.weekly_minutes == 450
        assert not cal.always_open

    def test_defaults(self) -> None:
        cal = BusinessCalendar.from_spec({})
        assert cal.timezone == ZoneInfo("UTC")
        assert cal.week == ((),) * 7
        assert cal.holidays == frozenset()
        assert not cal.ever_opens

    def test_24_00_ends_a_day(self) -> None:
        cal = calendar({"fri": [["18:00", "24:00"]]})
        assert cal.week[4] == ((1080, 1440),)

    def test_to_spec_gives_the_normalized_shape_back(self) -> None:
        messy = calendar(
            {"mon": [["13:00", "17:30"], ["09:00", "12:00"], ["11:00", "12:00"]]},
            holidays=("2026-12-25", "2026-01-01", "2026-12-25"),
        )
        spec = messy.to_spec()
        assert spec == {
            "timezone": "Europe/Paris",
            "hours": {
                "mon": [["09:00", "12:00"], ["13:00", "17:30"]],
                **{day: [] for day in ("tue", "wed", "thu", "fri", "sat", "sun")},
            },
            "holidays": ["2026-01-01", "2026-12-25"],
            "always_open": False,
        }
        assert BusinessCalendar.from_spec(spec) == messy
        assert calendar({"sun": [["18:00", "24:00"]]}).to_spec()["hours"]["sun"] == [
            ["18:00", "24:00"]
        ]

    def test_a_calendar_survives_pickling_and_copying(self) -> None:
        # A caller may keep calendars in a cache that pickles (Django's Redis cache).
        christmas = calendar(holidays=("2026-12-25",))
        pickled = pickle.loads(pickle.dumps(christmas))  # noqa: S301 (our own bytes)
        for copied in (pickled, copy.deepcopy(christmas)):
            assert copied == christmas
            assert add_business_minutes(paris(2026, 12, 24, 17, 0), 60, copied) == paris(
                2026, 12, 28, 9, 30
            )

    def test_a_calendar_built_directly_is_normalized_too(self) -> None:
        direct = BusinessCalendar(
            ZoneInfo("UTC"),
            (((600, 700), (500, 650)), *((),) * 6),
            {date(2026, 1, 5)},
            False,  # type: ignore[arg-type]
        )
        assert direct.week[0] == ((500, 700),)
        assert direct.holidays == frozenset({date(2026, 1, 5)})
        assert add_business_minutes(utc(2026, 1, 5), 1, direct) == utc(2026, 1, 12, 8, 21)
        with pytest.raises(ValueError, match="seven days"):
            BusinessCalendar(ZoneInfo("UTC"), ((),), frozenset(), False)

    def test_equal_specs_give_equal_hashable_calendars(self) -> None:
        assert calendar() == calendar()
        assert hash(calendar()) == hash(calendar())
        assert calendar() != calendar(holidays=("2026-12-25",))

    @pytest.mark.parametrize(
        ("spec", "field"),
        [
            (["not", "an", "object"], "calendar"),
            ({"timezone": "Mars/Olympus"}, "timezone"),
            ({"timezone": ""}, "timezone"),
            ({"timezone": "../../etc/passwd"}, "timezone"),
            ({"timezone": 1}, "timezone"),
            ({"timezone": None}, "timezone"),
            ({"hours": [["09:00", "17:00"]]}, "hours"),
            ({"hours": {"monday": []}}, "hours"),
            ({"hours": {1: []}}, "hours"),
            ({"hours": {"mon": "09:00-17:00"}}, "hours.mon"),
            ({"hours": {"mon": [["09:00", "12:00", "13:00"]]}}, "hours.mon.0"),
            ({"hours": {"mon": ["09:00"]}}, "hours.mon.0"),
            ({"hours": {"mon": [["9:00", "12:00"]]}}, "hours.mon.0"),
            ({"hours": {"mon": [["09:00", "12:60"]]}}, "hours.mon.0"),
            ({"hours": {"mon": [["09:00", "25:00"]]}}, "hours.mon.0"),
            ({"hours": {"mon": [["09:00", "24:30"]]}}, "hours.mon.0"),
            ({"hours": {"mon": [["09:00", "12:00\n"]]}}, "hours.mon.0"),
            ({"hours": {"mon": [[900, 1200]]}}, "hours.mon.0"),
            ({"hours": {"tue": [["09:00", "12:00"], ["24:00", "24:00"]]}}, "hours.tue.1"),
            ({"hours": {"wed": [["17:00", "09:00"]]}}, "hours.wed.0"),
            ({"hours": {"wed": [["22:00", "06:00"]]}}, "hours.wed.0"),
            ({"hours": {"wed": [["09:00", "09:00"]]}}, "hours.wed.0"),
            ({"holidays": "2026-12-25"}, "holidays"),
            ({"holidays": {"2026-12-25": True}}, "holidays"),
            ({"holidays": [20261225]}, "holidays.0"),
            ({"holidays": ["2026-12-25", "2026-02-30"]}, "holidays.1"),
            ({"holidays": ["20261225"]}, "holidays.0"),
            ({"holidays": ["2026-W52-5"]}, "holidays.0"),
            ({"holidays": [None]}, "holidays.0"),
            ({"holidays": [datetime(2026, 12, 25, tzinfo=UTC)]}, "holidays.0"),
            ({"always_open": "yes"}, "always_open"),
            ({"always_open": 1}, "always_open"),
        ],
    )
    def test_bad_specs_name_the_field(self, spec: Any, field: str) -> None:
        with pytest.raises(CalendarSpecError) as caught:
            BusinessCalendar.from_spec(spec)
        assert caught.value.field == field
        assert caught.value.message
        assert str(caught.value).startswith(f"{field}: ")
        assert isinstance(caught.value, ValueError)
