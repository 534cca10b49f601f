#!/usr/bin/env python3
"""Benchmark the business clock (slas.clocks): per-call microseconds, no database.

    .venv/bin/python bench/clock_bench.py
    .venv/bin/python bench/clock_bench.py --repeat 15 --number 2000

Each scenario runs over 64 starts spread through 2026-2027 (every weekday, times inside and
outside hours, both sides of Europe/Paris's clock changes and of the holidays), so no single
lucky start decides the figure. For each scenario, timeit runs `--number` calls `--repeat`
times; the figure is the median run divided by the calls in it (microseconds per call), both
in wall time and in the process's CPU time (the steadier one when other work shares the CPUs). The
zone's offset transitions are cached per year: the first call in a new year pays for them once
(a "cold" figure is printed for that too). The issue's target: add_business_minutes for a 30-day
target on a split-shift calendar with holidays under 50 µs.

This is a measurement, not a test: it asserts only that the fast results agree with themselves
(measuring back gives the target).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slas import clocks

SPLIT_SHIFT = {
    "timezone": "Europe/Paris",
    "hours": {
        day: [["09:00", "12:00"], ["13:00", "17:30"]] for day in ("mon", "tue", "wed", "thu", "fri")
    },
    # About twenty public holidays over the two years (France's, and a few company days).
    "holidays": [
        "2026-01-01", "2026-04-06", "2026-05-01", "2026-05-08", "2026-05-14", "2026-05-25",
        "2026-07-14", "2026-08-15", "2026-11-01", "2026-11-11", "2026-12-24", "2026-12-25",
        "2026-12-31", "2027-01-01", "2027-03-29", "2027-05-01", "2027-05-06", "2027-05-08",
        "2027-05-17", "2027-07-14", "2027-11-01", "2027-11-11", "2027-12-25",
    ],
}  # fmt: skip
ALWAYS_OPEN = {"timezone": "Europe/Paris", "always_open": True}

MONTH = 30 * 24 * 60  # a 30-day target, in business minutes: 43,200


def starts() -> list[datetime]:
    first = datetime(2026, 1, 5, 6, 17, tzinfo=UTC)
    # 64 starts, 11 days and 7h13 apart: every weekday, in and out of hours, all of 2026-2027.
    return [first + i * timedelta(days=11, hours=7, minutes=13) for i in range(64)]


def per_call(
    function: Callable[[], object], *, repeat: int, number: int, timer: Callable[[], float]
) -> float:
    runs = timeit.repeat(function, repeat=repeat, number=number, timer=timer)
    return statistics.median(runs) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9, help="timeit runs per scenario")
    parser.add_argument("--number", type=int, default=1000, help="calls per timeit run")
    args = parser.parse_args()

    split = clocks.BusinessCalendar.from_spec(SPLIT_SHIFT)
    always = clocks.BusinessCalendar.from_spec(ALWAYS_OPEN)
    moments = starts()

    # Cold: the first call pays for the offset transitions of the years it crosses.
    cold_start = datetime(2026, 2, 2, 8, 0, tzinfo=UTC)
    began = timeit.default_timer()
    clocks.add_business_minutes(cold_start, MONTH, split)
    cold = (timeit.default_timer() - began) * 1e6

    for start in moments:  # sanity: measuring back gives the target
        due = clocks.add_business_minutes(start, MONTH, split)
        if clocks.business_minutes_between(start, due, split) != MONTH:
            raise SystemExit(f"measuring back from {due} does not give {MONTH} minutes")

    def cycle(call: Callable[[datetime], object]) -> Callable[[], None]:
        iterator = iter(range(1 << 62))

        def run() -> None:
            call(moments[next(iterator) % len(moments)])

        return run

    scenarios = [
        (
            "add 30-day target (43,200 min), split shift + holidays, Europe/Paris",
            cycle(lambda s: clocks.add_business_minutes(s, MONTH, split)),
        ),
        (
            "add 30-day target, always open",
            cycle(lambda s: clocks.add_business_minutes(s, MONTH, always)),
        ),
        (
            "add 8 hours (480 min), split shift + holidays",
            cycle(lambda s: clocks.add_business_minutes(s, 480, split)),
        ),
        (
            "add 30-day target with 3 pauses, split shift + holidays",
            cycle(
                lambda s: clocks.add_business_minutes(
                    s,
                    MONTH,
                    split,
                    [
                        (s + timedelta(days=2), s + timedelta(days=3)),
                        (s + timedelta(days=10), s + timedelta(days=12, hours=5)),
                        (s + timedelta(days=40), s + timedelta(days=41)),
                    ],
                )
            ),
        ),
        (
            "between over 90 days, split shift + holidays",
            cycle(lambda s: clocks.business_minutes_between(s, s + timedelta(days=90), split)),
        ),
        (
            "segments over 30 days, split shift + holidays (ledger)",
            cycle(lambda s: clocks.segments_between(s, s + timedelta(days=30), split)),
        ),
    ]
    print(f"slas.clocks, median of {args.repeat} runs x {args.number} calls, 64 starts")
    print("  (wall: perf_counter; cpu: this process's CPU time, steadier on a shared machine)")
    print(f"  {'cold first call (offset transitions computed)':<64} {cold:9.1f} µs")
    print(f"  {'scenario':<64} {'wall':>9} {'cpu':>9}  µs/call")
    for label, function in scenarios:
        wall = per_call(function, repeat=args.repeat, number=args.number, timer=time.perf_counter)
        cpu = per_call(function, repeat=args.repeat, number=args.number, timer=time.process_time)
        print(f"  {label:<64} {wall:9.2f} {cpu:9.2f}")


if __name__ == "__main__":
    main()
