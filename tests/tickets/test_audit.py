"""The audit trail and what leaves after commit: every change writes exactly one TicketEvent,
a no-op writes none, events are never rewritten, and the live event and the owed email leave
only once the change has committed."""

import asyncio
from uuid import uuid4

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from django.db import transaction

from core.append_only import AppendOnlyError
from core.errors import RuleBroken
from tests.factories import TagFactory, TeamFactory, TicketEventFactory, TicketFactory
from tickets.events import AGENT_STREAM_GROUP
from tickets.models import EventKind, Notification, Status, TicketEvent
from tickets.services import (
    assign_ticket,
    change_ticket_details,
    change_ticket_priority,
    change_ticket_status,
    change_ticket_team,
    post_message,
    set_ticket_tags,
    update_ticket,
)

# (what the change does, the event kind, the data it records); `ctx` holds the people and rows.
CHANGES = [
    (
        lambda c: change_ticket_status(ticket=c["ticket"], new_status="solved", actor=c["by"]),
        EventKind.STATUS_CHANGED,
        lambda c: {"from": "open", "to": "solved"},
    ),
    (
        lambda c: change_ticket_priority(ticket=c["ticket"], priority="high", actor=c["by"]),
        EventKind.PRIORITY_CHANGED,
        lambda c: {"from": "normal", "to": "high"},
    ),
    (
        lambda c: assign_ticket(ticket=c["ticket"], assignee=c["to_agent"], actor=c["by"]),
        EventKind.ASSIGNEE_CHANGED,
        lambda c: {"from": None, "to": c["to_agent"].pk},
    ),
    (
        lambda c: change_ticket_team(ticket=c["ticket"], team=c["team"], actor=c["by"]),
        EventKind.TEAM_CHANGED,
        lambda c: {"from": None, "to": c["team"].pk},
    ),
    (
        lambda c: set_ticket_tags(ticket=c["ticket"], tags=["refund"], actor=c["by"]),
        EventKind.TAGS_CHANGED,
        lambda c: {"from": [], "to": ["refund"]},
    ),
    (
        lambda c: change_ticket_details(ticket=c["ticket"], subject="New", actor=c["by"]),
        EventKind.DETAILS_CHANGED,
        lambda c: {"subject": {"from": "Old", "to": "New"}},
    ),
    (
        lambda c: post_message(ticket=c["ticket"], author=c["by"], body="Hm", is_internal=True),
        EventKind.MESSAGE_POSTED,
        lambda c: {
            "message": c["ticket"].messages.get().pk,
            "is_internal": True,
            "sender": "agent",
        },
    ),
]
CHANGE_IDS = ["status", "priority", "assignee", "team", "tags", "details", "message"]


@pytest.fixture
def ctx(agent, other_agent, team):
    return {
        "ticket": TicketFactory(status=Status.OPEN, subject="Old"),
        "by": agent,
        "to_agent": other_agent,
        "team": team,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(("change", "kind", "data"), CHANGES, ids=CHANGE_IDS)
def test_every_change_writes_exactly_one_event_with_who_what_and_how(ctx, change, kind, data):
    change(ctx)

    event = TicketEvent.objects.get(ticket=ctx["ticket"])
    assert (event.actor, event.kind, event.data) == (ctx["by"], kind, data(ctx))
    assert event.created_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "no_op",
    [
        lambda t, a: change_ticket_status(ticket=t, new_status=t.status, actor=a),
        lambda t, a: change_ticket_priority(ticket=t, priority=t.priority, actor=a),
        lambda t, a: assign_ticket(ticket=t, assignee=t.assignee, actor=a),
        lambda t, a: change_ticket_team(ticket=t, team=t.team, actor=a),
        lambda t, a: set_ticket_tags(ticket=t, tags=["Late"], actor=a),
        lambda t, a: change_ticket_details(ticket=t, subject=t.subject, type=t.type, actor=a),
        lambda t, a: change_ticket_details(ticket=t, parent=t.parent, actor=a),
        lambda t, a: update_ticket(ticket=t, actor=a, changes={"status": t.status, "team": t.team}),
    ],
    ids=["status", "priority", "assignee", "team", "tags", "details", "parent", "update"],
)
def test_a_change_to_the_same_value_writes_nothing(agent, other_agent, no_op):
    ticket = TicketFactory(
        status=Status.PENDING,
        assignee=other_agent,
        team=TeamFactory(name="Returns"),
        parent=TicketFactory(),
        tags=[TagFactory(name="late")],
    )
    updated_at = ticket.updated_at

    no_op(ticket, agent)

    assert not TicketEvent.objects.filter(ticket=ticket).exists()
    assert not Notification.objects.exists()
    ticket.refresh_from_db()
    assert ticket.updated_at == updated_at


# --- append-only ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_event_is_never_rewritten(agent):
    event = TicketEventFactory(kind=EventKind.CREATED, data={"status": "new"})
    event.data = {"status": "solved"}

    with pytest.raises(AppendOnlyError):
        event.save()

    assert TicketEvent.objects.get(pk=event.pk).data == {"status": "new"}


@pytest.mark.django_db
def test_an_event_is_never_deleted(agent):
    event = TicketEventFactory()

    with pytest.raises(AppendOnlyError):
        event.delete()

    assert TicketEvent.objects.filter(pk=event.pk).exists()


# --- after commit -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_change_publishes_only_when_its_transaction_commits(
    agent, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(status=Status.OPEN)

    with django_capture_on_commit_callbacks() as callbacks:
        change_ticket_priority(ticket=ticket, priority="urgent", actor=agent)
        # Written now, sent later: the event row is here before anything is published.
        assert TicketEvent.objects.filter(ticket=ticket).count() == 1

    assert len(callbacks) == 1  # the publish, waiting for the commit


@pytest.mark.django_db
def test_an_assignment_queues_its_email_and_its_event_after_commit(
    agent, other_agent, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(status=Status.OPEN)

    with django_capture_on_commit_callbacks() as callbacks:
        assign_ticket(ticket=ticket, assignee=other_agent, actor=agent)

    assert len(callbacks) == 2  # the live event and the hand-off of the owed email
    assert Notification.objects.get(ticket=ticket).recipient == other_agent.email


@pytest.mark.django_db
def test_a_refused_change_publishes_nothing_and_owes_nothing(
    agent, other_agent, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(status=Status.NEW)

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuleBroken):
        update_ticket(
            ticket=ticket,
            actor=agent,
            changes={"assignee": other_agent, "priority": "high", "status": Status.CLOSED},
        )

    assert callbacks == []
    assert not TicketEvent.objects.exists()
    assert not Notification.objects.exists()


@pytest.fixture
async def private_channel_layer(settings):
    """The configured layer (in-memory, or Redis pub/sub with REDIS_URL) under a key prefix of
    this test's own, so another run on the same Redis never hears our events."""
    layer = dict(django_settings.CHANNEL_LAYERS["default"])
    if "CONFIG" in layer:
        layer["CONFIG"] = {**layer["CONFIG"], "prefix": f"test{uuid4().hex[:12]}"}
        settings.CHANNEL_LAYERS = {"default": layer}
    yield get_channel_layer()
    await get_channel_layer().flush()


@pytest.mark.django_db(transaction=True)
async def test_the_agent_stream_hears_a_change_after_commit_and_not_before(
    private_channel_layer, agent
):
    layer = private_channel_layer
    ticket = await database_sync_to_async(TicketFactory)(status=Status.OPEN)
    channel = await layer.new_channel()
    await layer.group_add(AGENT_STREAM_GROUP, channel)
    marker = {"type": "relay.event", "event": {"type": "test.marker"}}

    @database_sync_to_async
    def solve_and_send_a_marker_before_committing() -> None:
        with transaction.atomic():
            change_ticket_status(ticket=ticket, new_status=Status.SOLVED, actor=agent)
            # The group hears in the order things were sent: an event published before the
            # commit would arrive ahead of this marker.
            async_to_sync(layer.group_send)(AGENT_STREAM_GROUP, marker)

    await solve_and_send_a_marker_before_committing()
    first = await asyncio.wait_for(layer.receive(channel), timeout=3)
    message = await asyncio.wait_for(layer.receive(channel), timeout=3)

    assert first == marker
    event = message["event"]
    assert event["type"] == "ticket.status_changed"
    assert event["ticket"]["id"] == ticket.pk
    assert event["ticket"]["status"] == "solved"
    assert event["change"] == {"field": "status", "from": "open", "to": "solved"}
