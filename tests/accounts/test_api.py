"""Signing in with a token, /me/, the agent directory and teams, through the real URLs."""

from http import HTTPStatus

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.factories import DEFAULT_PASSWORD
from accounts.models import AgentProfile, Availability, Role, Team
from tests import test_schema
from tests.factories import AgentFactory, OrganizationFactory, TeamFactory, UserFactory

TOKEN = reverse("api:auth-token")
ME = reverse("api:me")
AGENTS = reverse("api:agent-list")
TEAMS = reverse("api:team-list")
MY_AVAILABILITY = reverse("api:agent-my-availability")


def agent_url(user) -> str:
    return reverse("api:agent-detail", args=[user.pk])


def team_url(team) -> str:
    return reverse("api:team-detail", args=[team.pk])


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


# --- tokens -----------------------------------------------------------------------------------


def test_agent_gets_a_token_and_uses_it(anonymous_client, agent):
    response = anonymous_client.post(TOKEN, {"username": "alice", "password": DEFAULT_PASSWORD})

    assert response.status_code == HTTPStatus.OK
    key = response.json()["token"]
    assert Token.objects.get(user=agent).key == key
    me = token_client(key).get(ME)
    assert me.status_code == HTTPStatus.OK
    assert me.json()["username"] == "alice"


def test_asking_again_returns_the_same_token(anonymous_client, agent):
    credentials = {"username": "alice", "password": DEFAULT_PASSWORD}
    first = anonymous_client.post(TOKEN, credentials).json()["token"]
    second = anonymous_client.post(TOKEN, credentials).json()["token"]
    assert first == second


def test_customer_gets_a_token_too(anonymous_client, customer):
    response = anonymous_client.post(
        TOKEN, {"username": customer.user.username, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == HTTPStatus.OK
    assert token_client(response.json()["token"]).get(ME).json()["kind"] == "customer"


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "alice", "password": "wrong"},
        {"username": "nobody", "password": DEFAULT_PASSWORD},
        {"username": "ALICE", "password": DEFAULT_PASSWORD},
    ],
)
def test_wrong_credentials_are_a_400_that_names_no_account(anonymous_client, agent, credentials):
    response = anonymous_client.post(TOKEN, credentials)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {"non_field_errors": ["Unable to sign in with these credentials."]}
    assert not Token.objects.exists()


def test_deactivated_user_gets_no_token(anonymous_client, agent):
    agent.is_active = False
    agent.save()
    response = anonymous_client.post(TOKEN, {"username": "alice", "password": DEFAULT_PASSWORD})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not Token.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"password": "x"}, "username"), ({"username": "alice"}, "password"), ([], None)],
)
def test_missing_credentials_are_a_400_naming_the_field(anonymous_client, agent, payload, field):
    response = anonymous_client.post(TOKEN, payload, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()) == [field or "non_field_errors"]


def test_the_eleventh_guess_in_a_minute_is_throttled(anonymous_client, agent):
    for _ in range(10):
        guess = anonymous_client.post(TOKEN, {"username": "alice", "password": "guess"})
        assert guess.status_code == HTTPStatus.BAD_REQUEST

    # Even the right password waits now: the limit is on attempts, not on failures.
    response = anonymous_client.post(TOKEN, {"username": "alice", "password": DEFAULT_PASSWORD})

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert "detail" in response.json()
    assert int(response.headers["Retry-After"]) > 0
    assert not Token.objects.exists()


def test_throttle_counts_per_client_address(agent):
    guesser, bystander = APIClient(REMOTE_ADDR="10.0.0.1"), APIClient(REMOTE_ADDR="10.0.0.2")
    for n in range(11):  # other usernames: alice's own lockout is tests/test_sign_in_lockout.py
        guesser.post(TOKEN, {"username": f"guess{n}", "password": "guess"})

    response = bystander.post(TOKEN, {"username": "alice", "password": DEFAULT_PASSWORD})
    assert response.status_code == HTTPStatus.OK


def test_revoking_a_token_stops_it_working(agent):
    key = Token.objects.create(user=agent).key
    client = token_client(key)

    assert client.delete(TOKEN).status_code == HTTPStatus.NO_CONTENT

    assert not Token.objects.filter(user=agent).exists()
    assert client.get(ME).status_code == HTTPStatus.UNAUTHORIZED


def test_anonymous_cannot_revoke_anything(anonymous_client, agent):
    Token.objects.create(user=agent)
    assert anonymous_client.delete(TOKEN).status_code == HTTPStatus.UNAUTHORIZED
    assert Token.objects.filter(user=agent).exists()


def test_a_made_up_token_is_a_401(agent):
    response = token_client("0" * 40).get(ME)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.headers["WWW-Authenticate"] == "Token"


# --- me ---------------------------------------------------------------------------------------


def test_me_for_an_agent(agent_client, agent, team):
    body = agent_client.get(ME).json()

    assert body == {
        "id": agent.pk,
        "username": "alice",
        "display_name": agent.display_name,
        "email": agent.email,
        "kind": "agent",
        "agent": {
            "role": "agent",
            "teams": [team.pk],
            "timezone": "UTC",
            "availability": "online",
            "chat_capacity": 3,
        },
        "customer": None,
    }


def test_me_for_a_manager_shows_the_role(manager_client):
    assert manager_client.get(ME).json()["agent"]["role"] == "manager"


def test_me_for_a_customer_shows_their_own_record_without_agents_notes(customer_client, customer):
    customer.organization = OrganizationFactory(name="Acme")
    customer.notes = "Agents only: asked for a refund twice."
    customer.save()

    body = customer_client.get(ME).json()

    assert (body["kind"], body["agent"]) == ("customer", None)
    assert body["customer"] == {
        "id": customer.pk,
        "name": "Carol Customer",
        "email": "carol@shop.example",
        "phone": customer.phone,
        "organization": {"id": customer.organization.pk, "name": "Acme"},
        "tier": {
            "id": customer.tier.pk,
            "name": customer.tier.name,
            "slug": customer.tier.slug,
            "rank": customer.tier.rank,
            "description": customer.tier.description,
        },
    }


def test_me_for_a_login_that_is_neither(db):
    client = APIClient()
    client.force_authenticate(UserFactory(username="root"))
    body = client.get(ME).json()
    assert (body["kind"], body["agent"], body["customer"]) == ("other", None, None)


def test_me_needs_a_login(anonymous_client):
    response = anonymous_client.get(ME)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert "detail" in response.json()


# --- agent directory --------------------------------------------------------------------------


def test_agent_lists_agents_but_not_customers_or_deactivated_agents(
    agent_client, agent, other_agent, manager, customer
):
    AgentFactory(username="gone", is_active=False)

    response = agent_client.get(AGENTS)

    assert response.status_code == HTTPStatus.OK
    rows = response.json()["results"]
    assert [row["username"] for row in rows] == ["alice", "bob", "maria"]
    assert rows[2]["role"] == "manager"
    assert set(rows[0]) == {
        "id",
        "username",
        "display_name",
        "email",
        "role",
        "teams",
        "timezone",
        "availability",
        "chat_capacity",
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"role": "manager"}, ["maria"]),
        ({"availability": "away"}, ["bob"]),
        ({"team": "orders"}, ["alice", "bob"]),
    ],
)
def test_agent_filters_agents(agent_client, agent, other_agent, manager, team, query, expected):
    AgentProfile.objects.filter(user=other_agent).update(availability=Availability.AWAY)
    if "team" in query:
        query = {"team": team.pk}
    response = agent_client.get(AGENTS, query)
    assert [row["username"] for row in response.json()["results"]] == expected


@pytest.mark.parametrize(("name", "value"), [("role", "boss"), ("team", "999999"), ("team", "x")])
def test_bad_agent_filter_is_a_400_naming_it(agent_client, name, value):
    response = agent_client.get(AGENTS, {name: value})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()) == [name]


def test_agent_reads_one_agent(agent_client, other_agent, team):
    body = agent_client.get(agent_url(other_agent)).json()
    assert (body["username"], body["teams"]) == ("bob", [team.pk])


def test_a_customers_user_id_is_not_in_the_agent_directory(agent_client, customer):
    assert agent_client.get(agent_url(customer.user)).status_code == HTTPStatus.NOT_FOUND


def test_customers_and_anonymous_cannot_see_agents(customer_client, anonymous_client, agent):
    assert customer_client.get(AGENTS).status_code == HTTPStatus.FORBIDDEN
    assert customer_client.get(agent_url(agent)).status_code == HTTPStatus.FORBIDDEN
    assert anonymous_client.get(AGENTS).status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.parametrize("rows", [10, 100])
def test_agent_directory_costs_fixed_queries(agent_client, team, django_assert_num_queries, rows):
    AgentFactory.create_batch(rows, profile__teams=[team])
    # Count, the page with profiles, the profiles' teams.
    with django_assert_num_queries(3):
        response = agent_client.get(AGENTS)
    assert response.json()["count"] == rows + 1


# --- changing agent profiles ------------------------------------------------------------------


def test_agent_sets_their_own_availability(agent_client, agent):
    response = agent_client.post(MY_AVAILABILITY, {"availability": "away"})

    assert response.status_code == HTTPStatus.OK
    assert response.json()["availability"] == "away"
    agent.agent_profile.refresh_from_db()
    assert agent.agent_profile.availability == Availability.AWAY


@pytest.mark.parametrize("payload", [{"availability": "busy"}, {}, {"availability": None}])
def test_bad_availability_is_a_400(agent_client, agent, payload):
    response = agent_client.post(MY_AVAILABILITY, payload)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()) == ["availability"]
    agent.agent_profile.refresh_from_db()
    assert agent.agent_profile.availability == Availability.ONLINE


def test_customer_has_no_availability(customer_client):
    response = customer_client.post(MY_AVAILABILITY, {"availability": "online"})
    assert response.status_code == HTTPStatus.FORBIDDEN


def test_agent_edits_their_own_profile(agent_client, agent):
    changes = {"timezone": "Europe/Paris", "chat_capacity": 5, "availability": "offline"}
    response = agent_client.patch(agent_url(agent), changes)

    assert response.status_code == HTTPStatus.OK
    profile = AgentProfile.objects.get(user=agent)
    assert (profile.timezone, profile.chat_capacity, profile.availability) == (
        "Europe/Paris",
        5,
        Availability.OFFLINE,
    )
    assert response.json()["timezone"] == "Europe/Paris"


def test_agent_cannot_edit_another_agents_profile(agent_client, other_agent):
    response = agent_client.patch(agent_url(other_agent), {"chat_capacity": 0})

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert AgentProfile.objects.get(user=other_agent).chat_capacity == 3


def test_manager_edits_another_agents_profile(manager_client, agent):
    response = manager_client.patch(agent_url(agent), {"chat_capacity": 8})
    assert response.status_code == HTTPStatus.OK
    assert AgentProfile.objects.get(user=agent).chat_capacity == 8


def test_role_is_not_changed_through_the_api(manager_client, agent):
    response = manager_client.patch(agent_url(agent), {"role": "admin"})
    assert response.status_code == HTTPStatus.OK
    assert AgentProfile.objects.get(user=agent).role == Role.AGENT


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"chat_capacity": 21}, "chat_capacity"),
        ({"chat_capacity": -1}, "chat_capacity"),
        ({"chat_capacity": "many"}, "chat_capacity"),
        ({"availability": "busy"}, "availability"),
    ],
)
def test_bad_profile_change_is_a_400_and_changes_nothing(agent_client, agent, payload, field):
    response = agent_client.patch(agent_url(agent), {"chat_capacity": 4, **payload})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field in response.json()
    profile = AgentProfile.objects.get(user=agent)
    assert (profile.timezone, profile.chat_capacity) == ("UTC", 3)


def test_customer_cannot_edit_agent_profiles(customer_client, agent):
    response = customer_client.patch(agent_url(agent), {"availability": "offline"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert AgentProfile.objects.get(user=agent).availability == Availability.ONLINE


# --- teams ------------------------------------------------------------------------------------


def test_agent_lists_teams_with_member_ids(agent_client, agent, other_agent, manager, team):
    team.manager = manager
    team.save()
    TeamFactory(name="Returns", description="Refunds and returns")

    response = agent_client.get(TEAMS)

    assert response.status_code == HTTPStatus.OK
    assert [(t["name"], t["manager"], t["members"]) for t in response.json()] == [
        ("Orders", manager.pk, sorted([agent.pk, other_agent.pk])),
        ("Returns", None, []),
    ]


def test_customers_and_anonymous_cannot_see_teams(customer_client, anonymous_client, team):
    assert customer_client.get(TEAMS).status_code == HTTPStatus.FORBIDDEN
    assert customer_client.get(team_url(team)).status_code == HTTPStatus.FORBIDDEN
    assert anonymous_client.get(TEAMS).status_code == HTTPStatus.UNAUTHORIZED


def test_manager_creates_a_team(manager_client, manager, agent, other_agent):
    response = manager_client.post(
        TEAMS,
        {"name": "VIP desk", "manager": manager.pk, "members": [agent.pk, other_agent.pk]},
    )

    assert response.status_code == HTTPStatus.CREATED, response.json()
    team = Team.objects.get(name="VIP desk")
    assert team.manager == manager
    assert sorted(team.members.values_list("user_id", flat=True)) == sorted(
        [agent.pk, other_agent.pk]
    )
    assert response.json()["members"] == sorted([agent.pk, other_agent.pk])


def test_manager_replaces_a_teams_members(manager_client, team, agent, other_agent):
    response = manager_client.patch(team_url(team), {"members": [other_agent.pk]})

    assert response.status_code == HTTPStatus.OK
    assert list(team.members.values_list("user_id", flat=True)) == [other_agent.pk]
    assert Team.objects.get(pk=team.pk).name == "Orders"


def test_agent_cannot_create_or_change_teams(agent_client, team):
    assert agent_client.post(TEAMS, {"name": "Rogue"}).status_code == HTTPStatus.FORBIDDEN
    assert agent_client.patch(team_url(team), {"name": "Mine"}).status_code == HTTPStatus.FORBIDDEN
    assert list(Team.objects.values_list("name", flat=True)) == ["Orders"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "orders"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "New", "members": "everyone"}, "members"),
        ({"name": "New", "members": [999_999]}, "members"),
        ({"name": "New", "members": ["customer"]}, "members"),
        ({"name": "New", "manager": "customer"}, "manager"),
        ({"name": "New", "manager": "x"}, "manager"),
    ],
)
def test_bad_team_input_is_a_400_naming_the_field(manager_client, team, customer, payload, field):
    # A customer's login is never a member or a manager of a team.
    payload = {
        key: (
            [customer.user.pk]
            if value == ["customer"]
            else customer.user.pk
            if value == "customer"
            else value
        )
        for key, value in payload.items()
    }
    response = manager_client.post(TEAMS, payload)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()) == [field]
    assert list(Team.objects.values_list("name", flat=True)) == ["Orders"]


def test_renaming_a_team_onto_another_is_a_400(manager_client, team):
    returns = TeamFactory(name="Returns")
    response = manager_client.patch(team_url(returns), {"name": "ORDERS"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()) == ["name"]
    returns.refresh_from_db()
    assert returns.name == "Returns"


# --- responses match the published schema -----------------------------------------------------


@pytest.fixture(scope="module")
def openapi(django_db_blocker):
    with django_db_blocker.unblock():
        from django.test import Client

        return Client().get("/api/schema/", {"format": "json"}).json()


def test_account_responses_match_the_schema(
    openapi, agent_client, manager_client, customer_client, anonymous_client, agent, team
):
    good = {"username": "alice", "password": DEFAULT_PASSWORD}
    root = APIClient()
    root.force_authenticate(UserFactory(username="root"))
    token = "/api/v1/auth/token/"
    one_agent = "/api/v1/agents/{id}/"
    one_team = "/api/v1/teams/{id}/"
    cases = [
        ("post", token, anonymous_client.post(TOKEN, good), 200),
        ("post", token, anonymous_client.post(TOKEN, {"username": "alice"}), 400),
        ("post", token, token_client("0" * 40).post(TOKEN, good), 401),
        ("get", "/api/v1/me/", agent_client.get(ME), 200),
        ("get", "/api/v1/me/", customer_client.get(ME), 200),
        ("get", "/api/v1/me/", root.get(ME), 200),
        ("get", "/api/v1/me/", anonymous_client.get(ME), 401),
        ("get", "/api/v1/agents/", agent_client.get(AGENTS), 200),
        ("get", "/api/v1/agents/", agent_client.get(AGENTS, {"role": "x"}), 400),
        ("get", "/api/v1/agents/", customer_client.get(AGENTS), 403),
        ("get", one_agent, agent_client.get(agent_url(agent)), 200),
        ("patch", one_agent, agent_client.patch(agent_url(agent), {"timezone": "X"}), 400),
        ("patch", one_agent, manager_client.patch(agent_url(agent), {"chat_capacity": 2}), 200),
        (
            "post",
            "/api/v1/agents/me/availability/",
            agent_client.post(MY_AVAILABILITY, {"availability": "away"}),
            200,
        ),
        ("get", "/api/v1/teams/", agent_client.get(TEAMS), 200),
        ("get", one_team, agent_client.get(team_url(team)), 200),
        ("patch", one_team, agent_client.patch(team_url(team), {"name": "X"}), 403),
        (
            "post",
            "/api/v1/teams/",
            manager_client.post(TEAMS, {"name": "New", "members": [agent.pk]}),
            201,
        ),
        ("post", "/api/v1/teams/", manager_client.post(TEAMS, {"name": "new"}), 400),
    ]
    for _ in range(10):
        anonymous_client.post(TOKEN, good)
    cases.append(("post", token, anonymous_client.post(TOKEN, good), 429))
    for method, path, response, code in cases:
        assert response.status_code == code, (method, path, response.content)
        test_schema.assert_matches(openapi, path, method, response)
