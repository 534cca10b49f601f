"""The team overview (managers) and a customer's own requests."""

from http import HTTPStatus

import pytest

from accounts.models import Availability
from tests.factories import AgentFactory, TicketFactory
from tickets.models import Status

pytestmark = pytest.mark.django_db


def test_team_overview_shows_who_is_online_and_open_counts(
    page_manager, manager, agent, other_agent, team
):
    for person, availability in [
        (agent, Availability.ONLINE),
        (other_agent, Availability.AWAY),
        (manager, Availability.OFFLINE),
    ]:
        person.agent_profile.availability = availability
        person.agent_profile.save()
    TicketFactory.create_batch(2, assignee=agent, team=team, status=Status.OPEN)
    TicketFactory(assignee=agent, status=Status.SOLVED)
    TicketFactory(team=team)  # unassigned
    body = page_manager.get("/team/").content.decode()
    assert "1 of 3 agents online" in body
    assert "3 open · 1 unassigned" in body
    assert f"assignee={agent.pk}&amp;status=new" in body
    assert ">2</a>" in body  # Alice's two open tickets


@pytest.mark.parametrize("agents", [2, 12])
def test_team_overview_costs_fixed_queries(page_manager, team, django_assert_num_queries, agents):
    for _ in range(agents):
        member = AgentFactory(profile__teams=[team])
        TicketFactory(assignee=member, status=Status.OPEN, team=team)
    with django_assert_num_queries(8):
        assert page_manager.get("/team/").status_code == HTTPStatus.OK


def test_team_overview_is_for_managers(page_agent, page_customer, page_anonymous):
    assert page_agent.get("/team/").status_code == HTTPStatus.FORBIDDEN
    assert page_customer.get("/team/").status_code == HTTPStatus.FORBIDDEN
    assert page_anonymous.get("/team/").status_code == HTTPStatus.FOUND


def test_customer_sees_only_their_own_requests(page_customer, customer, other_customer):
    mine = TicketFactory(customer=customer, subject="Where is my parcel")
    theirs = TicketFactory(customer=other_customer, subject="Someone else's refund")
    body = page_customer.get("/my/requests/").content.decode()
    assert mine.reference in body
    assert "Where is my parcel" in body
    assert theirs.reference not in body
    assert "Someone else" not in body
    assert 'aria-label="Views"' not in body  # no agent navigation for customers
    assert "/ws/agent/events/" not in body


def test_customer_without_requests_gets_an_empty_state(page_customer):
    assert "You have no requests yet." in page_customer.get("/my/requests/").content.decode()


def test_my_requests_for_agents_and_anonymous(page_agent, page_anonymous):
    assert page_agent.get("/my/requests/").url == "/tickets/"
    assert page_anonymous.get("/my/requests/").url == "/?next=/my/requests/"


@pytest.mark.parametrize(
    "path", ["/me/availability/", "/tickets/bulk/", "/tickets/views/", "/tickets/views/1/"]
)
def test_post_endpoints_turn_away_customers_and_anonymous(page_customer, page_anonymous, path):
    from tickets.models import SavedView

    assert page_customer.post(path, {"availability": "away"}).status_code == HTTPStatus.FORBIDDEN
    response = page_anonymous.post(path, {"availability": "away"})
    assert response.status_code == HTTPStatus.FOUND
    assert response.url.startswith("/?next=")
    assert not SavedView.objects.exists()


@pytest.mark.parametrize("path", ["/tickets/bulk/", "/tickets/views/", "/me/availability/"])
def test_post_endpoints_refuse_get(page_agent, path):
    assert page_agent.get(path).status_code == HTTPStatus.METHOD_NOT_ALLOWED


def test_manager_lands_on_the_queue(page_manager):
    assert page_manager.get("/").url == "/tickets/"
    assert page_manager.get("/my/requests/").url == "/tickets/"
