"""The queue page: views and their counts, filters, sorting, keyset pages, unread markers,
saved views and bulk changes, for every persona."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone

from accounts.models import Role
from customers.factories import OrganizationFactory, TagFactory, TierFactory
from tests.factories import AgentFactory, CustomerFactory, MessageFactory, TicketFactory
from tickets.models import (
    EventKind,
    Priority,
    SavedView,
    SenderKind,
    Status,
    Ticket,
    TicketEvent,
)
from tickets.services.queue import mark_ticket_seen

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def rows_in(response) -> list[str]:
    """The references of the rows on the page, in order."""
    import re

    return re.findall(r'<td class="ref">(HD-\d+)</td>', response.content.decode())


def test_my_open_shows_only_my_unsolved_tickets(page_agent, agent, other_agent):
    mine = TicketFactory(assignee=agent, status=Status.OPEN)
    TicketFactory(assignee=agent, status=Status.SOLVED)
    TicketFactory(assignee=other_agent, status=Status.OPEN)
    response = page_agent.get("/tickets/")
    assert response.status_code == HTTPStatus.OK
    assert rows_in(response) == [mine.reference]


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        ("unassigned", {"new_unassigned"}),
        ("teams", {"team_ticket", "new_unassigned"}),
        ("pending", {"pending"}),
        ("solved", {"solved_recently"}),
        ("all", {"new_unassigned", "team_ticket", "pending", "solved_recently", "solved_long_ago"}),
    ],
)
def test_each_view_holds_its_tickets(page_agent, agent, other_agent, team, view, expected):
    tickets = {
        "new_unassigned": TicketFactory(team=team),
        "team_ticket": TicketFactory(team=team, assignee=other_agent, status=Status.OPEN),
        "pending": TicketFactory(assignee=other_agent, status=Status.PENDING),
        "solved_recently": TicketFactory(status=Status.SOLVED, solved_at=timezone.now()),
        "solved_long_ago": TicketFactory(
            status=Status.SOLVED, solved_at=timezone.now() - timedelta(days=30)
        ),
    }
    response = page_agent.get(f"/tickets/?view={view}")
    references = {name for name, ticket in tickets.items() if ticket.reference in rows_in(response)}
    assert references == expected


def test_nav_counts_match_the_views(page_agent, agent, team):
    TicketFactory.create_batch(3, team=team)
    TicketFactory(assignee=agent, status=Status.OPEN)
    body = page_agent.get("/tickets/").content.decode()
    assert '<span class="nav-count" data-count-for="unassigned">3</span>' in body
    assert '<span class="nav-count" data-count-for="mine">1</span>' in body
    assert '<span class="nav-count" data-count-for="all">4</span>' in body


def test_empty_view_says_what_to_do(page_agent):
    body = page_agent.get("/tickets/?view=unassigned").content.decode()
    assert "No unassigned tickets. Nice." in body


def test_rows_show_what_an_agent_needs(page_agent, agent, team):
    gold = TierFactory(name="Gold", slug="gold", rank=2)
    customer = CustomerFactory(name="Ana Ruiz", tier=gold)
    ticket = TicketFactory(
        subject="Parcel never arrived",
        customer=customer,
        assignee=agent,
        team=team,
        status=Status.OPEN,
        priority=Priority.HIGH,
    )
    body = page_agent.get("/tickets/").content.decode()
    for text in (
        ticket.reference,
        "Parcel never arrived",
        "Ana Ruiz",
        '<span class="badge-tier tier-gold">Gold</span>',
        '<span class="pill status-open">Open</span>',
        '<span class="priority priority-high">High</span>',
        "Alice",
        "Orders",
        f'<time datetime="{ticket.updated_at.isoformat()}'[:40],
        f'aria-label="Select {ticket.reference}: Parcel never arrived"',
    ):
        assert text in body


def test_unread_marker_until_the_agent_opens_the_ticket(page_agent, agent):
    ticket = TicketFactory(assignee=agent, status=Status.OPEN)
    MessageFactory(ticket=ticket, sender=SenderKind.CUSTOMER)
    assert "unread-dot" in page_agent.get("/tickets/").content.decode()
    mark_ticket_seen(agent=agent, ticket=ticket)
    assert "unread-dot" not in page_agent.get("/tickets/").content.decode()
    MessageFactory(ticket=ticket, sender=SenderKind.CUSTOMER)  # the customer writes again
    assert "unread-dot" in page_agent.get("/tickets/").content.decode()


def test_agent_reply_is_not_unread(page_agent, agent):
    ticket = TicketFactory(assignee=agent, status=Status.OPEN)
    MessageFactory(ticket=ticket, sender=SenderKind.AGENT, author=agent)
    assert "unread-dot" not in page_agent.get("/tickets/").content.decode()


def test_mark_ticket_seen_keeps_one_row_per_agent(agent):
    ticket = TicketFactory()
    first = mark_ticket_seen(agent=agent, ticket=ticket)
    second = mark_ticket_seen(agent=agent, ticket=ticket)
    assert first.pk == second.pk
    assert second.seen_at >= first.seen_at


# --- filters ------------------------------------------------------------------------------


def test_filters_narrow_the_view(page_agent, team):
    gold = TierFactory(name="Gold", slug="gold", rank=2)
    org = OrganizationFactory()
    refund = TagFactory(name="refund")
    wanted = TicketFactory(
        status=Status.OPEN,
        priority=Priority.URGENT,
        channel="email",
        type="incident",
        team=team,
        customer=CustomerFactory(tier=gold, organization=org),
        tags=[refund],
    )
    TicketFactory(status=Status.OPEN, priority=Priority.URGENT)  # matches only some
    TicketFactory(status=Status.NEW)
    query = (
        f"view=all&status=open&status=pending&priority=urgent&channel=email&type=incident"
        f"&team={team.pk}&tier=gold&organization={org.pk}&tag=refund&assignee=none"
    )
    assert rows_in(page_agent.get(f"/tickets/?{query}")) == [wanted.reference]


def test_date_ranges_filter(page_agent):
    old = TicketFactory()
    Ticket.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    new = TicketFactory()
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    assert rows_in(page_agent.get(f"/tickets/?view=all&created_after={since}")) == [new.reference]
    assert rows_in(page_agent.get(f"/tickets/?view=all&created_before={since}")) == [old.reference]


def test_search_uses_the_api_search(page_agent):
    hit = TicketFactory(subject="Refund for order 7731", search_document="Refund for order 7731")
    TicketFactory(subject="Parcel late", search_document="Parcel late")
    assert rows_in(page_agent.get("/tickets/?view=all&search=refund")) == [hit.reference]
    assert rows_in(page_agent.get(f"/tickets/?view=all&search={hit.reference}")) == [hit.reference]


def test_page_and_api_agree_on_a_filter(page_agent, agent_client, team):
    for priority in (Priority.LOW, Priority.HIGH, Priority.HIGH):
        TicketFactory(priority=priority, team=team)
    page_rows = set(rows_in(page_agent.get(f"/tickets/?view=all&priority=high&team={team.pk}")))
    api = agent_client.get(f"/api/v1/tickets/?priority=high&team={team.pk}").json()
    assert page_rows == {row["reference"] for row in api["results"]}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=<script>alert(1)</script>", "Filter “status”"),
        ("priority=sky-high", "Filter “priority”"),
        ("team=abc", "Filter “team”"),
        ("created_after=yesterday", "Filter “created after”"),
        ("view=<b>mine</b>", "There is no such view"),
        ("sort=random", "The queue sorts by"),
        ("after=not-a-cursor", "That page link is out of date"),
        ("saved=99999", "That saved view does not exist"),
    ],
)
def test_bad_filter_values_are_a_message_never_echoed(page_agent, query, message):
    TicketFactory()
    response = page_agent.get(f"/tickets/?view=all&{query}")
    body = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    assert message in body
    assert "<script>alert(1)" not in body
    assert "<b>mine</b>" not in body


def test_bad_filter_still_shows_the_rest(page_agent):
    ticket = TicketFactory(priority=Priority.HIGH)
    response = page_agent.get("/tickets/?view=all&priority=high&team=abc")
    assert rows_in(response) == [ticket.reference]


# --- sorting and pages ----------------------------------------------------------------------


def _ticket_updated(minutes_ago: int, **kwargs) -> Ticket:
    ticket = TicketFactory(**kwargs)
    moment = timezone.now() - timedelta(minutes=minutes_ago)
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=moment, created_at=moment)
    return Ticket.objects.get(pk=ticket.pk)


def test_sorts(page_agent):
    low = _ticket_updated(1, priority=Priority.LOW)
    urgent = _ticket_updated(5, priority=Priority.URGENT)
    normal = _ticket_updated(3, priority=Priority.NORMAL)
    refs = rows_in(page_agent.get("/tickets/?view=all&sort=updated"))
    assert refs == [low.reference, normal.reference, urgent.reference]
    refs = rows_in(page_agent.get("/tickets/?view=all&sort=priority"))
    assert refs == [urgent.reference, normal.reference, low.reference]


def test_keyset_pages_walk_older_and_back_newer(page_agent, settings):
    import re

    tickets = [_ticket_updated(minutes, priority=Priority.NORMAL) for minutes in range(1, 121)]
    first = page_agent.get("/tickets/?view=all")
    assert rows_in(first) == [t.reference for t in tickets[:50]]
    older = re.search(r'href="(\?[^"]*after=[^"]+)"', first.content.decode()).group(1)
    second = page_agent.get("/tickets/" + older.replace("&amp;", "&"))
    assert rows_in(second) == [t.reference for t in tickets[50:100]]
    newer = re.search(r'href="(\?[^"]*before=[^"]+)"', second.content.decode()).group(1)
    back = page_agent.get("/tickets/" + newer.replace("&amp;", "&"))
    assert rows_in(back) == [t.reference for t in tickets[:50]]
    assert "← Newer" not in back.content.decode()
    assert "OFFSET" not in str(second)  # (the SQL itself is checked in the query test)


def test_htmx_request_gets_the_rows_partial_with_the_counts(page_agent, agent):
    TicketFactory(assignee=agent, status=Status.OPEN)
    response = page_agent.get("/tickets/?view=mine", headers=HTMX)
    body = response.content.decode()
    assert body.lstrip().startswith("{#") is False
    assert '<div id="queue-results"' in body
    assert 'id="nav-views" class="nav-section" hx-swap-oob="true"' in body
    assert "<header" not in body


@pytest.mark.parametrize("rows", [10, 100])
def test_queue_costs_fixed_queries(page_agent, agent, django_assert_num_queries, rows, team):
    customers = CustomerFactory.create_batch(3)
    for index in range(rows):
        ticket = TicketFactory(
            customer=customers[index % 3], team=team, assignee=agent, status=Status.OPEN
        )
        MessageFactory(ticket=ticket, sender=SenderKind.CUSTOMER)
    with django_assert_num_queries(10) as captured:
        response = page_agent.get("/tickets/?view=mine&sort=priority")
    assert len(rows_in(response)) == min(rows, 50)
    assert not any("OFFSET" in query["sql"].upper() for query in captured.captured_queries)


def test_htmx_rows_cost_fixed_queries(page_agent, agent, django_assert_num_queries):
    TicketFactory.create_batch(20, assignee=agent, status=Status.OPEN)
    with django_assert_num_queries(10):
        page_agent.get("/tickets/?view=mine", headers=HTMX)


# --- personas ---------------------------------------------------------------------------------


def test_customer_and_anonymous_never_see_the_queue(page_customer, page_anonymous):
    TicketFactory()
    assert page_customer.get("/tickets/").status_code == HTTPStatus.FORBIDDEN
    assert page_anonymous.get("/tickets/").status_code == HTTPStatus.FOUND
    assert page_customer.post("/tickets/bulk/", {}).status_code == HTTPStatus.FORBIDDEN
    assert page_anonymous.post("/tickets/bulk/", {}).status_code == HTTPStatus.FOUND
    assert page_customer.post("/tickets/views/", {"name": "x"}).status_code == 403


def test_manager_sees_the_queue(page_manager):
    TicketFactory()
    assert rows_in(page_manager.get("/tickets/?view=unassigned"))


# --- bulk changes -------------------------------------------------------------------------------


def bulk(client, tickets, action, **fields):
    data = {"ticket": [t.pk for t in tickets], "action": action, "return_query": "view=all"}
    data.update(fields)
    return client.post("/tickets/bulk/", data, headers=HTMX)


def test_bulk_assign_to_me(page_agent, agent):
    tickets = TicketFactory.create_batch(3)
    response = bulk(page_agent, tickets, "assign", assignee="me")
    assert response.status_code == HTTPStatus.OK
    assert "Assigned to Alice" in response.content.decode()
    assert set(Ticket.objects.values_list("assignee", flat=True)) == {agent.pk}
    assert TicketEvent.objects.filter(kind=EventKind.ASSIGNEE_CHANGED).count() == 3


def test_bulk_assign_to_another_agent_and_a_team(page_manager, other_agent, team):
    tickets = TicketFactory.create_batch(2)
    bulk(page_manager, tickets, "assign", assignee=str(other_agent.pk))
    bulk(page_manager, tickets, "team", team=str(team.pk))
    assert set(Ticket.objects.values_list("assignee", "team")) == {(other_agent.pk, team.pk)}


def test_bulk_refuses_closed_tickets_by_reference_and_changes_the_rest(page_agent):
    open_ticket = TicketFactory(status=Status.OPEN)
    closed = TicketFactory(status=Status.CLOSED)
    response = bulk(page_agent, [open_ticket, closed], "priority", priority="urgent")
    body = response.content.decode()
    assert f"{closed.reference} was not changed: A closed ticket cannot be changed." in body
    assert "1 ticket changed" in body
    open_ticket.refresh_from_db()
    closed.refresh_from_db()
    assert (open_ticket.priority, closed.priority) == (Priority.URGENT, Priority.NORMAL)


def test_bulk_status_goes_through_the_lifecycle(page_agent):
    new = TicketFactory(status=Status.NEW)
    closed = TicketFactory(status=Status.CLOSED)
    body = bulk(page_agent, [new, closed], "status", status="solved").content.decode()
    assert f"{closed.reference} was not changed: A Closed ticket cannot become Solved." in body
    new.refresh_from_db()
    assert new.status == Status.SOLVED


def test_bulk_add_and_remove_a_tag(page_agent):
    keep = TagFactory(name="keep")
    tickets = [TicketFactory(tags=[keep]), TicketFactory()]
    bulk(page_agent, tickets, "add_tag", tag="refund")
    assert [sorted(t.tags.values_list("name", flat=True)) for t in tickets] == [
        ["keep", "refund"],
        ["refund"],
    ]
    bulk(page_agent, tickets, "remove_tag", tag="keep")
    assert [sorted(t.tags.values_list("name", flat=True)) for t in tickets] == [
        ["refund"],
        ["refund"],
    ]


def test_bulk_with_nothing_selected_or_bad_values_says_so(page_agent):
    ticket = TicketFactory()
    response = page_agent.post(
        "/tickets/bulk/", {"action": "assign", "assignee": "me"}, headers=HTMX
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Select at least one ticket." in response.content.decode()
    response = bulk(page_agent, [ticket], "priority", priority="<i>sky</i>")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "<i>sky</i>" not in response.content.decode()
    response = bulk(page_agent, [ticket], "add_tag", tag="not a slug!")
    assert "was not changed" in response.content.decode()


def test_bulk_ignores_tickets_the_actor_cannot_see(page_agent):
    # Agents see every ticket today; an id that does not exist changes nothing and is no 500.
    response = page_agent.post(
        "/tickets/bulk/",
        {"ticket": ["999999"], "action": "priority", "priority": "high"},
        headers=HTMX,
    )
    assert response.status_code == HTTPStatus.OK
    assert "0 tickets changed" in response.content.decode()


# --- saved views -------------------------------------------------------------------------------


def test_agent_saves_the_current_filters_as_a_view(page_agent, agent):
    response = page_agent.post(
        "/tickets/views/",
        {
            "name": "Urgent refunds",
            "sort": "priority",
            "columns": ["subject", "customer", "status"],
            "return_query": "view=all&priority=urgent&tag=refund&after=abc",
        },
    )
    view = SavedView.objects.get()
    assert (view.owner, view.team, view.query, view.sort) == (
        agent,
        None,
        "view=all&priority=urgent&tag=refund",
        "priority",
    )
    assert view.columns == ["subject", "customer", "status"]
    assert (
        response.url
        == f"/tickets/?view=all&priority=urgent&tag=refund&sort=priority&saved={view.pk}"
    )
    body = page_agent.get(response.url).content.decode()
    assert '<h1 id="queue-title">Urgent refunds</h1>' in body
    assert '<th scope="col">Assignee</th>' not in body  # the view's columns


def test_agent_cannot_save_a_team_view(page_agent, team):
    response = page_agent.post(
        "/tickets/views/", {"name": "Team view", "team": team.pk, "return_query": "view=all"}
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Only a manager saves a view for a team." in response.content.decode()
    assert not SavedView.objects.exists()


def test_manager_saves_a_team_view_its_members_see(page_manager, manager, page_agent, team):
    team.manager = manager
    team.save()
    page_manager.post(
        "/tickets/views/", {"name": "Orders backlog", "team": team.pk, "return_query": "view=teams"}
    )
    view = SavedView.objects.get()
    assert view.team == team
    body = page_agent.get("/tickets/").content.decode()
    assert f'<a href="/tickets/?view=teams&amp;sort=updated&amp;saved={view.pk}"' in body
    assert "Orders backlog" in body


def test_saved_view_names_are_unique_per_owner(page_agent):
    page_agent.post("/tickets/views/", {"name": "Mine", "return_query": ""})
    response = page_agent.post("/tickets/views/", {"name": "mine", "return_query": ""})
    assert "A saved view with this name already exists." in response.content.decode()
    assert SavedView.objects.count() == 1


def test_saved_views_are_private_to_their_owner(page_agent, other_agent):
    from django.test import Client

    page_agent.post("/tickets/views/", {"name": "Alice only", "return_query": "view=all"})
    view = SavedView.objects.get()
    other = Client()
    other.force_login(other_agent)
    assert "Alice only" not in other.get("/tickets/").content.decode()
    assert other.post(f"/tickets/views/{view.pk}/", {"delete": "1"}).status_code == 404


def test_owner_updates_and_deletes_a_saved_view(page_agent):
    page_agent.post("/tickets/views/", {"name": "Mine", "return_query": "view=all"})
    view = SavedView.objects.get()
    page_agent.post(f"/tickets/views/{view.pk}/", {"return_query": "view=all&priority=high"})
    view.refresh_from_db()
    assert view.query == "view=all&priority=high"
    response = page_agent.post(f"/tickets/views/{view.pk}/", {"delete": "1"})
    assert response.url == "/tickets/"
    assert not SavedView.objects.exists()


def test_agent_cannot_change_a_team_view(page_manager, manager, page_agent, team):
    team.manager = manager
    team.save()
    page_manager.post(
        "/tickets/views/", {"name": "Team", "team": team.pk, "return_query": "view=teams"}
    )
    view = SavedView.objects.get()
    response = page_agent.post(f"/tickets/views/{view.pk}/", {"delete": "1"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert SavedView.objects.exists()


def test_manager_role_from_the_admin_counts(team):
    admin = AgentFactory(username="boss", profile__role=Role.ADMIN, profile__teams=[team])
    from tickets.services.queue import create_saved_view

    view = create_saved_view(actor=admin, name="For the team", team=team)
    assert view.team == team


def test_manager_saves_views_only_for_their_own_teams(page_manager, team):
    response = page_manager.post(
        "/tickets/views/", {"name": "Not mine", "team": team.pk, "return_query": "view=all"}
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Save team views for the teams you are in or manage." in response.content.decode()
    assert not SavedView.objects.exists()


def test_unsafe_requests_need_the_csrf_token(agent):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(agent)
    ticket = TicketFactory()
    response = browser.post(
        "/tickets/bulk/", {"ticket": [ticket.pk], "action": "assign", "assignee": "me"}
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    ticket.refresh_from_db()
    assert ticket.assignee is None
    page = browser.get("/tickets/?view=all")
    token = page.cookies["csrftoken"].value
    response = browser.post(
        "/tickets/bulk/",
        {"ticket": [ticket.pk], "action": "assign", "assignee": "me"},
        headers={"X-CSRFToken": token, "HX-Request": "true"},  # what htmx sends (hx-headers)
    )
    assert response.status_code == HTTPStatus.OK
    ticket.refresh_from_db()
    assert ticket.assignee == agent


def test_counts_stop_at_the_cap(page_agent, team, monkeypatch):
    from tickets import queues

    monkeypatch.setattr(queues, "COUNT_CAP", 3)
    TicketFactory.create_batch(5, team=team)
    body = page_agent.get("/tickets/?view=unassigned").content.decode()
    assert '<span class="nav-count" data-count-for="unassigned">2+</span>' in body
    assert len(rows_in(page_agent.get("/tickets/?view=unassigned"))) == 5  # the rows are all there


@pytest.mark.parametrize("sort", ["updated", "created", "priority"])
def test_keyset_pages_never_skip_or_repeat_on_ties(page_agent, sort):
    import re

    moment = timezone.now() - timedelta(hours=1)
    priorities = [Priority.LOW, Priority.HIGH, Priority.NORMAL]
    tickets = [TicketFactory(priority=priorities[i % 3]) for i in range(110)]
    Ticket.objects.update(updated_at=moment, created_at=moment)  # every row ties on time
    seen: list[str] = []
    url = f"/tickets/?view=all&sort={sort}"
    while url:
        response = page_agent.get(url)
        seen += rows_in(response)
        older = re.search(r'href="(\?[^"]*after=[^"]+)"', response.content.decode())
        url = "/tickets/" + older.group(1).replace("&amp;", "&") if older else ""
    assert sorted(seen) == sorted(t.reference for t in tickets)
    assert len(seen) == len(set(seen)) == 110


def test_my_teams_includes_teams_a_manager_manages(page_manager, manager, team):
    team.manager = manager
    team.save()
    ticket = TicketFactory(team=team)
    assert rows_in(page_manager.get("/tickets/?view=teams")) == [ticket.reference]
