"""The audit trail of people, teams, customers and organizations: each service records who
changed what (from, to) and when, in the same transaction as the change; entries are never
rewritten; managers read them at /api/v1/audit/."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.api.views import AuditCursorPagination
from accounts.models import AuditAction, AuditEntry, Role
from accounts.services import (
    create_team,
    make_agent,
    set_agent_availability,
    set_team_active,
    set_user_active,
    update_agent_profile,
    update_team,
)
from core.append_only import AppendOnlyError
from core.errors import RuleBroken
from tests import test_schema
from tests.factories import AgentFactory, TeamFactory, UserFactory
from tests.test_schema import openapi  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db

AUDIT = reverse("api:audit-list")


def entry_for(target) -> AuditEntry:
    return AuditEntry.objects.get(
        target_type=ContentType.objects.get_for_model(target), target_id=target.pk
    )


# --- each service records its change ------------------------------------------------------------


def test_making_an_agent_records_what_they_were_made(manager, team):
    user = UserFactory(username="newbie")

    profile = make_agent(user=user, actor=manager, role=Role.AGENT, teams=[team], chat_capacity=4)

    entry = entry_for(profile)
    assert (entry.actor, entry.action, entry.target_label) == (
        manager,
        AuditAction.CREATED,
        str(profile),
    )
    assert entry.changes["teams"] == {"from": None, "to": ["Orders"]}
    assert entry.changes["chat_capacity"] == {"from": None, "to": 4}
    assert entry.at is not None


def test_a_profile_change_records_only_what_changed(manager, agent):
    agent.agent_profile.availability = "offline"
    agent.agent_profile.save()

    update_agent_profile(
        agent=agent,
        actor=manager,
        changes={"availability": "online", "timezone": agent.agent_profile.timezone},
    )
    set_agent_availability(agent=agent, availability="away")

    first, second = AuditEntry.objects.order_by("id")
    assert (first.actor, first.changes) == (
        manager,
        {"availability": {"from": "offline", "to": "online"}},
    )
    assert (second.actor, second.changes) == (
        agent,
        {"availability": {"from": "online", "to": "away"}},
    )


def test_a_profile_change_to_the_same_values_records_nothing(manager, agent, team):
    profile = agent.agent_profile
    update_agent_profile(
        agent=agent,
        actor=manager,
        changes={"role": profile.role, "teams": [team], "chat_capacity": profile.chat_capacity},
    )
    assert not AuditEntry.objects.exists()


def test_creating_and_changing_a_team_records_both(manager, agent, other_agent):
    team = create_team(name="Returns", actor=manager, manager=manager, members=[agent])
    update_team(team=team, actor=manager, changes={"name": "Refunds", "members": [other_agent]})

    created, changed = AuditEntry.objects.order_by("id")
    assert created.action == AuditAction.CREATED
    assert created.changes == {
        "name": {"from": None, "to": "Returns"},
        "manager": {"from": None, "to": manager.pk},
        "members": {"from": None, "to": ["alice"]},
    }
    assert (changed.actor, changed.action, changed.target_label) == (
        manager,
        AuditAction.CHANGED,
        "Refunds",
    )
    assert changed.changes == {
        "name": {"from": "Returns", "to": "Refunds"},
        "members": {"from": ["alice"], "to": ["bob"]},
    }


def test_archiving_and_restoring_a_team_and_deactivating_a_user_are_recorded(manager, agent):
    team = TeamFactory(name="Returns")

    set_team_active(team=team, active=False, actor=manager)
    set_team_active(team=team, active=False, actor=manager)  # already archived: no entry
    set_team_active(team=team, active=True, actor=manager)
    set_user_active(user=agent, active=False, actor=manager)

    assert list(AuditEntry.objects.order_by("id").values_list("action", "changes")) == [
        (AuditAction.ARCHIVED, {"is_active": {"from": True, "to": False}}),
        (AuditAction.RESTORED, {"is_active": {"from": False, "to": True}}),
        (AuditAction.DEACTIVATED, {"is_active": {"from": True, "to": False}}),
    ]


def test_a_refused_change_records_nothing(manager, agent):
    with pytest.raises(RuleBroken):
        update_agent_profile(agent=agent, actor=manager, changes={"chat_capacity": 99})
    with pytest.raises(RuleBroken):
        set_user_active(user=manager, active=False, actor=manager)
    assert not AuditEntry.objects.exists()


def test_the_entry_is_part_of_the_changes_transaction(manager, agent):
    def deactivate_then_fail() -> None:
        with transaction.atomic():
            set_user_active(user=agent, active=False, actor=manager)
            raise RuntimeError("the request failed after the service ran")

    with pytest.raises(RuntimeError):
        deactivate_then_fail()

    agent.refresh_from_db()
    assert agent.is_active
    assert not AuditEntry.objects.exists()


# --- append-only --------------------------------------------------------------------------------


def test_an_entry_is_never_rewritten_or_deleted(manager):
    set_team_active(team=TeamFactory(), active=False, actor=manager)
    entry = AuditEntry.objects.get()

    entry.action = AuditAction.RESTORED
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()

    assert AuditEntry.objects.get().action == AuditAction.ARCHIVED


@pytest.mark.postgres
def test_postgresql_refuses_bulk_rewrites_and_deletes_of_entries(manager):
    set_team_active(team=TeamFactory(), active=False, actor=manager)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.update(action=AuditAction.RESTORED)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.all().delete()

    assert AuditEntry.objects.get().action == AuditAction.ARCHIVED


# --- the API: managers only ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_name", "status"),
    [
        ("anonymous_client", HTTPStatus.UNAUTHORIZED),
        ("customer_client", HTTPStatus.FORBIDDEN),
        ("agent_client", HTTPStatus.FORBIDDEN),
        ("manager_client", HTTPStatus.OK),
    ],
)
def test_only_managers_read_the_audit(request, client_name, status, manager, openapi):  # noqa: F811
    set_team_active(team=TeamFactory(), active=False, actor=manager)

    response = request.getfixturevalue(client_name).get(AUDIT)

    assert response.status_code == status
    test_schema.assert_matches(openapi, "/api/v1/audit/", "get", response)


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_nobody_writes_the_audit_through_the_api(manager_client, method):
    response = getattr(manager_client, method)(AUDIT, {})
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED


def test_an_admin_reads_it_too(manager):
    admin = AgentFactory(profile__role=Role.ADMIN)
    client = APIClient()
    client.force_authenticate(admin)
    assert client.get(AUDIT).status_code == HTTPStatus.OK


def test_the_audit_answers_the_history_of_one_object_and_the_work_of_one_actor(
    manager_client,
    manager,
    agent,
    openapi,  # noqa: F811
):
    orders, returns = TeamFactory(name="Orders desk"), TeamFactory(name="Returns desk")
    set_team_active(team=orders, active=False, actor=manager)
    set_team_active(team=returns, active=False, actor=agent)
    set_team_active(team=orders, active=True, actor=manager)

    history = manager_client.get(AUDIT, {"target_type": "accounts.team", "target_id": orders.pk})
    by_agent = manager_client.get(AUDIT, {"actor": agent.pk})
    profiles = manager_client.get(AUDIT, {"target_type": "accounts.agentprofile"})

    assert [(e["action"], e["target_label"]) for e in history.json()["results"]] == [
        ("restored", "Orders desk"),  # newest first
        ("archived", "Orders desk"),
    ]
    [mine] = by_agent.json()["results"]
    assert (mine["actor"], mine["actor_name"], mine["target_type"], mine["target_id"]) == (
        agent.pk,
        agent.display_name,
        "accounts.team",
        returns.pk,
    )
    assert mine["changes"] == {"is_active": {"from": True, "to": False}}
    assert profiles.json()["results"] == []
    test_schema.assert_matches(openapi, "/api/v1/audit/", "get", history)


def test_the_audit_filters_by_date_range(manager_client, manager):
    set_team_active(team=TeamFactory(), active=False, actor=manager)
    now = timezone.now()

    before = manager_client.get(AUDIT, {"until": (now - timedelta(hours=1)).isoformat()})
    within = manager_client.get(
        AUDIT,
        {
            "since": (now - timedelta(hours=1)).isoformat(),
            "until": (now + timedelta(hours=1)).isoformat(),
        },
    )

    assert before.json()["results"] == []
    assert len(within.json()["results"]) == 1


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("target_type", "abc"),
        ("target_type", "accounts.team'--"),
        ("target_id", "abc"),
        ("target_id", "99999999999999999999"),
        ("target_id", "-1"),
        ("actor", "1.5"),
        ("since", "yesterday"),
        ("until", "%00"),
        ("action", "erased"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(manager_client, parameter, value, openapi):  # noqa: F811
    response = manager_client.get(AUDIT, {parameter: value})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert parameter in response.json()
    test_schema.assert_matches(openapi, "/api/v1/audit/", "get", response)


def test_a_forged_cursor_is_a_404_not_a_500(manager_client):
    response = manager_client.get(AUDIT, {"cursor": "cD1ub3RhZGF0ZQ=="})  # p=notadate
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_pages_follow_a_cursor(manager_client, manager):
    teams = TeamFactory.create_batch(3)
    for team in teams:
        set_team_active(team=team, active=False, actor=manager)
    for team in teams:
        set_team_active(team=team, active=True, actor=manager)
    seen = []
    url, size = AUDIT, AuditCursorPagination.page_size
    AuditCursorPagination.page_size = 4
    try:
        while url:
            page = manager_client.get(url).json()
            seen += [entry["id"] for entry in page["results"]]
            url = page["next"]
    finally:
        AuditCursorPagination.page_size = size

    assert seen == list(AuditEntry.objects.order_by("-at", "-id").values_list("id", flat=True))


@pytest.mark.parametrize("rows", [10, 50])
def test_the_audit_list_costs_fixed_queries(manager_client, manager, rows):
    teams = TeamFactory.create_batch(rows)
    for i, team in enumerate(teams):
        set_team_active(team=team, active=False, actor=manager if i % 2 else UserFactory())

    with CaptureQueriesContext(connection) as queries:
        response = manager_client.get(AUDIT)

    assert response.status_code == HTTPStatus.OK
    assert len(response.json()["results"]) == rows
    # One query for the page (entries with their actor and type joined), nothing per row.
    assert len(queries) == 1
