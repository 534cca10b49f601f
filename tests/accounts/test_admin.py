"""Users, agent profiles and teams in the Django admin, through the real admin URLs."""

from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AgentProfile, AuditAction, AuditEntry, Availability, Role, Team
from accounts.services import set_team_active
from tests.factories import (
    AgentFactory,
    CustomerFactory,
    TeamFactory,
    TicketFactory,
    UserFactory,
)
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_agent(db):
    return AgentFactory(username="ada", profile__role=Role.ADMIN)


@pytest.fixture
def web(admin_agent) -> Client:
    client = Client()
    client.force_login(admin_agent)
    return client


def queries_for(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == HTTPStatus.OK
    return len(queries)


def many_users(n: int) -> None:
    team = TeamFactory(name="Orders")
    AgentFactory.create_batch(n // 2, profile__teams=[team])
    CustomerFactory.create_batch(n - n // 2, with_login=True)


def many_profiles(n: int) -> None:
    AgentFactory.create_batch(n, profile__teams=[TeamFactory(name="Orders")])


def many_teams(n: int) -> None:
    manager = AgentFactory(profile__role=Role.MANAGER)
    TeamFactory.create_batch(n, manager=manager)


@pytest.mark.parametrize(
    ("model", "make", "already"),
    [("user", many_users, 1), ("agentprofile", many_profiles, 1), ("team", many_teams, 0)],
)
def test_changelist_costs_the_same_queries_for_10_and_50_rows(web, model, make, already):
    url = reverse(f"admin:accounts_{model}_changelist")
    make(10)
    with_10 = queries_for(web, url)

    make(40)
    with_50 = queries_for(web, url)

    assert with_50 == with_10
    assert web.get(url).context["cl"].result_count == 50 + already


def test_user_page_shows_the_agent_profile_inline(web):
    agent = AgentFactory(profile__role=Role.MANAGER)

    response = web.get(reverse("admin:accounts_user_change", args=[agent.pk]))

    assert response.status_code == HTTPStatus.OK
    [profiles] = response.context["inline_admin_formsets"]
    assert profiles.formset.forms[0].instance == agent.agent_profile
    assert "Chat capacity" in response.text


def user_form(user, **profile) -> dict:
    """The user change page as posted, with its agent-profile inline."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "agent_profile-TOTAL_FORMS": "1",
        "agent_profile-INITIAL_FORMS": "1" if hasattr(user, "agent_profile") else "0",
        "agent_profile-MIN_NUM_FORMS": "0",
        "agent_profile-MAX_NUM_FORMS": "1",
        "agent_profile-0-user": user.pk,
        "agent_profile-0-role": Role.AGENT,
        "agent_profile-0-timezone": "UTC",
        "agent_profile-0-availability": Availability.OFFLINE,
        "agent_profile-0-chat_capacity": "3",
    }
    if hasattr(user, "agent_profile"):
        data["agent_profile-0-id"] = user.agent_profile.pk
    data.update({f"agent_profile-0-{name}": value for name, value in profile.items()})
    return data


def test_an_admin_edits_an_agents_profile(web):
    team = TeamFactory(name="Returns")
    agent = AgentFactory()

    response = web.post(
        reverse("admin:accounts_user_change", args=[agent.pk]),
        user_form(
            agent,
            role=Role.MANAGER,
            teams=[team.pk],
            timezone="Europe/Paris",
            chat_capacity="5",
        ),
    )

    assert response.status_code == HTTPStatus.FOUND
    profile = AgentProfile.objects.get(user=agent)
    assert (profile.role, profile.timezone, profile.chat_capacity) == (
        Role.MANAGER,
        "Europe/Paris",
        5,
    )
    assert list(profile.teams.all()) == [team]


def test_making_a_user_an_agent(web):
    user = UserFactory()

    response = web.post(reverse("admin:accounts_user_change", args=[user.pk]), user_form(user))

    assert response.status_code == HTTPStatus.FOUND
    assert AgentProfile.objects.get(user=user).role == Role.AGENT


@pytest.mark.parametrize(
    ("field", "value"),
    [("chat_capacity", "50"), ("timezone", "Mars/Olympus"), ("role", "boss")],
)
def test_bad_profile_values_are_form_errors(web, field, value):
    agent = AgentFactory()

    response = web.post(
        reverse("admin:accounts_user_change", args=[agent.pk]), user_form(agent, **{field: value})
    )

    assert response.status_code == HTTPStatus.OK
    [profiles] = response.context["inline_admin_formsets"]
    assert field in profiles.formset.forms[0].errors
    profile = AgentProfile.objects.get(user=agent)
    assert (profile.role, profile.timezone, profile.chat_capacity) == (Role.AGENT, "UTC", 3)


def test_adding_a_team_with_members(web):
    manager = AgentFactory(profile__role=Role.MANAGER)
    members = AgentFactory.create_batch(2)

    response = web.post(
        reverse("admin:accounts_team_add"),
        {
            "name": "  Returns  desk ",
            "description": "",
            "manager": manager.pk,
            "members": [m.pk for m in members],
        },
    )

    assert response.status_code == HTTPStatus.FOUND
    team = Team.objects.get()
    assert (team.name, team.manager) == ("Returns desk", manager)
    assert {profile.user for profile in team.members.all()} == set(members)


def test_a_customer_cannot_manage_a_team(web):
    customer = CustomerFactory(with_login=True)

    response = web.post(
        reverse("admin:accounts_team_add"),
        {"name": "Returns", "description": "", "manager": customer.user.pk, "members": []},
    )

    assert response.status_code == HTTPStatus.OK
    assert response.context["adminform"].form.errors["manager"] == [
        f"{customer.user.username} is not an active agent."
    ]
    assert not Team.objects.exists()


def test_renaming_a_team_to_a_taken_name_is_a_form_error(web):
    TeamFactory(name="Billing")
    team = TeamFactory(name="Orders")

    response = web.post(
        reverse("admin:accounts_team_change", args=[team.pk]),
        {"name": "billing", "description": "", "manager": "", "members": []},
    )

    assert response.context["adminform"].form.errors["name"] == [
        "A team with this name already exists."
    ]
    assert Team.objects.get(pk=team.pk).name == "Orders"


def test_changing_team_members(web):
    team = TeamFactory(name="Orders")
    leaving = AgentFactory(profile__teams=[team])
    joining = AgentFactory()

    response = web.post(
        reverse("admin:accounts_team_change", args=[team.pk]),
        {"name": "Orders", "description": "", "manager": "", "members": [joining.pk]},
    )

    assert response.status_code == HTTPStatus.FOUND
    assert [profile.user for profile in team.members.all()] == [joining]
    assert not leaving.agent_profile.teams.exists()


def test_the_manager_picker_offers_agents_only(web, admin_agent):
    customer = CustomerFactory(with_login=True)

    response = web.get(
        reverse("admin:autocomplete"),
        {"app_label": "accounts", "model_name": "team", "field_name": "manager", "term": ""},
    )

    offered = {int(result["id"]) for result in response.json()["results"]}
    assert admin_agent.pk in offered
    assert customer.user.pk not in offered


# --- every write through the services, and into the audit trail ---------------------------------


def test_a_profile_edit_is_recorded_with_who_and_what(web, admin_agent):
    agent = AgentFactory(profile__availability=Availability.OFFLINE)
    team = TeamFactory(name="Returns")

    web.post(
        reverse("admin:accounts_user_change", args=[agent.pk]),
        user_form(agent, role=Role.MANAGER, teams=[team.pk], chat_capacity="5"),
    )

    entry = AuditEntry.objects.get(target_id=agent.agent_profile.pk)
    assert (entry.actor, entry.action) == (admin_agent, AuditAction.CHANGED)
    assert entry.changes == {
        "role": {"from": "agent", "to": "manager"},
        "teams": {"from": [], "to": ["Returns"]},
        "chat_capacity": {"from": 3, "to": 5},
    }


def test_making_a_user_an_agent_is_recorded(web, admin_agent):
    user = UserFactory()

    web.post(reverse("admin:accounts_user_change", args=[user.pk]), user_form(user))

    entry = AuditEntry.objects.get(action=AuditAction.CREATED)
    assert (entry.actor, entry.target_id) == (admin_agent, AgentProfile.objects.get(user=user).pk)
    assert entry.changes["role"] == {"from": None, "to": "agent"}


def test_an_archived_team_is_refused_on_a_profile_as_a_form_error(web):
    archived = TeamFactory(name="Old desk", is_active=False)
    agent = AgentFactory()

    response = web.post(
        reverse("admin:accounts_user_change", args=[agent.pk]),
        user_form(agent, teams=[archived.pk]),
    )

    assert response.status_code == HTTPStatus.OK
    [profiles] = response.context["inline_admin_formsets"]
    assert profiles.formset.forms[0].errors["teams"] == [
        "Old desk: archived teams take no new members."
    ]
    assert not agent.agent_profile.teams.exists()
    assert not AuditEntry.objects.exists()


def test_the_agent_profile_page_saves_through_the_service(web, admin_agent):
    agent = AgentFactory(profile__availability=Availability.OFFLINE)
    url = reverse("admin:accounts_agentprofile_change", args=[agent.agent_profile.pk])

    too_many = web.post(url, {**profile_page(), "chat_capacity": "50"})
    saved = web.post(url, {**profile_page(), "availability": Availability.ONLINE})

    assert too_many.context["adminform"].form.errors["chat_capacity"] == [
        "Chat capacity is between 0 and 20."
    ]
    assert saved.status_code == HTTPStatus.FOUND
    agent.agent_profile.refresh_from_db()
    assert (agent.agent_profile.availability, agent.agent_profile.chat_capacity) == ("online", 3)
    [entry] = AuditEntry.objects.all()
    assert entry.changes == {"availability": {"from": "offline", "to": "online"}}


def profile_page(**fields) -> dict:
    return {
        "role": Role.AGENT,
        "timezone": "UTC",
        "availability": Availability.OFFLINE,
        "chat_capacity": "3",
        **fields,
    }


def test_adding_an_agent_profile_page_makes_the_agent(web, admin_agent):
    user = UserFactory()

    response = web.post(
        reverse("admin:accounts_agentprofile_add"), {**profile_page(), "user": user.pk}
    )

    assert response.status_code == HTTPStatus.FOUND
    assert AgentProfile.objects.get(user=user).role == Role.AGENT
    assert AuditEntry.objects.get().actor == admin_agent


@pytest.mark.parametrize("model", ["user", "agentprofile", "team"])
def test_nothing_here_is_deleted(web, model):
    agent = AgentFactory(profile__teams=[TeamFactory(name="Orders")])
    obj = {"user": agent, "agentprofile": agent.agent_profile, "team": Team.objects.get()}[model]
    changelist = reverse(f"admin:accounts_{model}_changelist")

    page = web.get(reverse(f"admin:accounts_{model}_delete", args=[obj.pk]))
    bulk = web.post(changelist, {"action": "delete_selected", "_selected_action": [obj.pk],
                                 "post": "yes"})  # fmt: skip
    action_form = web.get(changelist).context["action_form"]
    offered = [name for name, _ in action_form.fields["action"].choices] if action_form else []

    assert page.status_code == HTTPStatus.FORBIDDEN
    assert bulk.status_code in {HTTPStatus.OK, HTTPStatus.FOUND}  # "no such action"
    assert type(obj).objects.filter(pk=obj.pk).exists()
    assert "delete_selected" not in offered


def test_deactivating_users_goes_through_the_service_and_keeps_their_tickets(web, admin_agent):
    agent = AgentFactory()
    ticket = TicketFactory(assignee=agent)

    response = web.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "deactivate_selected", "_selected_action": [agent.pk]},
    )

    assert response.status_code == HTTPStatus.FOUND
    agent.refresh_from_db()
    assert not agent.is_active
    assert Ticket.objects.get(pk=ticket.pk).assignee == agent  # nothing cleared silently
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.target_id, entry.target_label) == (
        admin_agent,
        AuditAction.DEACTIVATED,
        agent.pk,
        agent.username,
    )
    assert entry.changes == {"is_active": {"from": True, "to": False}}

    web.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "reactivate_selected", "_selected_action": [agent.pk]},
    )
    agent.refresh_from_db()
    assert agent.is_active
    assert AuditEntry.objects.filter(action=AuditAction.REACTIVATED).count() == 1


def test_an_admin_cannot_deactivate_themself(web, admin_agent):
    response = web.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "deactivate_selected", "_selected_action": [admin_agent.pk]},
        follow=True,
    )

    assert "You cannot deactivate yourself." in response.text
    admin_agent.refresh_from_db()
    assert admin_agent.is_active
    assert not AuditEntry.objects.exists()


def test_unticking_active_on_the_user_page_deactivates_through_the_service(web, admin_agent):
    agent = AgentFactory(profile__availability=Availability.OFFLINE)
    form = user_form(agent)
    del form["is_active"]

    response = web.post(reverse("admin:accounts_user_change", args=[agent.pk]), form)

    assert response.status_code == HTTPStatus.FOUND
    agent.refresh_from_db()
    assert not agent.is_active
    assert AuditEntry.objects.get().action == AuditAction.DEACTIVATED


def test_unticking_your_own_active_box_is_a_form_error(web, admin_agent):
    form = user_form(admin_agent, role=Role.ADMIN)
    del form["is_active"]

    response = web.post(reverse("admin:accounts_user_change", args=[admin_agent.pk]), form)

    assert response.status_code == HTTPStatus.OK
    assert response.context["adminform"].form.errors["is_active"] == [
        "You cannot deactivate yourself."
    ]
    admin_agent.refresh_from_db()
    assert admin_agent.is_active


def test_archiving_a_team_keeps_its_tickets_and_is_recorded(web, admin_agent):
    team = TeamFactory(name="Orders")
    ticket = TicketFactory(team=team)

    response = web.post(
        reverse("admin:accounts_team_changelist"),
        {"action": "archive_selected", "_selected_action": [team.pk]},
    )

    assert response.status_code == HTTPStatus.FOUND
    team.refresh_from_db()
    assert not team.is_active
    assert Ticket.objects.get(pk=ticket.pk).team == team
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.target_label) == (
        admin_agent,
        AuditAction.ARCHIVED,
        "Orders",
    )
    # An archived team is no longer offered to tickets, and cannot be edited until restored.
    offered = web.get(
        reverse("admin:autocomplete"),
        {"app_label": "tickets", "model_name": "ticket", "field_name": "team", "term": ""},
    ).json()["results"]
    assert offered == []
    edited = web.post(
        reverse("admin:accounts_team_change", args=[team.pk]),
        {"name": "Orders", "description": "new", "manager": "", "members": []},
    )
    assert edited.context["adminform"].form.non_field_errors() == [
        "Orders is archived; restore it first."
    ]


def test_team_changes_from_the_admin_are_recorded(web, admin_agent):
    joining = AgentFactory(username="jo")

    web.post(
        reverse("admin:accounts_team_add"),
        {"name": "Returns", "description": "", "manager": "", "members": [joining.pk]},
    )
    team = Team.objects.get()
    web.post(
        reverse("admin:accounts_team_change", args=[team.pk]),
        {"name": "Refunds", "description": "", "manager": "", "members": []},
    )

    created, changed = AuditEntry.objects.order_by("id")
    assert created.changes == {
        "name": {"from": None, "to": "Returns"},
        "members": {"from": None, "to": ["jo"]},
    }
    assert changed.changes == {
        "name": {"from": "Returns", "to": "Refunds"},
        "members": {"from": ["jo"], "to": []},
    }
    assert (changed.actor, changed.target_label) == (admin_agent, "Refunds")


# --- the audit trail in the admin: managers read it, nobody writes it ---------------------------


def test_managers_read_the_audit_trail_and_nobody_writes_it(web, admin_agent):
    team = TeamFactory(name="Orders")
    set_team_active(team=team, active=False, actor=admin_agent)
    entry = AuditEntry.objects.get()
    manager = AgentFactory(profile__role=Role.MANAGER, is_staff=True)
    staff_agent = AgentFactory(profile__role=Role.AGENT, is_staff=True)
    manager_web, agent_web = Client(), Client()
    manager_web.force_login(manager)
    agent_web.force_login(staff_agent)
    detail = reverse("admin:accounts_auditentry_change", args=[entry.pk])

    listed = manager_web.get(reverse("admin:accounts_auditentry_changelist"))
    page = manager_web.get(detail)
    rewritten = web.post(detail, {"action": "restored"})
    deleted = web.post(reverse("admin:accounts_auditentry_delete", args=[entry.pk]), {"post": "y"})
    added = web.get(reverse("admin:accounts_auditentry_add"))
    hidden = agent_web.get(reverse("admin:accounts_auditentry_changelist"))

    assert listed.status_code == page.status_code == HTTPStatus.OK
    assert list(listed.context["cl"].result_list) == [entry]
    assert "is_active" in page.text
    assert [rewritten.status_code, deleted.status_code, added.status_code] == [
        HTTPStatus.FORBIDDEN
    ] * 3
    assert hidden.status_code == HTTPStatus.FORBIDDEN
    assert AuditEntry.objects.get().action == AuditAction.ARCHIVED


def test_audit_changelist_costs_the_same_queries_for_10_and_50_rows(web, admin_agent):
    url = reverse("admin:accounts_auditentry_changelist")
    teams = TeamFactory.create_batch(25)

    for team in teams[:5]:
        set_team_active(team=team, active=False, actor=admin_agent)
        set_team_active(team=team, active=True, actor=admin_agent)
    with_10 = queries_for(web, url)
    for team in teams[5:]:
        set_team_active(team=team, active=False, actor=admin_agent)
        set_team_active(team=team, active=True, actor=admin_agent)
    with_50 = queries_for(web, url)

    assert with_50 == with_10


def test_adding_a_login_with_an_agent_profile_makes_the_agent_through_the_service(web, admin_agent):
    response = web.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "newagent",
            "password1": "Sup3r-secret-pw!",
            "password2": "Sup3r-secret-pw!",
            "usable_password": "true",
            "agent_profile-TOTAL_FORMS": "1",
            "agent_profile-INITIAL_FORMS": "0",
            "agent_profile-MIN_NUM_FORMS": "0",
            "agent_profile-MAX_NUM_FORMS": "1",
            "agent_profile-0-role": Role.AGENT,
            "agent_profile-0-timezone": "Europe/Paris",
            "agent_profile-0-availability": Availability.OFFLINE,
            "agent_profile-0-chat_capacity": "3",
        },
    )

    assert response.status_code == HTTPStatus.FOUND
    profile = AgentProfile.objects.get(user__username="newagent")
    assert profile.timezone == "Europe/Paris"
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.target_id) == (
        admin_agent,
        AuditAction.CREATED,
        profile.pk,
    )
