"""A stand-alone sweeping process for the exactly-once tests: `python -m tests.slas.sweeper`
with DATABASE_URL naming the test database. It sweeps until no alarm is due (or forever with
--forever), printing one line per sweep. --slow makes every firing take a moment (a sleep in
the rule's note action, inside the firing's transaction) so a test can kill it mid-sweep."""

import argparse
import os
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slow", type=float, default=0.0)
    parser.add_argument("--start-at", type=float, default=0.0, help="time.time() to start at")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    import django

    django.setup()
    from slas.models import RuleAlarm
    from slas.rules import actions
    from slas.rules.engine import sweep_time_rules

    if args.slow:
        note = actions._ACTIONS["add_note"]

        def slow_note(*a, **k):  # type: ignore[no-untyped-def]
            time.sleep(args.slow)
            return note(*a, **k)

        actions._ACTIONS["add_note"] = slow_note
    while time.time() < args.start_at:
        time.sleep(0.005)
    while True:
        result = sweep_time_rules(batch=50)
        print(f"swept {result}", flush=True)
        if not RuleAlarm.objects.exists():
            break
    sys.exit(0)


if __name__ == "__main__":
    main()
