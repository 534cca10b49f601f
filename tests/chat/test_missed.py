"""Queued chats that nobody can take any more become tickets (chat.services.missed): when the
site closes or the last agent of the team goes, not while agents are merely busy."""

import threading
from datetime import UTC, datetime
from http import HTTPStatus

import pytest
from channels.db import database_sync_to_async
from django.db import close_old_connections, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import routing_engine
from chat.models import ChatOffer, ConversationState, OfferOutcome
from chat.services.missed import _miss, miss_stranded_chats
from chat.services.sites import update_site
from core.errors import RuleBroken
from slas.models import BusinessCalendar
from tests.chat.routing_support import fresh, later, make_site, online_agent, waiting_chat
from tests.chat.test_visitor_consumer import start_chat
from tests.chat.visitors import make_site_async, put_online_async
from tests.factories import TeamFactory
from tests.stream import frame_where
from tickets.models import Status

WAITING = ConversationState.WAITING
OFFERED = ConversationState.OFFERED
ACTIVE = ConversationState.ACTIVE
MISSED = ConversationState.MISSED

MONDAY_1655 = datetime(2026, 11, 30, 16, 55, tzinfo=UTC)
MONDAY_1700 = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)


@pytest.fixture
def t0():
    return timezone.now()


@pytest.fixture
def site(db, team):
    return make_site(team, missed_after_seconds=120)


def busy_agent(site, team, at):
    """An online agent with capacity 1, holding a chat: whatever else arrives waits for them."""
    agent = online_agent(team, username="busy", capacity=1, at=at)
    held = waiting_chat(site, name="Held", at=at)
    routing_engine.accept(conversation=held, agent=agent, now=at)
    return agent, held


def notice_of(chat):
    return chat.lines.get(seq=chat.last_seq)


# --- nobody there ------------------------------------------------------------------------------


def test_a_chat_waiting_with_nobody_online_longer_than_the_setting_becomes_a_ticket(site, t0):
    chat = waiting_chat(site, at=t0)  # nobody of the team is online
    assert fresh(chat).state == WAITING

    assert miss_stranded_chats(now=later(t0, 10)) == []  # the sweep sees it: the clock starts
    assert miss_stranded_chats(now=later(t0, 129)) == []  # 119 s
    assert miss_stranded_chats(now=later(t0, 130)) == [chat.pk]

    chat = fresh(chat)
    assert chat.state == MISSED
    notice = notice_of(chat)
    assert notice.sender == "system"
    assert notice.body.startswith("No one can answer live right now.")
    assert chat.ticket.reference in notice.body
    assert chat.ticket.status == Status.NEW  # still in the queue, to be answered by email


def test_the_clock_starts_when_the_last_agent_goes_not_when_the_chat_was_queued(site, team, t0):
    agent, _ = busy_agent(site, team, t0)
    chat = waiting_chat(site, at=t0)
    for moment in (0, 100, 290):
        routing_engine.heartbeat(agent=agent, now=later(t0, moment))
        assert miss_stranded_chats(now=later(t0, moment)) == []
    # No heartbeat after 290 s: from 320 s on the agent counts as gone.
    assert miss_stranded_chats(now=later(t0, 330)) == []  # waited 330 s, stranded 0 s
    assert miss_stranded_chats(now=later(t0, 400)) == []
    # Back from a coffee: the clock stops and starts again from zero next time.
    routing_engine.heartbeat(agent=agent, now=later(t0, 420))
    assert miss_stranded_chats(now=later(t0, 421)) == []
    assert miss_stranded_chats(now=later(t0, 460)) == []  # gone again, seen at 460
    assert miss_stranded_chats(now=later(t0, 579)) == []
    assert fresh(chat).state == WAITING
    assert miss_stranded_chats(now=later(t0, 580)) == [chat.pk]


def test_a_chat_waiting_behind_busy_online_agents_keeps_its_place(site, team, t0):
    agent, held = busy_agent(site, team, t0)
    chat = waiting_chat(site, at=t0)
    for moment in (0, 300, 3000, 30000):
        routing_engine.heartbeat(agent=agent, now=later(t0, moment))
        assert miss_stranded_chats(now=later(t0, moment)) == []
    assert (fresh(chat).state, fresh(held).state) == (WAITING, ACTIVE)
    assert routing_engine.queue_position(chat) == 1


def test_zero_means_never(team, t0):
    site = make_site(team, missed_after_seconds=0)
    chat = waiting_chat(site, at=t0)
    for moment in (0, 1000, 86400 * 7):
        assert miss_stranded_chats(now=later(t0, moment)) == []
    assert fresh(chat).state == WAITING


def test_missing_twice_changes_nothing(site, t0):
    chat = waiting_chat(site, at=t0)
    miss_stranded_chats(now=t0)
    assert miss_stranded_chats(now=later(t0, 120)) == [chat.pk]
    lines = fresh(chat).last_seq
    assert miss_stranded_chats(now=later(t0, 121)) == []
    assert miss_stranded_chats(now=later(t0, 500)) == []
    assert (fresh(chat).state, fresh(chat).last_seq, chat.lines.count()) == (MISSED, lines, lines)


def test_a_chat_transferred_to_a_team_with_nobody_online_is_missed_by_that_team(
    site, team, t0, manager
):
    agent, _ = busy_agent(site, team, t0)
    chat = waiting_chat(site, at=t0)
    night_shift = TeamFactory(name="Night shift")
    routing_engine.transfer(conversation=chat, actor=manager, to_team=night_shift, now=t0)
    for moment in (1, 200):
        routing_engine.heartbeat(agent=agent, now=later(t0, moment))  # the site's team is there
        miss_stranded_chats(now=later(t0, moment))
    assert fresh(chat).state == MISSED


def test_a_chat_is_not_missed_if_someone_came_back_after_the_sweep_looked(site, team, t0):
    chat = waiting_chat(site, at=t0)
    back = later(t0, 200)
    online_agent(team, username="back", capacity=0, at=back)  # online, full: the chat waits
    # The sweep's look (nobody there) is older than the lock: under the lock it looks again.
    assert not _miss(chat.pk, chat.ticket_id, (site.pk, team.pk), site, back)
    assert fresh(chat).state == WAITING


# --- the site closes ---------------------------------------------------------------------------


def test_when_the_site_closes_queued_chats_become_tickets_that_say_when_we_open(team):
    calendar = BusinessCalendar.objects.create(
        name="Weekdays",
        timezone="UTC",
        hours={"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]]},
    )
    site = make_site(team, calendar=calendar, missed_after_seconds=120)
    agent, held = busy_agent(site, team, MONDAY_1655)
    spare = online_agent(team, username="spare", capacity=1, at=MONDAY_1655)
    offered = waiting_chat(site, name="Offered", at=MONDAY_1655)  # to the spare agent
    waiting = waiting_chat(site, name="Waiting", at=later(MONDAY_1655, 1))  # nobody is free
    assert (fresh(waiting).state, fresh(offered).state) == (WAITING, OFFERED)
    assert fresh(offered).offered_to == spare

    def sweep_at(seconds):
        moment = later(MONDAY_1700, seconds)
        for person in (agent, spare):
            routing_engine.heartbeat(agent=person, now=moment)  # both stay online after hours
        return miss_stranded_chats(now=moment)

    assert sweep_at(-60) == []  # open
    assert sweep_at(5) == []  # closed: the clock starts
    assert sorted(sweep_at(125)) == sorted([waiting.pk, offered.pk])

    for chat in (waiting, offered):
        chat = fresh(chat)
        assert (chat.state, chat.offered_to) == (MISSED, None)
        assert "We are closed now and open again at Tuesday 09:00 UTC." in notice_of(chat).body
    offer = ChatOffer.objects.get(conversation=offered)
    assert offer.outcome == OfferOutcome.WITHDRAWN
    assert fresh(held).state == ACTIVE  # a chat already answered goes on


# --- cost ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [2, 12])
def test_a_sweep_with_nothing_due_costs_fixed_queries(
    site, team, t0, rows, django_assert_num_queries
):
    agent, _ = busy_agent(site, team, t0)
    for n in range(rows):
        waiting_chat(site, name=f"C{n}", at=t0)
    routing_engine.heartbeat(agent=agent, now=t0)
    # The queue's (site, team) pairs, their sites, the teams with someone online.
    with django_assert_num_queries(3):
        assert miss_stranded_chats(now=later(t0, 1000)) == []


@pytest.mark.parametrize("rows", [1, 5])
def test_missing_costs_a_fixed_number_of_queries_per_chat(site, t0, rows):
    chats = [waiting_chat(site, name=f"C{n}", at=t0) for n in range(rows)]
    miss_stranded_chats(now=t0)
    with CaptureQueriesContext(connection) as queries:
        assert len(miss_stranded_chats(now=later(t0, 120))) == rows
    assert len(queries) == 4 + QUERIES_PER_CHAT * rows
    assert all(fresh(chat).state == MISSED for chat in chats)


# Savepoint and release, the ticket and the conversation locked, still nobody online, the
# pending offer looked for, the state saved, the line numbered and written (the socket's frame
# is built from the row in hand: chat.services.lines._announce_line).
QUERIES_PER_CHAT = 9


# --- the setting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, 86401, "120", 1.5, True, None])
def test_the_setting_is_whole_seconds_from_0_to_a_day(site, value):
    with pytest.raises(RuleBroken) as broken:
        update_site(site=site, actor=None, changes={"missed_after_seconds": value})
    assert broken.value.field == "missed_after_seconds"


@pytest.mark.parametrize("value", [0, 86400])
def test_the_setting_takes_its_bounds(site, value):
    assert update_site(site=site, actor=None, changes={"missed_after_seconds": value})
    site.refresh_from_db()
    assert site.missed_after_seconds == value


# --- the worker ----------------------------------------------------------------------------------


def test_the_workers_routing_sweep_misses_stranded_chats(site):
    from chat.tasks import sweep_chat_routing

    now = timezone.now()
    chat = waiting_chat(site, at=later(now, -300))
    miss_stranded_chats(now=later(now, -200))  # an earlier sweep saw nobody there
    sweep_chat_routing()
    assert fresh(chat).state == MISSED


# --- the visitor hears it ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("private_channel_layer")
async def test_the_visitors_socket_hears_the_chat_became_a_ticket(team, agent):
    site = await make_site_async(team, missed_after_seconds=60)
    await put_online_async(agent)
    socket, _, first = await start_chat(site)

    @database_sync_to_async
    def agent_leaves():
        from accounts.services import set_agent_availability

        set_agent_availability(agent=agent, availability="offline")  # routing hears it

    await agent_leaves()
    now = timezone.now()
    sweep = database_sync_to_async(miss_stranded_chats)
    assert await sweep(now=now) == []
    assert await sweep(now=later(now, 61)) == [first["conversation"]]

    notice = await frame_where(
        socket,
        lambda f: (
            f["type"] == "message.posted"
            and f["sender"] == "system"
            and f["body"].startswith("No one can answer")
        ),
    )
    missed = await frame_where(socket, lambda f: f["type"] == "conversation.missed")
    assert missed["conversation"] == first["conversation"]
    assert missed["reason"] == "no_agents"
    assert missed["reference"] in notice["body"]
    await socket.disconnect()


# --- two workers at once -------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_miss_each_chat_once(team):
    site = make_site(team, missed_after_seconds=120)
    now = timezone.now()
    chats = [waiting_chat(site, name=f"C{n}", at=now) for n in range(10)]
    miss_stranded_chats(now=now)

    barrier = threading.Barrier(2)
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            barrier.wait()
            results.append(miss_stranded_chats(now=later(now, 121)))
        except BaseException as error:  # reported below, whatever it is
            errors.append(error)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    missed = [pk for result in results for pk in result]
    assert sorted(missed) == sorted(chat.pk for chat in chats)  # each once, by one of them
    for chat in chats:
        chat = fresh(chat)
        notices = chat.lines.filter(sender="system").count()
        assert (chat.state, notices) == (MISSED, 1)


# --- the sites page ------------------------------------------------------------------------------


def site_form(site, team, seconds):
    return {
        "name": site.name,
        "allowed_origins": "https://shop.example",
        "team": team.pk,
        "offer_timeout_seconds": 30,
        "missed_after_seconds": seconds,
        "colour": "#123456",
        "is_active": "on",
    }


def test_a_manager_sets_how_long_a_stranded_chat_waits_on_the_sites_page(site, team, manager):
    client = Client()
    client.force_login(manager)
    page = client.get(f"/chat/sites/{site.pk}/").content.decode()
    assert "Give up waiting after (seconds)" in page
    assert 'name="missed_after_seconds" value="120"' in page

    assert (
        client.post(f"/chat/sites/{site.pk}/", site_form(site, team, 300)).status_code
        == HTTPStatus.OK
    )
    site.refresh_from_db()
    assert site.missed_after_seconds == 300

    refused = client.post(f"/chat/sites/{site.pk}/", site_form(site, team, 90000))
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    site.refresh_from_db()
    assert site.missed_after_seconds == 300
