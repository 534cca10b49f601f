"""SLA badges on queue rows and the workspace, the "At risk / breaching" view, and the promise
a customer reads on their own requests: all from the ticket's SLA summary."""

import re
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from django.db import connection
from django.utils import timezone

from tests.factories import CustomerFactory, TicketFactory
from tickets.models import SlaState, SlaTarget, Status
from tickets.templatetags.sla import badge_for, duration_words

pytestmark = pytest.mark.django_db


def rows_in(response) -> list[str]:
    return re.findall(r'<td class="ref">(HD-\d+)</td>', response.content.decode())


def due_in(minutes: float, **fields):
    return TicketFactory(
        sla_due_at=timezone.now() + timedelta(minutes=minutes),
        sla_state=fields.pop("sla_state", SlaState.RUNNING),
        sla_target=fields.pop("sla_target", SlaTarget.FIRST_REPLY),
        status=fields.pop("status", Status.OPEN),
        **fields,
    )


# --- the words --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("minutes", "words"),
    [
        (0, "0 min"),
        (42, "42 min"),
        (60, "1 h"),
        (200, "3 h 20 min"),
        (1440, "1 d"),
        (3120, "2 d 4 h"),
    ],
)
def test_duration_words(minutes, words):
    assert duration_words(minutes) == words


@pytest.mark.parametrize(
    ("minutes_left", "state", "level", "left"),
    [
        (180.5, SlaState.RUNNING, "ok", "3 h left"),
        (42.5, SlaState.RUNNING, "risk", "42 min left"),
        (59.5, SlaState.RUNNING, "risk", "59 min left"),
        (-12.5, SlaState.BREACHED, "breached", "breached 12 min ago"),
        (-12.5, SlaState.RUNNING, "breached", "breached 12 min ago"),  # the sweep is not there yet
    ],
)
def test_badge_level_and_words(minutes_left, state, level, left):
    ticket = due_in(minutes_left, sla_state=state)
    badge = badge_for(ticket)
    assert (badge.level, badge.left, badge.target) == (level, left, "First reply")


def test_paused_badge_and_no_badge_without_sla_or_once_solved():
    paused = TicketFactory(sla_state=SlaState.PAUSED, sla_target=SlaTarget.RESOLUTION)
    assert badge_for(paused).left == "paused"
    assert badge_for(TicketFactory()) is None
    assert badge_for(due_in(30, status=Status.SOLVED)) is None


def test_exact_due_time_is_in_the_agents_zone():
    ticket = TicketFactory(
        sla_due_at=datetime(2026, 7, 1, 12, 0, tzinfo=UTC),
        sla_state=SlaState.RUNNING,
        sla_target=SlaTarget.RESOLUTION,
    )
    badge = badge_for(ticket, now=ticket.sla_due_at - timedelta(hours=5), zone="Europe/Paris")
    assert badge.exact == "1 Jul 2026, 14:00 (Europe/Paris)"


# --- the queue --------------------------------------------------------------------------------
def test_queue_row_shows_the_badge_with_label_and_tooltip(page_agent):
    ticket = due_in(42.5)
    body = page_agent.get("/tickets/?view=all").content.decode()
    row = body[body.index(f'id="ticket-row-{ticket.pk}"') :]
    row = row[: row.index("</tr>")]
    assert 'class="sla sla-risk"' in row
    assert '<span class="sla-level">At risk</span>' in row
    assert '<span class="sla-target">First reply</span>' in row
    assert '<span class="sla-left">42 min left</span>' in row
    assert 'title="First reply due ' in row
    assert "data-sla-due=" in row


def test_escalation_level_shows_when_raised(page_agent):
    TicketFactory(escalation_level=2, status=Status.OPEN)
    TicketFactory(escalation_level=0, status=Status.OPEN, subject="calm")
    body = page_agent.get("/tickets/?view=all").content.decode()
    assert body.count("Escalated L") == 1
    assert "Escalated L2" in body


def test_at_risk_view_holds_due_within_the_hour_or_past_soonest_first(page_agent):
    past = due_in(-30, sla_state=SlaState.BREACHED)
    soon = due_in(20)
    edge = due_in(59)
    due_in(120)  # on track
    due_in(10, status=Status.SOLVED)  # solved: not at risk
    TicketFactory(status=Status.OPEN)  # no SLA
    TicketFactory(status=Status.PENDING, sla_state=SlaState.PAUSED)  # paused: no due instant
    response = page_agent.get("/tickets/?view=at_risk")
    assert response.status_code == HTTPStatus.OK
    assert rows_in(response) == [past.reference, soon.reference, edge.reference]
    body = response.content.decode()
    assert '<span class="nav-count" data-count-for="at_risk">3</span>' in body
    assert "At risk / breaching" in body


def test_at_risk_view_pages_by_keyset_soonest_first(agent):
    from tickets.queues import keyset_page, view_tickets

    tickets = [due_in(minutes) for minutes in (45, -50, 25, -10, 5)]
    expected = [t.pk for t in sorted(tickets, key=lambda t: t.sla_due_at)]
    seen: list[int] = []
    after = ""
    while True:
        page = keyset_page(view_tickets(agent, "at_risk"), sort="due", after=after, size=2)
        seen.extend(t.pk for t in page.rows)
        if not page.older:
            break
        after = page.older
    assert seen == expected
    back = keyset_page(view_tickets(agent, "at_risk"), sort="due", before=after, size=2)
    assert [t.pk for t in back.rows] == expected[1:3]  # the two before the cursor's row


def test_at_risk_empty_state_says_all_is_well(page_agent):
    due_in(300)
    body = page_agent.get("/tickets/?view=at_risk").content.decode()
    assert "Every promise is on track." in body


@pytest.mark.parametrize("rows", [5, 60])
def test_at_risk_view_costs_fixed_queries(page_agent, django_assert_num_queries, rows):
    customers = CustomerFactory.create_batch(3)
    for index in range(rows):
        due_in(index - 30, customer=customers[index % 3])
    with django_assert_num_queries(10) as captured:
        response = page_agent.get("/tickets/?view=at_risk")
    assert len(rows_in(response)) == min(rows, 50)
    sql = " ".join(q["sql"] for q in captured.captured_queries)
    assert '"sla_due_at" <=' in sql or "sla_due_at <=" in sql
    assert "OFFSET" not in sql.upper()


@pytest.mark.postgres
def test_at_risk_view_reads_the_sla_due_index(agent):
    from tickets.queues import view_tickets

    for minutes in range(-20, 40, 5):
        due_in(minutes)
    TicketFactory.create_batch(30, status=Status.OPEN)
    query = view_tickets(agent, "at_risk").order_by("sla_due_at", "id").values("pk")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = query.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "ticket_sla_due" in plan


def test_unknown_sort_names_the_sla_sort(page_agent):
    body = page_agent.get("/tickets/?view=at_risk&sort=nope").content.decode()
    assert "SLA due" in body


# --- the workspace ----------------------------------------------------------------------------
def test_workspace_header_has_the_badge_and_the_ledger_container(page_agent):
    ticket = due_in(-5, sla_state=SlaState.BREACHED, sla_target=SlaTarget.RESOLUTION)
    body = page_agent.get(f"/tickets/{ticket.pk}/").content.decode()
    meta = body[body.index('id="ws-meta"') :]
    meta = meta[: meta.index("</p>")]
    assert '<span class="sla-level">Breached</span>' in meta
    assert "breached 4 min ago" in meta or "breached 5 min ago" in meta
    assert f'hx-get="/slas/tickets/{ticket.pk}/clocks/"' in body


def test_controls_refresh_carries_the_badge_out_of_band(page_agent):
    ticket = due_in(90)
    body = page_agent.get(f"/tickets/{ticket.pk}/controls/").content.decode()
    assert 'id="ws-meta"' in body
    assert "On track" in body


# --- the customer -----------------------------------------------------------------------------
def test_customer_sees_the_promise_and_nothing_internal(page_customer, customer):
    due = timezone.now() + timedelta(minutes=42)
    TicketFactory(
        customer=customer,
        status=Status.OPEN,
        reply_due_at=due,
        reply_promise="Gold priority",
        sla_due_at=due,
        sla_state=SlaState.BREACHED,
        sla_target=SlaTarget.FIRST_REPLY,
        escalation_level=3,
    )
    body = page_customer.get("/my/requests/").content.decode()
    assert "We will answer by" in body
    assert f"{due:%H:%M} UTC" in body
    assert "— Gold priority" in body
    for internal in ("Breached", "sla-level", "Escalated", "data-sla-badge", "First reply"):
        assert internal not in body


def test_customer_sees_nothing_without_a_promise_or_once_solved(page_customer, customer):
    TicketFactory(customer=customer, status=Status.OPEN)
    TicketFactory(
        customer=customer,
        status=Status.SOLVED,
        reply_due_at=timezone.now() + timedelta(hours=1),
        reply_promise="Gold priority",
    )
    body = page_customer.get("/my/requests/").content.decode()
    assert "We will answer" not in body
    assert "Gold priority" not in body


def test_customer_is_told_honestly_when_the_promise_passed(page_customer, customer):
    TicketFactory(
        customer=customer,
        status=Status.OPEN,
        reply_due_at=timezone.now() - timedelta(minutes=10),
        reply_promise="Standard priority",
    )
    body = page_customer.get("/my/requests/").content.decode()
    assert "We promised to answer by" in body
    assert "Sorry for the wait" in body
