"""`manage.py seed_demo`: a believable online shop's support desk, at any size.

    manage.py seed_demo                      # people + 3,000 tickets over the past 6 months
    manage.py seed_demo --if-empty           # only when there are no tickets yet (scripts/run)
    manage.py seed_demo --reset              # delete every ticket first, then seed
    manage.py seed_demo --tickets 1000000    # bulk load for benchmarks, with progress

Running it again is safe: teams, staff logins, tiers, organizations and demo customers that
already exist are kept (customers are topped up to `--customers`), and `--tickets` more tickets
are added. `--reset` deletes all tickets (with their messages, events and outbox rows) first;
people are never deleted.
"""

import random
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from accounts.factories import DEFAULT_PASSWORD
from tickets import demo
from tickets.models import Ticket
from tickets.signals import demo_seeded

# On PostgreSQL, loads at least this big drop and rebuild the ticket tables' secondary indexes.
DROP_INDEXES_FROM = 50_000


class Command(BaseCommand):
    help = "Seed a demo shop support desk: teams, agents, customers and tickets with history."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tickets", type=int, default=3000, help="Tickets to add.")
        parser.add_argument(
            "--customers",
            type=int,
            default=None,
            help="Demo customers to have (default: 300, or one per 20 tickets up to 50,000).",
        )
        parser.add_argument("--days", type=int, default=180, help="Spread tickets over N days.")
        parser.add_argument(
            "--messages-per-ticket", type=float, default=3.0, help="Average conversation length."
        )
        parser.add_argument("--batch-size", type=int, default=5000, help="Tickets per insert.")
        parser.add_argument("--seed", type=int, default=1, help="Random seed (repeatable data).")
        parser.add_argument("--reset", action="store_true", help="Delete all tickets first.")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing if any ticket exists."
        )
        indexes = parser.add_mutually_exclusive_group()
        indexes.add_argument(
            "--drop-indexes",
            dest="drop_indexes",
            action="store_true",
            default=None,
            help=f"PostgreSQL: drop and rebuild secondary indexes around the load "
            f"(default from {DROP_INDEXES_FROM:,} tickets).",
        )
        indexes.add_argument("--keep-indexes", dest="drop_indexes", action="store_false")

    def handle(self, *args, **options) -> None:
        count = options["tickets"]
        if count < 0 or options["batch_size"] < 1 or options["days"] < 1:
            raise CommandError("--tickets must be >= 0, --batch-size and --days >= 1.")
        if options["if_empty"] and Ticket.objects.exists():
            self.stdout.write("Tickets exist already; nothing to seed (--if-empty).")
            return
        started = time.monotonic()
        if options["reset"]:
            deleted = demo.delete_all_tickets()
            self.log(f"Deleted {deleted:,} tickets (--reset).")

        existing = Ticket.objects.count()
        # Another run on the same desk gets new random choices, still repeatable.
        rng = random.Random(f"{options['seed']}-{existing}")
        customers = options["customers"]
        if customers is None:
            customers = max(300, min(count // 20, 50_000))
        cast = demo.ensure_people(customers=customers, rng=rng, log=self.log)

        drop_indexes = options["drop_indexes"]
        if drop_indexes is None:
            drop_indexes = count >= DROP_INDEXES_FROM
        if count:
            self.log(f"Writing {count:,} tickets ({connection.vendor})...")
            result = demo.load_tickets(
                count=count,
                cast=cast,
                rng=rng,
                days=options["days"],
                messages_per_ticket=options["messages_per_ticket"],
                batch_size=options["batch_size"],
                drop_indexes=drop_indexes,
                log=self.log,
            )
            self.log(
                f"Wrote {result.tickets:,} tickets, {result.messages:,} messages and "
                f"{result.events:,} events in {result.seconds:.1f}s "
                f"({result.tickets / max(result.seconds, 0.001):,.0f} tickets/s)."
            )
        # SLA calendars and policies with a past, chat sites: added by the apps that own them.
        demo_seeded.send(sender=self.__class__, tickets=count, rng=rng, log=self.log)
        self.log(f"Done in {time.monotonic() - started:.1f}s; {Ticket.objects.count():,} tickets.")
        self.stdout.write(self.style.SUCCESS(f"Demo logins (password: {DEFAULT_PASSWORD}):"))
        for username, what in demo.iter_logins():
            self.stdout.write(f"  {username:<10} {what}")

    def log(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
