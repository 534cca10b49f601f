"""The agent stream follows the session: it closes with 4401 when the session ends and with 4403
when its user is no longer an active agent, whichever way that happened (through the real ASGI
application and channel layer; see tickets.consumers and accounts.live)."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from accounts.factories import AgentFactory
from accounts.models import AgentProfile, Role, User
from accounts.services import set_agent_availability, set_user_active
from tests.stream import (
    close_code,
    connected,
    connected_socket_for,
    cookie_of,
    signed_in_client,
    socket_with_cookie,
)
from tickets.rechecks import rechecks

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the socket reads what the test committed
    pytest.mark.usefixtures("private_channel_layer"),
]


async def assert_alive(socket) -> None:
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=5) == {"type": "pong"}


# --- signals: at once -------------------------------------------------------------------------


async def test_signing_out_closes_that_sessions_stream_with_4401(agent):
    browser = await signed_in_client(agent)
    socket = await connected(socket_with_cookie(cookie_of(browser)))
    elsewhere = await connected_socket_for(agent)  # the same agent in another browser
    await assert_alive(socket)

    response = await database_sync_to_async(browser.post)("/api-auth/logout/")
    assert response.status_code == 200  # Django's LogoutView, as DRF's login pages wire it

    assert await close_code(socket) == 4401
    await assert_alive(elsewhere)  # signing out ends one session, not the agent's others
    await elsewhere.disconnect()


async def test_deactivating_the_agent_closes_every_stream_of_theirs_with_4403(agent, other_agent):
    sockets = [await connected_socket_for(agent), await connected_socket_for(agent)]
    bystander = await connected_socket_for(other_agent)

    @database_sync_to_async
    def deactivate():
        user = User.objects.get(pk=agent.pk)
        user.is_active = False
        user.save(update_fields=["is_active"])  # what the admin's form and any service do

    await deactivate()

    for socket in sockets:
        assert await close_code(socket) == 4403
    await assert_alive(bystander)
    await bystander.disconnect()


async def test_removing_the_agent_profile_closes_the_stream_with_4403(agent):
    socket = await connected_socket_for(agent)
    await database_sync_to_async(AgentProfile.objects.filter(user=agent).delete)()
    assert await close_code(socket) == 4403


async def test_deleting_the_user_closes_the_stream(agent):
    socket = await connected_socket_for(agent)
    await database_sync_to_async(User.objects.filter(pk=agent.pk).delete)()
    assert await close_code(socket) == 4401  # the session signs in no one any more


async def test_changing_the_password_ends_the_other_sessions_with_4401(agent):
    socket = await connected_socket_for(agent)

    @database_sync_to_async
    def change_password():
        user = User.objects.get(pk=agent.pk)
        user.set_password("a-new-long-passphrase")
        user.save()

    await change_password()
    assert await close_code(socket) == 4401


async def test_a_change_that_keeps_them_an_agent_keeps_the_stream(agent):
    socket = await connected_socket_for(agent)

    @database_sync_to_async
    def promote_and_go_away():
        AgentProfile.objects.filter(user=agent).update(role=Role.MANAGER)  # no signal: no check
        profile = AgentProfile.objects.get(user=agent)
        profile.role = Role.ADMIN
        profile.save(update_fields=["role"])  # a signal: the socket checks and stays
        set_agent_availability(agent=agent, availability="away")

    await promote_and_go_away()
    await assert_alive(socket)
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


# --- the periodic re-check: for what bypasses signals -----------------------------------------


@pytest.fixture
def quick_recheck(settings):
    settings.STREAM_RECHECK_SECONDS = 0.2


@pytest.mark.usefixtures("quick_recheck")
async def test_periodic_check_notices_a_deleted_session_row(agent):
    socket = await connected_socket_for(agent)
    await assert_alive(socket)
    # Deleting session rows sends no signal anyone listens to: only the re-check can see it.
    await database_sync_to_async(Session.objects.all().delete)()
    assert await close_code(socket) == 4401


@pytest.mark.usefixtures("quick_recheck")
async def test_periodic_check_notices_an_expired_session(agent):
    socket = await connected_socket_for(agent)
    await assert_alive(socket)
    a_minute_ago = timezone.now() - timedelta(minutes=1)
    await database_sync_to_async(Session.objects.update)(expire_date=a_minute_ago)
    assert await close_code(socket) == 4401


@pytest.mark.usefixtures("quick_recheck")
async def test_periodic_check_notices_a_bulk_deactivation(agent):
    socket = await connected_socket_for(agent)
    await database_sync_to_async(User.objects.filter(pk=agent.pk).update)(is_active=False)
    assert await close_code(socket) == 4403


@pytest.mark.usefixtures("quick_recheck")
async def test_periodic_check_keeps_a_valid_session_open(agent):
    socket = await connected_socket_for(agent)
    # Several re-checks run meanwhile (every 0.2 s); each finds the agent welcome.
    assert await socket.receive_nothing(timeout=1)
    await assert_alive(socket)
    await socket.disconnect()


# --- the batch behind the periodic re-check: one per process, whatever the number of sockets --


async def test_one_batch_closes_only_the_sockets_whose_session_ended(agent, other_agent):
    browsers = [await signed_in_client(user) for user in (agent, other_agent, agent)]
    ended, expired, staying = [
        await connected(socket_with_cookie(cookie_of(browser))) for browser in browsers
    ]

    @database_sync_to_async
    def end_two_sessions_quietly():
        # Deleting or expiring session rows tells no one: only the re-check can see it.
        Session.objects.filter(session_key=browsers[0].session.session_key).delete()
        a_minute_ago = timezone.now() - timedelta(minutes=1)
        Session.objects.filter(session_key=browsers[1].session.session_key).update(
            expire_date=a_minute_ago
        )

    await end_two_sessions_quietly()
    await assert_alive(ended)  # nothing noticed yet: no signal, and no per-socket timer
    assert await rechecks().recheck_now() == 3

    assert await close_code(ended) == 4401
    assert await close_code(expired) == 4401
    await assert_alive(staying)  # the agent's other browser: its session lives on
    await staying.disconnect()


async def test_one_batch_closes_a_quietly_deactivated_agents_sockets_with_4403(agent, manager):
    sockets = [await connected_socket_for(agent), await connected_socket_for(agent)]
    bystander = await connected_socket_for(manager)
    await database_sync_to_async(User.objects.filter(pk=agent.pk).update)(is_active=False)

    assert await rechecks().recheck_now() == 3

    for socket in sockets:
        assert await close_code(socket) == 4403
    await assert_alive(bystander)
    await bystander.disconnect()


async def test_the_recheck_task_runs_while_sockets_are_open_and_stops_with_the_last(agent):
    registry = rechecks()
    assert registry.task is None
    first, second = await connected_socket_for(agent), await connected_socket_for(agent)
    task = registry.task
    assert task is not None
    assert not task.done()
    await first.disconnect()
    assert registry.task is task  # one task for the process, however many sockets
    await second.disconnect()
    assert registry.task is None
    assert registry.sockets == {}
    assert await registry.recheck_now() == 0  # nobody to ask: no query


@pytest.mark.usefixtures("quick_recheck")
async def test_after_the_batch_closed_the_last_socket_the_next_one_gets_one_fresh_task(
    agent, other_agent
):
    registry = rechecks()
    socket = await connected_socket_for(agent)
    first = registry.task
    await database_sync_to_async(User.objects.filter(pk=agent.pk).update)(is_active=False)
    assert await close_code(socket) == 4403  # closed by the task's own batch

    newcomer = await connected_socket_for(other_agent)
    assert first is not None
    assert first.done()
    assert registry.task is not None
    assert registry.task is not first
    assert not registry.task.done()
    await assert_alive(newcomer)
    await newcomer.disconnect()


# --- at connect -------------------------------------------------------------------------------


async def test_a_signed_out_session_cannot_reconnect(agent):
    browser = await signed_in_client(agent)
    cookie = cookie_of(browser)
    await database_sync_to_async(browser.post)("/api-auth/logout/")
    socket = socket_with_cookie(cookie)
    assert (await socket.connect())[0]
    assert await close_code(socket) == 4403  # an anonymous visitor now


# --- the doors that deactivate: the accounts service and the admin (both save the user) -------


async def test_deactivating_through_the_accounts_service_closes_the_stream_with_4403(
    agent, manager
):
    socket = await connected_socket_for(agent)
    await database_sync_to_async(set_user_active)(user=agent, active=False, actor=manager)
    assert await close_code(socket) == 4403


async def test_deactivating_in_the_admin_closes_the_stream_with_4403(agent):
    admin = await database_sync_to_async(AgentFactory)(username="ada", profile__role=Role.ADMIN)
    web = await signed_in_client(admin)
    socket = await connected_socket_for(agent)

    response = await database_sync_to_async(web.post)(
        reverse("admin:accounts_user_changelist"),
        {"action": "deactivate_selected", "_selected_action": [agent.pk]},
    )

    assert response.status_code == 302
    assert await close_code(socket) == 4403
