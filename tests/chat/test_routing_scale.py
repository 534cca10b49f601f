"""Presence and the routing sweep cost the same whatever the number of agents: a thousand
consoles beat every CHAT_HEARTBEAT_SECONDS and the sweep runs every few seconds, so neither may
read or lock every agent's row to find that nothing changed."""

import pytest
from django.core.cache import cache
from django.utils import timezone

from chat import routing_engine
from chat.models import AgentChatPresence, ConversationState
from tests.chat.routing_support import later, make_site, online_agent, waiting_chat

SWEEP_KEY = "chat.routing.sweep"


def busy_floor(team, size: int) -> list:
    """`size` agents at their consoles, each at capacity with one active chat."""
    site = make_site(team)
    agents = []
    for n in range(size):
        agent = online_agent(team, username=f"agent{n}", capacity=1)
        chat = waiting_chat(site, name=f"Customer {n}", enqueue=False)
        chat.state, chat.agent, chat.accepted_at = ConversationState.ACTIVE, agent, timezone.now()
        chat.save(update_fields=["state", "agent", "accepted_at"])
        agents.append(agent)
    return agents


@pytest.mark.parametrize("size", [5, 50])
def test_a_heartbeat_from_a_console_already_there_is_one_update(
    db, team, size, django_assert_num_queries
):
    agents = busy_floor(team, size)
    beat_at = later(timezone.now(), 5)
    with django_assert_num_queries(1):
        routing_engine.heartbeat(agent=agents[0], now=beat_at)
    assert AgentChatPresence.objects.get(agent=agents[0]).last_heartbeat_at == beat_at


@pytest.mark.parametrize("size", [5, 50])
def test_a_sweep_with_nothing_to_do_costs_fixed_queries(db, team, size, django_assert_num_queries):
    busy_floor(team, size)
    # Offers past their time-out, consoles gone quiet, orphaned chats, anyone waiting; plus a
    # savepoint and its release around each of the two locking reads (the test's transaction
    # turns their atomic blocks into savepoints).
    with django_assert_num_queries(8):
        result = routing_engine.sweep()
    assert (result.expired, result.away, result.requeued, result.offered) == (0, [], [], 0)


@pytest.mark.parametrize("size", [5, 50])
def test_a_waiting_chat_with_a_floor_of_busy_agents_costs_fixed_queries(
    db, team, size, django_assert_num_queries
):
    agents = busy_floor(team, size)
    chat = waiting_chat(make_site(team, name="Other shop"), name="Dora")
    # The probe for a waiting chat, then the agents with room (none; inside a savepoint): their
    # rows are never locked, so the floor's heartbeats do not wait behind this.
    with django_assert_num_queries(4):
        assert routing_engine.offer_next() == []
    routing_engine.heartbeat(agent=agents[0])  # a console already there takes no chat
    chat.refresh_from_db()
    assert chat.state == ConversationState.WAITING


def test_the_sweep_on_heartbeats_runs_once_per_period(db, team, django_assert_num_queries):
    agent = busy_floor(team, 1)[0]
    cache.delete(SWEEP_KEY)
    assert routing_engine.sweep_if_due() is not None
    with django_assert_num_queries(1):  # the heartbeat itself; the sweep is not due again
        routing_engine.heartbeat(agent=agent)
        assert routing_engine.sweep_if_due() is None


def test_a_sweep_marks_silent_consoles_away_a_batch_at_a_time(db, team, settings):
    settings.CHAT_SWEEP_BATCH = 2
    agents = busy_floor(team, 5)
    silent_since = timezone.now()
    AgentChatPresence.objects.update(last_heartbeat_at=silent_since)
    after_time_out = later(silent_since, 31)
    # Each sweep holds its locks (and, on a heartbeat, the socket's database thread) for a
    # bounded batch; the next sweeps take the rest.
    batches = [routing_engine.sweep(now=after_time_out).away for _ in range(4)]
    assert [len(batch) for batch in batches] == [2, 2, 1, 0]
    assert sorted(pk for batch in batches for pk in batch) == sorted(a.pk for a in agents)
    assert not AgentChatPresence.objects.filter(accepting=True).exists()


@pytest.mark.parametrize("size", [5, 50])
def test_a_process_worth_of_heartbeats_is_one_update(db, team, size, django_assert_num_queries):
    agents = busy_floor(team, size)
    beat_at = later(timezone.now(), 5)
    with django_assert_num_queries(1):
        routing_engine.heartbeats(agent_ids=[agent.pk for agent in agents], now=beat_at)
    stamps = set(AgentChatPresence.objects.values_list("last_heartbeat_at", flat=True))
    assert stamps == {beat_at}


def test_gathered_heartbeats_bring_back_a_console_after_a_silence(db, team):
    there, back = busy_floor(team, 2)
    back_presence = AgentChatPresence.objects.get(agent=back)
    back_presence.accepting, back_presence.away_by_timeout = False, True
    back_presence.save(update_fields=["accepting", "away_by_timeout"])
    beat_at = later(timezone.now(), 5)

    routing_engine.heartbeats(agent_ids=[there.pk, back.pk], now=beat_at)

    for agent in (there, back):
        presence = AgentChatPresence.objects.get(agent=agent)
        assert presence.last_heartbeat_at == beat_at
        assert presence.accepting
        assert not presence.away_by_timeout
