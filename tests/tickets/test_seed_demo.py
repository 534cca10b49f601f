"""`manage.py seed_demo`: the demo desk a new user signs into, and the data benchmarks load."""

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from accounts.factories import DEFAULT_PASSWORD
from accounts.models import Role, Team, User
from customers.models import Customer, Tier
from tickets.models import (
    Channel,
    EventKind,
    Priority,
    SenderKind,
    Status,
    Ticket,
    TicketType,
)
from tickets.selectors import search_tickets
from tickets.services import plain_text

pytestmark = pytest.mark.django_db


def seed(**options) -> str:
    out = StringIO()
    call_command("seed_demo", tickets=60, customers=30, stdout=out, **options)
    return out.getvalue()


def test_demo_logins_exist_sign_in_and_are_printed():
    output = seed()

    for username, role in [("admin", Role.ADMIN), ("manager", Role.MANAGER), ("agent", Role.AGENT)]:
        user = authenticate(username=username, password=DEFAULT_PASSWORD)
        assert user is not None, username
        assert user.agent_profile.role == role
        assert f"  {username} " in output
    assert User.objects.get(username="admin").is_superuser
    customer_user = authenticate(username="customer", password=DEFAULT_PASSWORD)
    assert customer_user is not None
    assert not customer_user.is_agent
    assert customer_user.customer.tickets.count() >= 5
    assert f"password: {DEFAULT_PASSWORD}" in output


def test_desk_has_shop_teams_agents_tiers_and_customers():
    seed()

    assert set(Team.objects.values_list("name", flat=True)) >= {
        "Orders & Shipping",
        "Returns & Refunds",
        "Payments",
        "Product questions",
    }
    assert User.objects.filter(agent_profile__role=Role.AGENT).count() >= 8
    assert list(Tier.objects.values_list("slug", flat=True)) == [
        "standard",
        "silver",
        "gold",
        "vip",
    ]
    assert Customer.objects.count() == 30
    assert Customer.objects.filter(email__icontains="@").count() == 30


def test_tickets_cover_every_status_channel_priority_and_type():
    seed()

    tickets = Ticket.objects.all()
    assert tickets.count() == 60
    assert set(tickets.values_list("status", flat=True)) == set(Status.values)
    assert set(tickets.values_list("channel", flat=True)) == set(Channel.values)
    assert set(tickets.values_list("priority", flat=True)) == set(Priority.values)
    assert set(tickets.values_list("type", flat=True)) == set(TicketType.values)
    assert not tickets.filter(team__isnull=True).exclude(status=Status.NEW).exists()
    assert not tickets.filter(assignee__isnull=True).exclude(status=Status.NEW).exists()


def test_ticket_timestamps_tell_a_consistent_story():
    seed()

    created_dates = set()
    for ticket in Ticket.objects.prefetch_related("messages", "events"):
        messages = list(ticket.messages.all())
        created_dates.add(ticket.created_at.date())
        assert messages, ticket.reference
        assert messages[0].created_at == ticket.created_at
        assert all(m.created_at >= ticket.created_at for m in messages)
        assert ticket.updated_at >= max(m.created_at for m in messages)

        agent_replies = [
            m for m in messages[1:] if m.sender == SenderKind.AGENT and not m.is_internal
        ]
        if ticket.status == Status.NEW:
            assert ticket.first_agent_reply_at is None
        else:
            assert ticket.first_agent_reply_at == agent_replies[0].created_at
            assert ticket.first_agent_reply_at > ticket.created_at

        if ticket.status in {Status.SOLVED, Status.CLOSED}:
            assert ticket.created_at < ticket.solved_at <= ticket.updated_at
        else:
            assert ticket.solved_at is None
        if ticket.status == Status.CLOSED:
            assert ticket.solved_at < ticket.closed_at == ticket.updated_at
        else:
            assert ticket.closed_at is None

        events = list(ticket.events.all())
        assert events[0].kind == EventKind.CREATED
        assert events[0].created_at == ticket.created_at
        assert all(e.created_at <= ticket.updated_at for e in events)
        status_changes = [e.data for e in events if e.kind == EventKind.STATUS_CHANGED]
        last_status = status_changes[-1]["to"] if status_changes else Status.NEW
        assert last_status == ticket.status
        posted = [e.data["message"] for e in events if e.kind == EventKind.MESSAGE_POSTED]
        assert posted == [m.pk for m in messages[1:]]
    assert len(created_dates) > 20  # spread over months, not one afternoon


def test_search_document_holds_subject_and_every_message(agent):
    seed()

    for ticket in Ticket.objects.prefetch_related("messages"):
        texts = [plain_text(m.body) for m in ticket.messages.all()]
        assert ticket.search_document == "\n".join([ticket.subject, *texts])

    # A word only an agent's reply has finds that ticket: replies are searchable.
    ticket = Ticket.objects.exclude(status=Status.NEW).first()
    reply = ticket.messages.filter(sender=SenderKind.AGENT, is_internal=False).first()
    word = next(
        w
        for w in plain_text(reply.body).split()
        if w.isalpha() and len(w) > 5 and w.lower() not in ticket.subject.lower()
    )
    found = search_tickets(Ticket.objects.all(), word, user=agent)
    assert ticket in found


def test_running_it_again_adds_tickets_and_keeps_the_people():
    seed()
    users, customers = User.objects.count(), Customer.objects.count()

    seed()

    assert Ticket.objects.count() == 120
    assert (User.objects.count(), Customer.objects.count()) == (users, customers)
    assert authenticate(username="agent", password=DEFAULT_PASSWORD) is not None


def test_reset_replaces_the_tickets_and_if_empty_leaves_a_seeded_desk_alone():
    seed()
    first_ids = set(Ticket.objects.values_list("id", flat=True))

    seed(reset=True)
    assert Ticket.objects.count() == 60
    assert first_ids.isdisjoint(Ticket.objects.values_list("id", flat=True))

    output = seed(if_empty=True)
    assert Ticket.objects.count() == 60
    assert "nothing to seed" in output


def test_bulk_mode_rebuilds_what_it_dropped():
    """The PostgreSQL bulk path drops indexes and foreign keys for the load; the desk must come
    back with all of them (on SQLite the flag is a no-op and the load still works)."""
    seed()
    before = _schema_objects()

    seed(drop_indexes=True)

    assert _schema_objects() == before
    assert Ticket.objects.count() == 120


def _schema_objects() -> set[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = 'tickets_message'::regclass "
                "UNION SELECT indexname FROM pg_indexes WHERE tablename LIKE 'tickets_%'"
            )
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE tbl_name LIKE 'tickets_%'")
        return {row[0] for row in cursor.fetchall()}
