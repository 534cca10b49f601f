#!/usr/bin/env python3
"""How long opening a ticket takes while the Celery broker is down (Redis not answering).

    .venv/bin/python bench/dead_broker.py --tickets 20

Opens tickets through `tickets.services.open_ticket` on a throwaway SQLite database with the
broker pointed at a closed port, and prints p50/max. Each one queues a notification job after
commit; publishing gives up after CELERY_TASK_PUBLISH_RETRY_POLICY and
CELERY_BROKER_CONNECTION_TIMEOUT, and the outbox sweep sends the email later. (This was a timed
assertion in tests/tickets/test_tasks.py; the test now checks the 201 and the unsent row.)
This is a measurement, not a test.
"""

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=20)
    args = parser.parse_args()

    var_dir = tempfile.mkdtemp(prefix="dead-broker-")
    os.environ.update(HELPDESK_VAR_DIR=var_dir, DJANGO_SETTINGS_MODULE="helpdesk.settings")
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    logging.disable(logging.CRITICAL)  # each publish logs its failure; the figures are the point
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from customers.factories import CustomerFactory
    from helpdesk.celery import app
    from tickets.services import open_ticket

    app.conf.broker_url, app.conf.broker_transport_options = "redis://127.0.0.1:1/0", {}
    customer = CustomerFactory()
    took = []
    for n in range(args.tickets):
        started = time.perf_counter()
        open_ticket(customer=customer, subject=f"Broker down {n}", body="Hi", actor=None)
        took.append(time.perf_counter() - started)
    print(
        f"open_ticket with the broker down, {args.tickets} tickets: "
        f"p50 {statistics.median(took) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
