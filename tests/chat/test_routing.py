"""Routing with a real queue (chat.routing_engine): who is offered which chat, in what order,
and what happens when nobody answers or a browser dies."""

import threading

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from accounts.models import AuditEntry, Availability
from accounts.services import set_agent_availability, update_agent_profile
from chat import routing_engine
from chat.models import AgentChatPresence, ChatOffer, ConversationState, OfferOutcome
from core.errors import RuleBroken
from tests.chat.routing_support import (
    fresh,
    later,
    make_site,
    online_agent,
    waiting_chat,
)
from tests.factories import AgentFactory, TeamFactory
from tickets.models import Message

OFFERED = ConversationState.OFFERED
WAITING = ConversationState.WAITING
ACTIVE = ConversationState.ACTIVE

pytestmark = pytest.mark.django_db


@pytest.fixture
def t0():
    return timezone.now()


@pytest.fixture
def site(team):
    return make_site(team, offer_timeout_seconds=30)


# --- who gets the chat ------------------------------------------------------------------------


def test_a_new_chat_is_offered_to_the_least_busy_online_agent_of_the_sites_team(site, team, t0):
    busy = online_agent(team, username="busy", at=t0)
    idle = online_agent(team, username="idle", at=t0)
    first = waiting_chat(site, name="First", at=t0)
    routing_engine.accept(conversation=first, agent=fresh(first).offered_to, now=t0)
    assert fresh(first).agent in {busy, idle}
    holder = fresh(first).agent

    second = waiting_chat(site, name="Second", at=later(t0, 1))

    assert second.state == OFFERED
    assert second.offered_to != holder  # the one without a chat is less busy
    assert second.offered_to in {busy, idle}


def test_ties_go_to_the_agent_idle_longest(site, team, t0):
    recently = online_agent(team, username="recently", at=t0)
    long_ago = online_agent(team, username="longago", at=t0)
    AgentChatPresence.objects.filter(agent=recently).update(last_assigned_at=later(t0, -60))
    AgentChatPresence.objects.filter(agent=long_ago).update(last_assigned_at=later(t0, -3600))

    chat = waiting_chat(site, at=t0)

    assert chat.offered_to == long_ago


def test_agents_never_assigned_count_as_idle_longest(site, team, t0):
    assigned = online_agent(team, username="assigned", at=t0)
    AgentChatPresence.objects.filter(agent=assigned).update(last_assigned_at=later(t0, -9999))
    never = online_agent(team, username="never", at=t0)

    assert waiting_chat(site, at=t0).offered_to == never


def test_away_offline_silent_and_other_team_agents_are_never_offered_a_chat(site, team, t0):
    online_agent(team, username="away", at=t0, availability=Availability.AWAY)
    online_agent(team, username="offline", at=t0, availability=Availability.OFFLINE)
    silent = online_agent(team, username="silent", at=later(t0, -120))  # console closed
    online_agent(TeamFactory(name="Billing"), username="billing", at=t0)
    AgentFactory(username="noconsole", profile__teams=[team], profile__availability="online")

    chat = waiting_chat(site, at=t0)

    assert fresh(chat).state == WAITING
    assert not ChatOffer.objects.exists()
    # Not yet swept (still "accepting"), and still never offered anything: too quiet.
    assert AgentChatPresence.objects.get(agent=silent).accepting


def test_capacity_is_respected_and_the_next_chat_waits(site, team, t0):
    solo = online_agent(team, username="solo", capacity=1, at=t0)
    first = waiting_chat(site, name="First", at=t0)
    assert first.offered_to == solo

    second = waiting_chat(site, name="Second", at=later(t0, 1))

    assert second.state == WAITING  # an offer in hand counts against capacity
    routing_engine.accept(conversation=first, agent=solo, now=later(t0, 2))
    assert fresh(second).state == WAITING
    with pytest.raises(RuleBroken, match="capacity"):
        routing_engine.accept(conversation=second, agent=solo, now=later(t0, 3))


def test_zero_capacity_takes_no_chats(site, team, t0):
    online_agent(team, username="zero", capacity=0, at=t0)
    assert waiting_chat(site, at=t0).state == WAITING


# --- queue order and back-fill ----------------------------------------------------------------


def test_higher_tiers_go_first_and_arrival_order_is_kept_within_a_tier(site, team, t0):
    standard_early = waiting_chat(site, rank=0, name="Early", at=t0)
    standard_late = waiting_chat(site, rank=0, name="Late", at=later(t0, 10))
    vip = waiting_chat(site, rank=3, name="Vip", at=later(t0, 20))
    gold = waiting_chat(site, rank=2, name="Gold", at=later(t0, 30))

    in_order = (vip, gold, standard_early, standard_late)
    assert [routing_engine.queue_position(chat) for chat in in_order] == [1, 2, 3, 4]

    agent = online_agent(team, username="first", capacity=1, at=later(t0, 40))
    assert fresh(vip).offered_to == agent  # an agent coming online takes the head at once
    order = []
    for step, chat in enumerate([vip, gold, standard_early, standard_late]):
        now = later(t0, 50 + step)
        assert fresh(chat).state == OFFERED
        routing_engine.accept(conversation=chat, agent=agent, now=now)
        order.append(chat.pk)
        ended = fresh(chat)
        ended.state = ConversationState.ENDED
        ended.save(update_fields=["state"])
        routing_engine.offer_next(now=now)  # capacity freed: the back-fill
    assert order == [vip.pk, gold.pk, standard_early.pk, standard_late.pk]


def test_a_chat_ending_offers_the_oldest_waiting_chat_at_once(
    site, team, t0, django_capture_on_commit_callbacks
):
    agent = online_agent(team, username="solo", capacity=1, at=t0)
    first = waiting_chat(site, name="First", at=t0)
    routing_engine.accept(conversation=first, agent=agent, now=t0)
    second = waiting_chat(site, name="Second", at=later(t0, 1))
    third = waiting_chat(site, name="Third", at=later(t0, 2))
    assert fresh(second).state == WAITING

    with django_capture_on_commit_callbacks(execute=True):
        first = fresh(first)
        first.state = ConversationState.ENDED
        first.save(update_fields=["state"])
        routing_engine.capacity_freed(conversation=first)

    assert fresh(second).offered_to == agent
    assert fresh(third).state == WAITING
    assert AgentChatPresence.objects.get(agent=agent).active_chats == 0


def test_an_agent_going_online_or_raising_capacity_gets_waiting_chats_at_once(
    site, team, t0, django_capture_on_commit_callbacks
):
    agent = online_agent(team, username="late", capacity=1, availability=Availability.AWAY)
    first = waiting_chat(site, name="First")
    second = waiting_chat(site, name="Second")
    assert fresh(first).state == WAITING

    with django_capture_on_commit_callbacks(execute=True):
        set_agent_availability(agent=agent, availability=Availability.ONLINE)
    assert fresh(first).offered_to == agent
    assert fresh(second).state == WAITING

    with django_capture_on_commit_callbacks(execute=True):
        update_agent_profile(agent=agent, actor=agent, changes={"chat_capacity": 2})
    assert fresh(second).offered_to == agent


def test_going_away_sends_pending_offers_back_to_the_queue(
    site, team, t0, django_capture_on_commit_callbacks
):
    agent = online_agent(team, username="leaving", at=t0)
    chat = waiting_chat(site, at=t0)
    assert chat.offered_to == agent

    with django_capture_on_commit_callbacks(execute=True):
        set_agent_availability(agent=agent, availability=Availability.AWAY)

    assert fresh(chat).state == WAITING
    assert ChatOffer.objects.get().outcome == OfferOutcome.WITHDRAWN


# --- offers nobody answers ------------------------------------------------------------------


def test_an_offer_not_accepted_in_time_goes_to_the_next_agent(site, team, t0):
    first = online_agent(team, username="first", at=t0)
    AgentChatPresence.objects.filter(agent=first).update(last_assigned_at=later(t0, -100))
    second = online_agent(team, username="second", at=t0)
    chat = waiting_chat(site, at=t0)
    assert chat.offered_to == second  # never assigned: idle longest

    routing_engine.expire_offers(now=later(t0, 29))
    assert fresh(chat).offered_to == second  # not yet

    for agent in (first, second):
        routing_engine.heartbeat(agent=agent, now=later(t0, 29))
    assert routing_engine.expire_offers(now=later(t0, 30)) == 1

    chat = fresh(chat)
    assert chat.state == OFFERED
    assert chat.offered_to == first
    outcomes = list(ChatOffer.objects.order_by("id").values_list("agent__username", "outcome"))
    assert outcomes == [("second", "timed_out"), ("first", "pending")]


def test_the_site_decides_the_offer_time_out(team, t0):
    quick = make_site(team, name="Quick shop", offer_timeout_seconds=5)
    online_agent(team, username="one", at=t0)
    chat = waiting_chat(quick, at=t0)
    assert ChatOffer.objects.get().expires_at == later(t0, 5)
    routing_engine.expire_offers(now=later(t0, 5))
    assert ChatOffer.objects.filter(conversation=chat).first().outcome == "timed_out"


def test_a_declined_chat_goes_to_the_next_agent(site, team, t0):
    first = online_agent(team, username="first", at=t0)
    second = online_agent(team, username="second", at=t0)
    chat = waiting_chat(site, at=t0)
    declining = chat.offered_to

    chat = routing_engine.decline_or_timeout(conversation=chat, agent=declining, now=later(t0, 3))

    assert chat.state == OFFERED
    assert chat.offered_to == ({first, second} - {declining}).pop()


def test_someone_else_cannot_decline_or_accept_an_offer(site, team, t0):
    online_agent(team, username="first", at=t0)
    chat = waiting_chat(site, at=t0)
    other = AgentFactory(username="other", profile__teams=[team])
    with pytest.raises(RuleBroken, match="not offered to you"):
        routing_engine.decline_or_timeout(conversation=chat, agent=other)
    with pytest.raises(RuleBroken, match="being offered to"):
        routing_engine.accept(conversation=chat, agent=other)


def test_the_only_agent_gets_a_refused_chat_again_one_time_out_later(site, team, t0):
    solo = online_agent(team, username="solo", at=t0)
    chat = waiting_chat(site, at=t0)
    routing_engine.decline_or_timeout(conversation=chat, agent=solo, now=later(t0, 1))
    assert fresh(chat).state == WAITING

    routing_engine.heartbeat(agent=solo, now=later(t0, 20))
    routing_engine.offer_next(now=later(t0, 20))
    assert fresh(chat).state == WAITING  # a rest of one time-out after refusing

    routing_engine.heartbeat(agent=solo, now=later(t0, 31))
    routing_engine.offer_next(now=later(t0, 31))
    assert fresh(chat).offered_to == solo


# --- presence from heartbeats ----------------------------------------------------------------


def test_a_silent_console_is_marked_away_and_its_offers_go_back_to_the_front(site, team, t0):
    gone = online_agent(team, username="gone", at=t0)
    chat = waiting_chat(site, at=t0)
    assert chat.offered_to == gone
    newer = waiting_chat(site, name="Newer", at=later(t0, 5))

    assert routing_engine.mark_away_stale_agents(now=later(t0, 29)) == []
    assert routing_engine.mark_away_stale_agents(now=later(t0, 31)) == [gone.pk]

    gone.agent_profile.refresh_from_db()
    assert gone.agent_profile.availability == Availability.AWAY
    presence = AgentChatPresence.objects.get(agent=gone)
    assert (presence.accepting, presence.away_by_timeout) == (False, True)
    audit = AuditEntry.objects.filter(action="changed").latest("id")
    assert (audit.actor, audit.changes["availability"]["to"]) == (None, "away")
    chat = fresh(chat)
    assert chat.state == WAITING
    assert routing_engine.queue_position(chat) == 1  # ahead of the newer chat
    assert routing_engine.queue_position(newer) == 2

    routing_engine.heartbeat(agent=gone, now=later(t0, 60))  # the browser is back
    gone.agent_profile.refresh_from_db()
    assert gone.agent_profile.availability == Availability.ONLINE
    assert fresh(chat).offered_to == gone


def test_an_agent_who_chose_away_stays_away_when_their_console_returns(site, team, t0):
    agent = online_agent(team, username="resting", at=t0, availability=Availability.AWAY)
    routing_engine.mark_away_stale_agents(now=later(t0, 60))
    routing_engine.heartbeat(agent=agent, now=later(t0, 70))
    agent.agent_profile.refresh_from_db()
    assert agent.agent_profile.availability == Availability.AWAY


def test_active_chats_of_a_vanished_agent_go_back_to_the_front_after_the_grace_period(
    site, team, t0, settings
):
    settings.CHAT_ORPHAN_GRACE_SECONDS = 60
    gone = online_agent(team, username="gone", at=t0)
    chat = waiting_chat(site, at=t0)
    routing_engine.accept(conversation=chat, agent=gone, now=t0)
    routing_engine.mark_away_stale_agents(now=later(t0, 31))
    assert fresh(chat).state == ACTIVE  # still theirs during the grace period

    assert routing_engine.requeue_orphaned_chats(now=later(t0, 89)) == []
    helper = online_agent(team, username="helper", at=later(t0, 91))
    assert routing_engine.requeue_orphaned_chats(now=later(t0, 91)) == [chat.pk]

    chat = fresh(chat)
    assert (chat.state, chat.agent, chat.offered_to) == (OFFERED, None, helper)


def test_the_sweep_does_it_all_and_twice_is_once(site, team, t0):
    agent = online_agent(team, username="one", at=t0)
    chat = waiting_chat(site, at=t0)
    assert chat.offered_to == agent
    first = routing_engine.sweep(now=later(t0, 40))
    second = routing_engine.sweep(now=later(t0, 40))
    assert (first.expired, first.away) == (1, [agent.pk])
    assert (second.expired, second.away, second.requeued, second.offered) == (0, [], [], 0)
    assert fresh(chat).state == WAITING


# --- accept and transfer --------------------------------------------------------------------


def test_accepting_assigns_the_ticket_and_is_idempotent(site, team, t0):
    agent = online_agent(team, username="taker", at=t0)
    chat = waiting_chat(site, at=t0)
    routing_engine.accept(conversation=chat, agent=agent, now=t0)
    again = routing_engine.accept(conversation=chat, agent=agent, now=t0)
    assert (again.state, again.agent) == (ACTIVE, agent)
    chat.ticket.refresh_from_db()
    assert chat.ticket.assignee == agent
    assert ChatOffer.objects.get().outcome == OfferOutcome.ACCEPTED


def test_agents_of_another_team_cannot_take_a_chat_but_managers_can(site, team, t0, manager):
    chat = waiting_chat(site, at=t0)
    outsider = online_agent(TeamFactory(name="Billing"), username="outsider", at=t0)
    with pytest.raises(RuleBroken, match="another team"):
        routing_engine.accept(conversation=chat, agent=outsider, now=t0)
    taken = routing_engine.accept(conversation=chat, agent=manager, now=t0)
    assert taken.agent == manager


def test_transfer_to_an_agent_offers_it_to_them_with_an_internal_note(site, team, t0):
    first = online_agent(team, username="first", at=t0)
    colleague = online_agent(TeamFactory(name="Returns"), username="colleague", at=t0)
    chat = waiting_chat(site, at=t0)
    routing_engine.accept(conversation=chat, agent=first, now=t0)

    chat = routing_engine.transfer(
        conversation=chat, actor=first, to_agent=colleague, note="Knows returns", now=t0
    )

    assert (chat.state, chat.offered_to, chat.agent) == (OFFERED, colleague, None)
    note = Message.objects.filter(ticket=chat.ticket, is_internal=True).get()
    assert f"Chat transferred to {colleague.display_name}: Knows returns" in note.body
    routing_engine.accept(conversation=chat, agent=colleague, now=later(t0, 1))
    assert fresh(chat).agent == colleague  # an offer to them, even outside their team


def test_transfer_to_a_team_requeues_it_there(site, team, t0):
    first = online_agent(team, username="first", at=t0)
    billing = TeamFactory(name="Billing")
    biller = online_agent(billing, username="biller", at=t0)
    chat = waiting_chat(site, at=t0)
    routing_engine.accept(conversation=chat, agent=first, now=t0)

    chat = routing_engine.transfer(conversation=chat, actor=first, to_team=billing, now=t0)

    assert (chat.state, chat.offered_to) == (OFFERED, biller)
    chat.ticket.refresh_from_db()
    assert (chat.ticket.team, chat.ticket.assignee) == (billing, None)


@pytest.mark.parametrize(
    ("target", "message"),
    [("nobody", "Choose an agent or a team"), ("offline", "not online"), ("self", "someone else")],
)
def test_transfer_refusals(site, team, t0, target, message):
    first = online_agent(team, username="first", at=t0)
    offline = AgentFactory(username="offline", profile__teams=[team])
    chat = waiting_chat(site, at=t0)
    routing_engine.accept(conversation=chat, agent=first, now=t0)
    to_agent = {"nobody": None, "offline": offline, "self": first}[target]
    with pytest.raises(RuleBroken, match=message):
        routing_engine.transfer(conversation=chat, actor=first, to_agent=to_agent, now=t0)


def test_only_the_agent_in_the_chat_transfers_it(site, team, t0):
    first = online_agent(team, username="first", at=t0)
    other = online_agent(team, username="other", at=t0)
    chat = waiting_chat(site, at=t0)
    routing_engine.accept(conversation=chat, agent=first, now=t0)
    with pytest.raises(RuleBroken, match="Only the agent"):
        routing_engine.transfer(conversation=chat, actor=other, to_agent=other, now=t0)


# --- two processes, one chat ------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_offer_next_calls_never_hand_one_chat_to_two_agents_or_overfill_one(team):
    """Eight threads (eight database connections, like eight server processes) route the same
    queue at once: every chat is offered once, and nobody gets more than their capacity."""
    site = make_site(team)
    now = timezone.now()
    agents = [online_agent(team, username=f"agent{n}", capacity=2, at=now) for n in range(3)]
    chats = [waiting_chat(site, name=f"C{n}", at=now, enqueue=False) for n in range(12)]
    for chat in chats:  # queued, but nobody has routed them yet
        chat.queued_at = now
        chat.save(update_fields=["queued_at"])

    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def route() -> None:
        try:
            barrier.wait()
            for _ in range(3):
                routing_engine.offer_next(now=now)
        except BaseException as error:  # reported below, whatever it is
            errors.append(error)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=route) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    offers = list(ChatOffer.objects.values_list("conversation_id", "agent_id"))
    assert len(offers) == len({conversation for conversation, _ in offers}) == 6
    per_agent = {agent.pk: sum(1 for _, a in offers if a == agent.pk) for agent in agents}
    assert per_agent == {agent.pk: 2 for agent in agents}
    assert sum(1 for c in chats if fresh(c).state == OFFERED) == 6


def test_the_worker_task_runs_the_sweep(site, team, t0):
    from chat.tasks import sweep_chat_routing
    from helpdesk.celery import app

    schedule = app.conf.beat_schedule["sweep-chat-routing"]
    assert (schedule["schedule"], schedule["options"]["expires"]) == (5.0, 4)
    agent = online_agent(team, username="gone", at=later(t0, -100))
    assert sweep_chat_routing() == {"expired": 0, "away": 1, "requeued": 0, "offered": 0}
    assert not AgentChatPresence.objects.get(agent=agent).accepting
