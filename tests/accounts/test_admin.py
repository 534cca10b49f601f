"""Users, agent profiles and teams in the Django admin, through the real admin URLs."""

from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AgentProfile, Availability, Role, Team
from tests.factories import AgentFactory, CustomerFactory, TeamFactory, UserFactory

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
