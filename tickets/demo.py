"""Demo data for `manage.py seed_demo`: the people of a small online shop's support desk, and
any number of tickets with believable conversations and history.

People (teams, agents, tiers, organizations, customers) come from the factories the tests use.
Tickets are history, not new changes: they are written as rows in bulk (PostgreSQL COPY, or
`executemany` elsewhere) with past timestamps, the first-reply, solved and closed times, the
search document and the audit events that `tickets.services` would have recorded along the way.
Going through the services instead would stamp everything "now", queue an email per ticket and
take hours for a million tickets.
"""

import itertools
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from django.db import connection, models, transaction
from django.utils import timezone
from faker import Faker

from accounts.factories import AgentFactory, UserFactory
from accounts.models import AgentProfile, Availability, Role, Team, User
from accounts.selectors import active_agents
from customers.factories import CustomerFactory, OrganizationFactory, standard_tiers
from customers.models import Customer, Organization, Tag, Tier
from tickets import demo_content as content
from tickets.models import (
    Channel,
    EventKind,
    Message,
    Priority,
    SenderKind,
    Status,
    Ticket,
    TicketEvent,
    TicketType,
)
from tickets.services import plain_text, sanitize_body

# username, first name, last name, role, teams (None: every team), timezone
STAFF = [
    ("admin", "Ada", "Okafor", Role.ADMIN, None, "Europe/London"),
    ("manager", "Maya", "Patel", Role.MANAGER, None, "Europe/London"),
    ("agent", "Alex", "Morgan", Role.AGENT, ["Orders & Shipping"], "Europe/London"),
    ("sam", "Sam", "Rivera", Role.AGENT, ["Orders & Shipping"], "America/New_York"),
    ("jordan", "Jordan", "Lee", Role.AGENT, ["Returns & Refunds"], "Europe/Berlin"),
    ("priya", "Priya", "Shah", Role.AGENT, ["Returns & Refunds"], "Asia/Kolkata"),
    ("lucas", "Lucas", "Martin", Role.AGENT, ["Payments"], "Europe/Paris"),
    ("emma", "Emma", "Jensen", Role.AGENT, ["Payments", "Orders & Shipping"], "Europe/Berlin"),
    ("noah", "Noah", "Kim", Role.AGENT, ["Product questions"], "America/Chicago"),
    ("lena", "Lena", "Fischer", Role.AGENT, ["Product questions", "Returns & Refunds"],
     "Europe/Berlin"),
]  # fmt: skip
DEMO_CUSTOMER = ("customer", "Chris", "Carter", "customer@shop.example")
DEMO_EXTERNAL_ID_PREFIX = "demo-"
ORGANIZATIONS = 30

TIER_WEIGHTS = {"standard": 60, "silver": 25, "gold": 11, "vip": 4}
LIFETIME_VALUE = {  # range per tier, in the shop's currency
    "standard": (0, 300),
    "silver": (300, 1500),
    "gold": (1500, 5000),
    "vip": (5000, 25000),
}
EMAIL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "gmx.de"]

CHANNEL_WEIGHTS = {Channel.EMAIL: 38, Channel.WEB: 27, Channel.CHAT: 20, Channel.PHONE: 8,
                   Channel.API: 7}  # fmt: skip
# Tickets get older; most old ones are closed, most young ones still being worked.
STATUS_BY_AGE: list[tuple[int, dict[str, float]]] = [  # (younger than N days, weights)
    (1, {Status.NEW: 35, Status.OPEN: 35, Status.PENDING: 15, Status.ON_HOLD: 3,
         Status.SOLVED: 12}),
    (3, {Status.NEW: 10, Status.OPEN: 30, Status.PENDING: 20, Status.ON_HOLD: 5,
         Status.SOLVED: 35}),
    (7, {Status.NEW: 3, Status.OPEN: 15, Status.PENDING: 12, Status.ON_HOLD: 5,
         Status.SOLVED: 65}),
    (10**6, {Status.NEW: 0.5, Status.OPEN: 3, Status.PENDING: 3, Status.ON_HOLD: 1.5,
             Status.SOLVED: 7, Status.CLOSED: 85}),
]  # fmt: skip
AUTO_CLOSE_AFTER = timedelta(days=4)
POOL_SIZE = 150  # rendered variants per topic and kind of text


# --- people ---------------------------------------------------------------------------------


@dataclass
class Cast:
    """Who the tickets are about and who works them, as plain ids and names."""

    teams: dict[str, int]
    agents_by_team: dict[int, list[tuple[int, str]]]
    # (customer id, login user id or None, first name for greetings, tier slug)
    customers: list[tuple[int, int | None, str, str]]
    demo_customer: int
    tags: dict[str, int]
    created: dict[str, int] = field(default_factory=dict)


def ensure_people(*, customers: int, rng: random.Random, log: Callable[[str], None]) -> Cast:
    """Teams, staff logins, tiers, organizations, tags and `customers` demo customers; only
    what is missing is created, so running it again changes nothing."""
    created: dict[str, int] = {}
    teams = {}
    for name, description in content.TEAMS.items():
        team, was_created = Team.objects.get_or_create(
            name=name, defaults={"description": description}
        )
        teams[name] = team
        created["teams"] = created.get("teams", 0) + was_created

    for username, first, last, role, team_names, tz in STAFF:
        if User.objects.filter(username=username).exists():
            continue
        AgentFactory(
            username=username,
            first_name=first,
            last_name=last,
            email=f"{username}@shop.example",
            profile__role=role,
            profile__timezone=tz,
            profile__availability=rng.choice(list(Availability.values)),
            profile__teams=[teams[n] for n in (team_names or teams)],
        )
        created["staff"] = created.get("staff", 0) + 1
    manager = active_agents().filter(username="manager").first()
    if manager is not None:
        Team.objects.filter(name__in=list(content.TEAMS), manager__isnull=True).update(
            manager=manager
        )

    tiers = {tier.slug: tier for tier in standard_tiers()}
    tag_names = {t for topic in content.TOPICS for t in topic["tags"]}
    tag_names |= {*content.EXTRA_TAGS, *content.CUSTOMER_TAGS, "vip"}
    Tag.objects.bulk_create([Tag(name=n) for n in sorted(tag_names)], ignore_conflicts=True)
    tags = dict(Tag.objects.filter(name__in=tag_names).values_list("name", "id"))

    fake = Faker()
    fake.seed_instance(rng.random())
    tries = 0
    while Organization.objects.count() < ORGANIZATIONS and tries < ORGANIZATIONS * 3:
        OrganizationFactory(name=fake.unique.company(), domain=fake.domain_name())
        tries += 1

    demo_customer = _ensure_demo_customer(tiers["gold"])
    created["customers"] = _ensure_customers(customers, tiers=tiers, tags=tags, rng=rng, fake=fake)

    agents_by_team: dict[int, list[tuple[int, str]]] = {}
    for user_id, first, team_id in AgentProfile.objects.filter(
        role=Role.AGENT, user__is_active=True, teams__isnull=False
    ).values_list("user_id", "user__first_name", "teams"):
        agents_by_team.setdefault(team_id, []).append((user_id, first or "The team"))
    everyone = sorted({a for members in agents_by_team.values() for a in members})
    if not everyone:  # a desk without agents still gets tickets, answered by staff
        everyone = [
            (p.user_id, p.user.first_name or p.user.username)
            for p in AgentProfile.objects.select_related("user")
        ]
    for team in teams.values():
        agents_by_team.setdefault(team.pk, everyone)
    agents_by_team[0] = everyone  # for tickets without a team

    customer_rows: list[tuple[int, int | None, str, str]] = [
        (pk, user_id, _greeting_name(name), tier)
        for pk, user_id, name, tier in Customer.objects.values_list(
            "id", "user_id", "name", "tier__slug"
        ).order_by("id")
    ]
    log(
        f"People: {len(teams)} teams, {len(everyone)} agents, {len(customer_rows):,} customers "
        f"({created['customers']:,} new), {Organization.objects.count()} organizations."
    )
    return Cast(
        teams={name: t.pk for name, t in teams.items()},
        agents_by_team=agents_by_team,
        customers=customer_rows,
        demo_customer=demo_customer.pk,
        tags=tags,
        created=created,
    )


def _greeting_name(name: str) -> str:
    first = (name or "").split(" ")[0]
    return first if first.isalpha() else "there"


def _ensure_demo_customer(tier: Tier) -> Customer:
    username, first, last, email = DEMO_CUSTOMER
    existing = Customer.objects.filter(user__username=username).first()
    if existing is not None:
        return existing
    user = User.objects.filter(username=username).first() or UserFactory.create(
        username=username, first_name=first, last_name=last, email=email
    )
    return CustomerFactory.create(
        user=user,
        name=f"{first} {last}",
        email=email,
        external_id=f"{DEMO_EXTERNAL_ID_PREFIX}customer",
        tier=tier,
        lifetime_value=Decimal("2480.50"),
        notes="The demo customer login: signs in as `customer`.",
    )


def _ensure_customers(
    wanted: int, *, tiers: dict[str, Tier], tags: dict[str, int], rng: random.Random, fake: Faker
) -> int:
    """Top the demo customers up to `wanted`, in bulk (the factories build, one INSERT per
    thousand). About one in twelve gets a login."""
    have = Customer.objects.filter(external_id__startswith=DEMO_EXTERNAL_ID_PREFIX).count()
    missing = max(0, wanted - have)
    if not missing:
        return 0
    first_names = [fake.first_name() for _ in range(400)]
    last_names = [fake.last_name() for _ in range(400)]
    organizations = list(Organization.objects.all()[:ORGANIZATIONS])
    tier_slugs, tier_weights = list(TIER_WEIGHTS), list(TIER_WEIGHTS.values())
    start = Customer.objects.count()
    for chunk_start in range(0, missing, 2000):
        built, logins = [], []
        for i in range(chunk_start, min(missing, chunk_start + 2000)):
            n = start + i + 1
            first, last = rng.choice(first_names), rng.choice(last_names)
            local = "".join(ch for ch in f"{first}.{last}".lower() if ch.isalnum() or ch == ".")
            email = f"{local}{n}@{rng.choice(EMAIL_DOMAINS)}"
            slug = rng.choices(tier_slugs, tier_weights)[0]
            low, high = LIFETIME_VALUE[slug]
            customer = CustomerFactory.build(
                name=f"{first} {last}",
                email=email,
                external_id=f"{DEMO_EXTERNAL_ID_PREFIX}{n:07d}",
                tier=tiers[slug],
                lifetime_value=Decimal(rng.randint(low * 100, high * 100)) / 100,
                organization=rng.choice(organizations)
                if organizations and rng.random() < 0.15
                else None,
            )
            if rng.random() < 0.08:
                logins.append(
                    (
                        customer,
                        UserFactory.build(
                            username=email, email=email, first_name=first, last_name=last
                        ),
                    )
                )
            built.append(customer)
        with transaction.atomic():
            User.objects.bulk_create([user for _, user in logins])
            for customer, user in logins:
                customer.user = user
            Customer.objects.bulk_create(built)
            Customer.tags.through.objects.bulk_create(
                [
                    Customer.tags.through(customer_id=c.pk, tag_id=tags[name])
                    for c in built
                    if rng.random() < 0.3
                    for name in rng.sample(content.CUSTOMER_TAGS, rng.randint(1, 2))
                ]
                + [
                    Customer.tags.through(customer_id=c.pk, tag_id=tags["vip"])
                    for c in built
                    if c.tier.slug == "vip"
                ]
            )
    return missing


# --- writing rows in bulk -------------------------------------------------------------------


class Table:
    """Rows for one table, in the order of `columns` (attnames). Columns another part of the
    project adds later get their model default, so the loader keeps working."""

    def __init__(self, model: type[models.Model], columns: list[str]) -> None:
        meta = model._meta
        self.table = meta.db_table
        # Columns are concrete fields, never reverse relations.
        given = [cast(models.Field, meta.get_field(c.removesuffix("_id"))) for c in columns]
        extra = [
            f
            for f in meta.concrete_fields
            if f.attname not in columns and not f.primary_key and not f.null
        ]
        self.columns = [str(f.column) for f in given + extra]
        self.tail = tuple(f.get_db_prep_save(f.get_default(), connection) for f in extra)
        self.datetime_positions = [
            i for i, f in enumerate(given) if isinstance(f, models.DateTimeField)
        ]
        self.rows: list[tuple] = []

    def add(self, *values: Any) -> None:
        self.rows.append(values)

    def flush(self, cursor: Any) -> int:
        rows, self.rows = self.rows, []
        if not rows:
            return 0
        names = ", ".join(connection.ops.quote_name(c) for c in self.columns)
        table = connection.ops.quote_name(self.table)
        tail = self.tail
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row + tail)
        else:
            adapt = connection.ops.adapt_datetimefield_value
            positions = self.datetime_positions
            prepared = []
            for row in rows:
                values = list(row)
                for i in positions:
                    values[i] = adapt(values[i])
                prepared.append((*values, *tail))
            marks = ", ".join(["%s"] * len(self.columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", prepared)  # noqa: S608 - names from model meta
        return len(rows)


class Ids:
    """Primary keys handed out before the rows exist, so messages, events and tags can point
    at their ticket in the same bulk load."""

    def __init__(self, model: type[models.Model], *, chunk: int) -> None:
        self.model, self.chunk = model, max(1, chunk)
        self.free: list[int] = []
        self.next_local: int | None = None

    def take(self) -> int:
        if not self.free:
            self.free = self._reserve(self.chunk)
            self.free.reverse()
        return self.free.pop()

    def _reserve(self, count: int) -> list[int]:
        table = self.model._meta.db_table
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [table, count],
                )
                return [row[0] for row in cursor.fetchall()]
            if self.next_local is None:
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608 - model table
                highest = cursor.fetchone()[0]
                if connection.vendor == "sqlite":
                    # AUTOINCREMENT never reuses an id, even of a deleted row; neither do we.
                    cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
                    row = cursor.fetchone()
                    highest = max(highest, row[0] if row else 0)
                self.next_local = highest + 1
        start, self.next_local = self.next_local, self.next_local + count
        return list(range(start, start + count))


# --- text pools -----------------------------------------------------------------------------


class _Fill(dict):
    """Leaves the per-ticket placeholders ({first}, {agent}) for later."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fillers(rng: random.Random) -> _Fill:
    size, other = rng.sample(content.SIZES, 2)
    return _Fill(
        order=f"#{rng.randint(100000, 999999)}",
        product=rng.choice(content.PRODUCTS),
        size=size,
        other_size=other,
        carrier=rng.choice(content.CARRIERS),
        tracking=f"{rng.choice(['JD', '1Z', 'LX', 'RR'])}{rng.randint(10**11, 10**12 - 1)}",
        code=rng.choice(content.CODES),
        amount=f"${rng.randint(12, 260)}.{rng.choice(['00', '50', '95', '99'])}",
        days=str(rng.randint(3, 12)),
        card=rng.choice(content.CARDS),
    )


def _render(templates: list[str], rng: random.Random, suffix: str = "") -> list[tuple[str, str]]:
    """(sanitized body, plain text) pairs, as `post_message` would store and index them."""
    out = []
    for _ in range(POOL_SIZE):
        text = rng.choice(templates).format_map(_fillers(rng)) + suffix
        body = sanitize_body(text)
        out.append((body, plain_text(body)))
    return out


@dataclass
class Topic:
    name: str
    team: str
    types: tuple[list[str], list[float]]
    priorities: tuple[list[str], list[float]]
    tags: list[str]
    subjects: list[str]
    openers: list[tuple[str, str]]
    replies: list[tuple[str, str]]
    followups: list[tuple[str, str]]
    notes: list[tuple[str, str]]
    closings: list[tuple[str, str]]


def build_topics(rng: random.Random) -> tuple[list[Topic], list[float]]:
    topics = []
    sign_off = content.AGENT_SIGN_OFF
    for raw in content.TOPICS:
        topics.append(
            Topic(
                name=raw["name"],
                team=raw["team"],
                types=(list(raw["types"]), list(raw["types"].values())),
                priorities=(list(raw["priorities"]), list(raw["priorities"].values())),
                tags=raw["tags"],
                subjects=[
                    rng.choice(raw["subjects"]).format_map(_fillers(rng))[:200]
                    for _ in range(POOL_SIZE)
                ],
                openers=_render(raw["openers"], rng),
                replies=_render(raw["replies"], rng, sign_off),
                followups=_render(raw["followups"] + content.CUSTOMER_NUDGES[:1], rng),
                notes=_render(raw["notes"], rng),
                closings=_render(raw["closings"], rng, sign_off),
            )
        )
    return topics, [raw["weight"] for raw in content.TOPICS]


# --- tickets --------------------------------------------------------------------------------


@dataclass
class LoadResult:
    tickets: int = 0
    messages: int = 0
    events: int = 0
    seconds: float = 0.0


class TicketMaker:
    """Turns random choices into rows: one ticket, its conversation, tags and audit events."""

    def __init__(
        self,
        *,
        cast: Cast,
        rng: random.Random,
        now: datetime,
        days: int,
        messages_per_ticket: float,
        demo_customer_tickets: int,
        count: int,
    ) -> None:
        self.cast, self.rng, self.now, self.days = cast, rng, now, days
        self.mean_messages = max(1.0, messages_per_ticket)
        self.topics, self.topic_weights = build_topics(rng)
        self.nudges = _render(content.CUSTOMER_NUDGES, rng)
        self.hold_notes = _render(content.ON_HOLD_NOTES, rng)
        self.hold_replies = _render(content.ON_HOLD_REPLIES, rng, content.AGENT_SIGN_OFF)
        self.channels, self.channel_weights = list(CHANNEL_WEIGHTS), list(CHANNEL_WEIGHTS.values())
        self.status_tables = [
            (limit, list(weights), list(weights.values())) for limit, weights in STATUS_BY_AGE
        ]
        self.customers_by_id = {c[0]: c for c in cast.customers}
        # Ticket.customer_tier, written with the row as open_ticket does.
        self.tier_ids = dict(Tier.objects.values_list("slug", "id"))
        self.demo_customer_tickets = demo_customer_tickets
        # Reserve no more ticket ids than needed: references (HD-1042) stay without gaps.
        self.ticket_ids = Ids(Ticket, chunk=min(20_000, count))
        self.message_ids = Ids(Message, chunk=20_000)
        self.problems: list[int] = []
        self.count = 0
        tag_field = Ticket.tags.through
        self.tickets = Table(
            Ticket,
            ["id", "subject", "customer_id", "customer_tier_id", "status", "priority", "type",
             "channel", "team_id", "assignee_id", "parent_id", "created_at", "updated_at",
             "first_agent_reply_at", "solved_at", "closed_at", "search_document"],
        )  # fmt: skip
        self.messages = Table(
            Message,
            ["id", "ticket_id", "author_id", "sender", "is_internal", "body", "created_at"],
        )
        self.events = Table(TicketEvent, ["ticket_id", "actor_id", "kind", "data", "created_at"])
        self.ticket_tags = Table(tag_field, ["ticket_id", "tag_id"])

    def flush(self) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            for table in (self.tickets, self.messages, self.events, self.ticket_tags):
                table.flush(cursor)

    def _forced(self) -> dict[str, Any]:
        """The first tickets of a run cover every status, channel, priority and type, and give
        the demo customer a ticket in each status."""
        i = self.count
        statuses, channels = list(Status.values), list(Channel.values)
        forced: dict[str, Any] = {}
        if i < len(statuses):
            forced["status"] = statuses[i]
            forced["age_days"] = [0.1, 1.5, 2.5, 4, 6, 30][i]
            if i < self.demo_customer_tickets:
                forced["customer"] = self.cast.demo_customer
        if i < len(channels):
            forced["channel"] = channels[i]
            forced["priority"] = Priority.values[i % len(Priority.values)]
            forced["type"] = TicketType.values[i % len(TicketType.values)]
        return forced

    def _status_for(self, age_days: float) -> str:
        for limit, statuses, weights in self.status_tables:
            if age_days < limit:
                return self.rng.choices(statuses, weights)[0]
        raise AssertionError("unreachable")

    def _shape(self, status: str) -> list[str]:
        """The conversation as kinds: C(ustomer), A(gent public reply), N(ote)."""
        rng = self.rng
        if status == Status.NEW:
            return ["C", "C"] if rng.random() < 0.15 else ["C"]
        top = max(2, round(2 * self.mean_messages) - 2)
        n = rng.randint(2, top) if top > 2 else 2
        kinds = ["C" if i % 2 == 0 else "A" for i in range(n)]
        if status == Status.OPEN and kinds[-1] == "A":
            kinds.append("C")
        elif status in (Status.PENDING, Status.SOLVED, Status.CLOSED) and kinds[-1] == "C":
            kinds.append("A")
        elif status == Status.ON_HOLD:
            if kinds[-1] == "A":
                kinds.pop()
            kinds += ["N", "A"]
        if rng.random() < 0.15 and len(kinds) > 2:
            at = rng.randrange(1, len(kinds))
            if kinds[at] == "A":
                kinds.insert(at, "N")
        return kinds

    def make(self) -> int:
        rng, cast, now = self.rng, self.cast, self.now
        forced = self._forced()
        self.count += 1
        ticket_id = self.ticket_ids.take()

        age_days = forced.get("age_days") or max(
            10 / 1440, self.days * rng.random() ** 1.25
        )  # growing shop: more tickets lately
        created = now - timedelta(days=age_days)
        status = forced.get("status") or self._status_for(age_days)
        if status == Status.CLOSED and age_days < 6:
            status = Status.SOLVED
        topic = rng.choices(self.topics, self.topic_weights)[0]
        customer_id, customer_user, first_name, tier = (
            self.customers_by_id[forced["customer"]]
            if "customer" in forced
            else rng.choice(cast.customers)
        )
        team_id = cast.teams.get(topic.team)
        if status == Status.NEW and rng.random() < 0.1:
            team_id = None  # not routed yet
        agents = cast.agents_by_team[team_id or 0]
        assignee_id, agent_name = rng.choice(agents) if agents else (None, "The team")
        if status == Status.NEW and rng.random() < 0.7:
            assignee_id = None
        replier_id = assignee_id or (agents[0][0] if agents else None)
        channel = forced.get("channel") or rng.choices(self.channels, self.channel_weights)[0]
        priority = forced.get("priority") or rng.choices(*topic.priorities)[0]
        ticket_type = forced.get("type") or rng.choices(*topic.types)[0]
        parent_id = None
        if ticket_type == TicketType.PROBLEM:
            self.problems.append(ticket_id)
            self.problems = self.problems[-50:]
        elif ticket_type == TicketType.INCIDENT and self.problems and rng.random() < 0.05:
            parent_id = rng.choice(self.problems)

        # The conversation, with gaps people take to answer, squeezed to fit before now.
        kinds = self._shape(status)
        gaps = [0.0]
        for previous, kind in itertools.pairwise(kinds):
            if kind == "N":
                gaps.append(60 + rng.random() * 1800)
            elif kind == "A":
                gaps.append(120 + rng.expovariate(1 / (4 * 3600)))
            elif previous == "C":
                gaps.append(3600 + rng.expovariate(1 / (30 * 3600)))  # a nudge
            else:
                gaps.append(300 + rng.expovariate(1 / (18 * 3600)))
        room = age_days * 86400 * (0.5 if status == Status.CLOSED else 0.9)
        total = sum(gaps)
        scale = room / total if total > room else 1.0
        at = created
        times = []
        for gap in gaps:
            at += timedelta(seconds=gap * scale)
            times.append(at)

        last_a = max(i for i, k in enumerate(kinds) if k == "A") if "A" in kinds else None
        subject = rng.choice(topic.subjects)
        document = [subject]
        first_reply_at = None
        events = self.events
        message_ids = []
        for i, (kind, when) in enumerate(zip(kinds, times, strict=True)):
            message_id = self.message_ids.take()
            message_ids.append(message_id)
            if kind == "C":
                if i == 0:
                    body, plain = rng.choice(topic.openers)
                elif kinds[i - 1] == "C":
                    body, plain = rng.choice(self.nudges)
                else:
                    body, plain = rng.choice(topic.followups)
                author, sender, internal = customer_user, SenderKind.CUSTOMER, False
                if i == 0 and channel == Channel.PHONE:
                    # Typed in by an agent for the caller: still the customer's words, so
                    # (as in `open_ticket`) it does not count as a reply.
                    author, sender = replier_id, SenderKind.AGENT
            elif kind == "A":
                if i == last_a and status in (Status.SOLVED, Status.CLOSED):
                    body, plain = rng.choice(topic.closings)
                elif i == last_a and status == Status.ON_HOLD:
                    body, plain = rng.choice(self.hold_replies)
                else:
                    body, plain = rng.choice(topic.replies)
                author, sender, internal = replier_id, SenderKind.AGENT, False
                if first_reply_at is None:
                    first_reply_at = when
            else:
                pool = self.hold_notes if status == Status.ON_HOLD else topic.notes
                body, plain = rng.choice(pool)
                author, sender, internal = replier_id, SenderKind.AGENT, True
            if "{" in body:
                body = body.format(first=first_name, agent=agent_name)
                plain = plain.format(first=first_name, agent=agent_name)
            document.append(plain)
            self.messages.add(message_id, ticket_id, author, sender, internal, body, when)
            if i:
                events.add(
                    ticket_id,
                    author,
                    EventKind.MESSAGE_POSTED,
                    f'{{"message": {message_id}, "is_internal": {"true" if internal else "false"}'
                    f', "sender": "{sender}"}}',
                    when,
                )

        # Status history: an agent's first public reply opens a new ticket; the last step
        # happens with the last reply (pending, solved) or the note (on hold).
        second = timedelta(seconds=1)
        last_at = times[-1]
        if first_reply_at is not None:
            events.add(ticket_id, replier_id, EventKind.STATUS_CHANGED,
                       '{"from": "new", "to": "open"}', first_reply_at)  # fmt: skip
        solved_at = closed_at = None
        if status in (Status.PENDING, Status.ON_HOLD, Status.SOLVED, Status.CLOSED):
            if last_a is None:
                raise RuntimeError(f"A {status} ticket was given no agent reply.")
            step_at = times[last_a] + second
            to = Status.SOLVED if status == Status.CLOSED else status
            events.add(ticket_id, replier_id, EventKind.STATUS_CHANGED,
                       f'{{"from": "open", "to": "{to}"}}', step_at)  # fmt: skip
            last_at = max(last_at, step_at)
            if to == Status.SOLVED:
                solved_at = step_at
            if status == Status.CLOSED:  # closed after it was solved (above)
                closed_at = step_at + min(AUTO_CLOSE_AFTER, (now - step_at) * 0.8)
                events.add(ticket_id, None, EventKind.STATUS_CHANGED,
                           '{"from": "solved", "to": "closed"}', closed_at)  # fmt: skip
                last_at = closed_at

        tag_names = rng.sample(topic.tags, rng.randint(1, len(topic.tags)))
        if rng.random() < 0.15:
            tag_names.append(rng.choice(content.EXTRA_TAGS))
        if tier == "vip":
            tag_names.append("vip")
        tag_names = sorted(set(tag_names))
        for name in tag_names:
            self.ticket_tags.add(ticket_id, cast.tags[name])
        tag_list = ", ".join(f'"{name}"' for name in tag_names)
        events.add(
            ticket_id,
            replier_id if channel == Channel.PHONE else customer_user,
            EventKind.CREATED,
            f'{{"status": "new", "priority": "{priority}", "channel": "{channel}", '
            f'"team": {team_id or "null"}, "assignee": {assignee_id or "null"}, '
            f'"tags": [{tag_list}], "message": {message_ids[0]}}}',
            created,
        )
        self.tickets.add(
            ticket_id, subject, customer_id, self.tier_ids[tier], status, priority, ticket_type,
            channel, team_id, assignee_id, parent_id, created, last_at, first_reply_at,
            solved_at, closed_at, "\n".join(document),
        )  # fmt: skip
        return len(kinds)


def load_tickets(
    *,
    count: int,
    cast: Cast,
    rng: random.Random,
    days: int,
    messages_per_ticket: float,
    batch_size: int,
    drop_indexes: bool,
    log: Callable[[str], None],
) -> LoadResult:
    """Write `count` tickets in batches of `batch_size`, one transaction per batch, printing
    progress. On PostgreSQL with `drop_indexes` the secondary indexes of the ticket tables are
    dropped for the load and rebuilt after it (much faster than updating them row by row)."""
    have = Ticket.objects.filter(customer_id=cast.demo_customer).count()
    maker = TicketMaker(
        cast=cast,
        rng=rng,
        now=timezone.now(),
        days=days,
        messages_per_ticket=messages_per_ticket,
        demo_customer_tickets=max(0, len(Status.values) - have),
        count=count,
    )
    result = LoadResult()
    started = last_report = time.monotonic()
    with _bulk_load_session(drop_indexes=drop_indexes, log=log):
        done = 0
        while done < count:
            size = min(batch_size, count - done)
            for _ in range(size):
                result.messages += maker.make()
            result.events += len(maker.events.rows)
            maker.flush()
            done += size
            now = time.monotonic()
            if now - last_report >= 2 or done == count:
                last_report = now
                rate = done / (now - started)
                eta = (count - done) / rate if rate else 0
                log(
                    f"  tickets {done:,}/{count:,} ({done * 100 // count}%)  "
                    f"messages {result.messages:,}  events {result.events:,}  "
                    f"{rate:,.0f} tickets/s  ETA {_duration(eta)}"
                )
    result.tickets = count
    result.seconds = time.monotonic() - started
    return result


TABLES_LOADED: list[type[models.Model]] = [Ticket, Message, TicketEvent, Ticket.tags.through]


class _bulk_load_session:
    """On PostgreSQL: drop secondary indexes (kept: primary keys and unique constraints), relax
    commit durability for this session, and afterwards rebuild the indexes and ANALYZE."""

    def __init__(self, *, drop_indexes: bool, log: Callable[[str], None]) -> None:
        self.active = connection.vendor == "postgresql"
        self.drop = drop_indexes and self.active
        self.log = log
        self.dropped: list[tuple[str, str]] = []
        self.dropped_fks: list[tuple[str, str, str]] = []

    def __enter__(self) -> "_bulk_load_session":
        if not self.active:
            return self
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = off")
            if self.drop:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # see delete_all_tickets
                tables = [m._meta.db_table for m in TABLES_LOADED]
                cursor.execute(
                    """
                    SELECT i.relname, pg_get_indexdef(i.oid)
                    FROM pg_index x
                    JOIN pg_class i ON i.oid = x.indexrelid
                    JOIN pg_class t ON t.oid = x.indrelid
                    WHERE t.relname = ANY(%s) AND NOT x.indisprimary AND NOT x.indisunique
                      AND t.relnamespace = to_regnamespace(current_schema())
                    """,
                    [tables],
                )
                self.dropped = cursor.fetchall()
                # Foreign keys too: checking each row costs more than the whole load; they
                # are added back NOT VALID and then validated in one pass per constraint.
                cursor.execute(
                    """
                    SELECT t.relname, c.conname, pg_get_constraintdef(c.oid)
                    FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
                    WHERE c.contype = 'f' AND t.relname = ANY(%s)
                      AND t.relnamespace = to_regnamespace(current_schema())
                    """,
                    [tables],
                )
                self.dropped_fks = cursor.fetchall()
                quote = connection.ops.quote_name
                for table, name, _definition in self.dropped_fks:
                    cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
                for name, _definition in self.dropped:
                    cursor.execute(f"DROP INDEX IF EXISTS {quote(name)}")
                self.log(
                    f"Dropped {len(self.dropped)} indexes and {len(self.dropped_fks)} foreign "
                    "keys for the load."
                )
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.active:
            return
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '1GB'")
            cursor.execute("SET max_parallel_maintenance_workers = 2")
            for name, definition in self.dropped:
                self.log(f"  rebuilding index {name}")
                cursor.execute(definition.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))
            quote = connection.ops.quote_name
            for table, name, definition in self.dropped_fks:
                self.log(f"  restoring foreign key {name}")
                add = f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}"
                cursor.execute(f"{add} NOT VALID")
                cursor.execute(f"ALTER TABLE {quote(table)} VALIDATE CONSTRAINT {quote(name)}")
            for model in TABLES_LOADED:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
            cursor.execute("RESET synchronous_commit")
            cursor.execute("RESET maintenance_work_mem")
            cursor.execute("RESET max_parallel_maintenance_workers")
        if self.dropped:
            self.log(f"Rebuilt {len(self.dropped)} indexes and foreign keys, analyzed in "
                     f"{_duration(time.monotonic() - started)}.")  # fmt: skip


def delete_all_tickets() -> int:
    """Every ticket and what hangs off it (messages, attachments rows, events, outbox)."""
    count = Ticket.objects.count()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Inside a caller's transaction, deferred foreign-key checks must run first.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"TRUNCATE {connection.ops.quote_name(Ticket._meta.db_table)} CASCADE")
    else:
        # The audit is append-only for people; wiping the demo is not an edit of history.
        Ticket.objects.all().delete()
    return count


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def iter_logins() -> Iterator[tuple[str, str]]:
    """(username, what it is) for the demo logins, for the command to print."""
    for username, _first, _last, role, team_names, _tz in STAFF:
        what = Role(role).label + (f" ({', '.join(team_names)})" if team_names else "")
        yield username, what
    yield DEMO_CUSTOMER[0], "Customer (sees only their own tickets)"
