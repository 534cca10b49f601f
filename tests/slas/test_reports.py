"""The SLA report against a small data set computed by hand, its API, page and CSV, who may
see them, bad filters, and a fixed number of queries whatever the data size.

The desk on Tuesday 2026-03-10, 11:30 UTC; the period is 1-7 March 2026 (UTC days). Orders is
open 24/7; Payments (no calendar of its own) and anyone without a team follow the default
policy's calendar, open on Tuesdays 09:00-13:00 UTC.

ticket team/assignee  status   clocks (outcome instant: met = stopped, breached = due)
T1     Orders/alice   solved   first reply met 03-01 (30 min), resolution met 03-02 (300 min)
T2     Orders/alice   open     first reply breached 03-02 (90 min), resolution running, due 12:00
T3     Payments/bob   pending  first reply met 03-03 (20 min), next reply breached 03-04 (still
                               running past due), resolution paused
T4     Payments/-     new      first reply running, due 14:30
T5     Orders/alice   closed   first reply met 02-20 (outside), resolution breached 03-06 (600)
T6     Orders/bob     solved   first reply met 03-06 (10 min), resolution met 03-09 (outside)
"""

import csv
import io
import random
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import Count, F, Sum

from accounts.models import Availability
from customers.factories import standard_tiers
from customers.services import update_customer
from helpdesk.celery import app as celery_app
from slas.models import (
    BusinessCalendar,
    ClockState,
    EscalationRule,
    SlaMinutesRollup,
    SlaOutcomeRollup,
    SlaPolicy,
    SlaRollupDay,
    SlaTicketRollup,
    TeamCalendar,
    TicketClock,
)
from slas.reports import breach_forecast, interpolate_percentile, sla_report
from slas.services.rollup import refresh_sla_rollup, refresh_sla_rollup_between
from slas.tasks import refresh_recent_sla_rollup
from tests.factories import CustomerFactory, TeamFactory, TicketFactory
from tests.test_schema import assert_matches
from tickets.models import Priority, SlaState, SlaTarget, Status, Ticket

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 11, 30, tzinfo=UTC)
START, END = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 8, tzinfo=UTC)
URL = "/api/v1/reports/sla/"
PERIOD = {"start": "2026-03-01", "end": "2026-03-07"}


def at(day: int, hour: int = 0, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def desk(agent, other_agent, manager, team):
    payments = TeamFactory(name="Payments")
    other_agent.agent_profile.teams.set([payments])
    for person, availability in [
        (agent, Availability.ONLINE),
        (other_agent, Availability.AWAY),
        (manager, Availability.OFFLINE),
    ]:
        person.agent_profile.availability = availability
        person.agent_profile.save()
    always = BusinessCalendar.objects.create(name="24/7", always_open=True)
    tuesdays = BusinessCalendar.objects.create(
        name="Tuesday mornings", timezone="UTC", hours={"tue": [["09:00", "13:00"]]}
    )
    policy = SlaPolicy.objects.create(name="Default", is_default=True, calendar=tuesdays)
    TeamCalendar.objects.create(team=team, calendar=always)
    tiers = {t.slug: t for t in standard_tiers()}
    gold = CustomerFactory(tier=tiers["gold"])
    plain = CustomerFactory(tier=tiers["standard"])

    def ticket(name, *, team, assignee, status, priority, created, solved=None, customer=plain):
        made = TicketFactory(
            subject=name, team=team, assignee=assignee, status=status, priority=priority,
            customer=customer,
        )  # fmt: skip
        Ticket.objects.filter(pk=made.pk).update(created_at=created, solved_at=solved)
        return made

    def clock(ticket, target, state, *, minutes=0, due, stopped=None, sequence=1):
        return TicketClock.objects.create(
            ticket=ticket, target=target, sequence=sequence, policy=policy, policy_version=1,
            calendar=tuesdays, calendar_version=1, priority=ticket.priority, target_minutes=60,
            started_at=ticket.created_at, due_at=due, state=state, stopped_at=stopped,
            breached_at=due if state == ClockState.BREACHED else None, business_minutes=minutes,
        )  # fmt: skip

    fr, nr, res = SlaTarget.FIRST_REPLY, SlaTarget.NEXT_REPLY, SlaTarget.RESOLUTION
    met, breached = ClockState.MET, ClockState.BREACHED
    t1 = ticket("T1", team=team, assignee=agent, status=Status.SOLVED, priority=Priority.LOW,
                created=at(1, 9), solved=at(2, 10), customer=gold)  # fmt: skip
    clock(t1, fr, met, minutes=30, due=at(1, 11), stopped=at(1, 10))
    clock(t1, res, met, minutes=300, due=at(3, 9), stopped=at(2, 10))
    t2 = ticket("T2", team=team, assignee=agent, status=Status.OPEN, priority=Priority.HIGH,
                created=at(2, 9))  # fmt: skip
    clock(t2, fr, breached, minutes=90, due=at(2, 11), stopped=at(2, 13))
    clock(t2, res, ClockState.RUNNING, due=NOW + timedelta(minutes=30))
    t3 = ticket("T3", team=payments, assignee=other_agent, status=Status.PENDING,
                priority=Priority.NORMAL, created=at(3, 8))  # fmt: skip
    clock(t3, fr, met, minutes=20, due=at(3, 10), stopped=at(3, 8, 20))
    clock(t3, nr, breached, minutes=200, due=at(4, 10))
    clock(t3, res, ClockState.PAUSED, due=NOW + timedelta(days=2))
    t4 = ticket("T4", team=payments, assignee=None, status=Status.NEW, priority=Priority.URGENT,
                created=at(5, 9))  # fmt: skip
    clock(t4, fr, ClockState.RUNNING, due=NOW + timedelta(hours=3))
    t5 = ticket("T5", team=team, assignee=agent, status=Status.CLOSED, priority=Priority.LOW,
                created=at(20, 9, month=2), solved=at(7, 10))  # fmt: skip
    clock(t5, fr, met, minutes=15, due=at(20, 12, month=2), stopped=at(20, 10, month=2))
    clock(t5, res, breached, minutes=600, due=at(6, 12), stopped=at(7, 10))
    t6 = ticket("T6", team=team, assignee=other_agent, status=Status.SOLVED,
                priority=Priority.LOW, created=at(6, 10), solved=at(9, 10))  # fmt: skip
    clock(t6, fr, met, minutes=10, due=at(6, 12), stopped=at(6, 10, 10))
    clock(t6, res, met, minutes=100, due=at(9, 12), stopped=at(9, 10))
    return {"orders": team, "payments": payments, "tiers": tiers, "t2": t2, "t3": t3, "t5": t5}


def report(**scope):
    return sla_report(start=START, end=END, now=NOW, **scope)


@pytest.fixture(params=["live", "rollup"])
def source(request, desk):
    """The same hand-computed figures, counted live from the clocks and read from the daily
    rollup (refreshed for every day of the data set, all over by now)."""
    if request.param == "rollup":
        assert refresh_sla_rollup_between(first=date(2026, 2, 20), last=date(2026, 3, 10)) == 19
    return request.param


def by_target(rows):
    return {row["target"]: (row["met"], row["breached"], row["percent"]) for row in rows}


def test_compliance_per_target(desk, source):
    result = report()

    assert by_target(result["compliance"]) == {
        "first_reply": (3, 1, 75.0),  # T1, T3, T6 met; T2 breached (T5's is outside)
        "next_reply": (0, 1, 0.0),  # T3
        "resolution": (1, 1, 50.0),  # T1 met; T5 breached (T6's is after the period)
    }
    assert result["breach_count"] == 3


def test_median_and_p90_business_minutes(desk, source):
    timings = {row["target"]: row for row in report()["timings"]}

    # First reply: 10, 20, 30, 90 -> median (20 + 30) / 2; p90 at rank 2.7: 30 + 0.7 * 60.
    assert (timings["first_reply"]["median_minutes"], timings["first_reply"]["p90_minutes"]) == (
        25.0,
        72.0,
    )
    # Resolution: 300, 600 -> median 450; p90 at rank 0.9: 300 + 0.9 * 300.
    assert (timings["resolution"]["median_minutes"], timings["resolution"]["p90_minutes"]) == (
        450.0,
        570.0,
    )
    assert (timings["first_reply"]["count"], timings["resolution"]["count"]) == (4, 2)


def test_percentile_matches_postgresqls_interpolation():
    assert interpolate_percentile([10, 20, 30, 90], 0.9) == pytest.approx(72.0)
    assert interpolate_percentile([5], 0.5) == 5
    assert interpolate_percentile([], 0.5) is None


def test_backlog_now_by_status_priority_team_and_agent(desk, source, agent, other_agent):
    result = report()
    backlog = result["backlog"]

    assert backlog["total"] == 3  # T2 open, T3 pending, T4 new
    assert {r["status"]: r["count"] for r in backlog["by_status"]} == {
        "new": 1, "open": 1, "pending": 1, "on_hold": 0,
    }  # fmt: skip
    assert {r["priority"]: r["count"] for r in backlog["by_priority"]} == {
        "urgent": 1, "high": 1, "normal": 1, "low": 0,
    }  # fmt: skip
    teams = {row["name"]: row for row in result["teams"]}
    assert (teams["Orders"]["met"], teams["Orders"]["breached"], teams["Orders"]["percent"]) == (
        3, 2, 60.0,
    )  # fmt: skip
    assert (teams["Payments"]["met"], teams["Payments"]["breached"]) == (1, 1)
    assert (teams["Orders"]["backlog"], teams["Payments"]["backlog"]) == (1, 2)
    agents = {row["id"]: row for row in result["agents"]}
    assert (agents[agent.pk]["met"], agents[agent.pk]["breached"]) == (2, 2)
    assert (agents[other_agent.pk]["met"], agents[other_agent.pk]["breached"]) == (2, 1)
    assert agents[other_agent.pk]["percent"] == 66.7
    assert agents[None]["name"] == "Unassigned"
    assert agents[None]["backlog_by_status"]["new"] == 1  # T4


def test_daily_trend(desk, source):
    trend = {row["day"].isoformat(): row for row in report()["trend"]}

    assert list(trend) == [f"2026-03-0{d}" for d in range(1, 8)]
    picked = {
        day: (r["met"], r["breached"], r["percent"], r["created"], r["solved"])
        for day, r in trend.items()
    }
    assert picked == {
        "2026-03-01": (1, 0, 100.0, 1, 0),
        "2026-03-02": (1, 1, 50.0, 1, 1),
        "2026-03-03": (1, 0, 100.0, 1, 0),
        "2026-03-04": (0, 1, 0.0, 0, 0),
        "2026-03-05": (0, 0, None, 1, 0),
        "2026-03-06": (1, 1, 50.0, 1, 0),
        "2026-03-07": (0, 0, None, 0, 1),
    }


def test_breaches_and_at_risk_lists(desk, source):
    result = report()

    assert [(r["reference"], r["target"]) for r in result["breaches"]] == [
        (desk["t5"].reference, "resolution"),
        (desk["t3"].reference, "next_reply"),
        (desk["t2"].reference, "first_reply"),
    ]
    assert [(r["ticket"], r["target"]) for r in result["at_risk"]] == [
        (desk["t2"].pk, "resolution")
    ]
    assert (result["at_risk_count"], result["overdue_count"]) == (1, 1)  # T2; T3's next reply


def test_filters_by_team_agent_and_tier(desk, source, agent):
    assert by_target(report(team=desk["payments"])["compliance"]) == {
        "first_reply": (1, 0, 100.0),
        "next_reply": (0, 1, 0.0),
        "resolution": (0, 0, None),
    }
    assert by_target(report(agent=agent)["compliance"])["resolution"] == (1, 1, 50.0)
    gold = report(tier=desk["tiers"]["gold"])
    assert by_target(gold["compliance"])["first_reply"] == (1, 0, 100.0)  # T1 only
    assert gold["backlog"]["total"] == 0


def test_a_customers_new_tier_moves_their_open_tickets_in_the_tier_view(desk, source, manager):
    plain = desk["t2"].customer  # standard tier: T2, T3 and T4 are open, T2 is at risk
    with time_machine.travel(NOW, tick=False):
        update_customer(customer=plain, actor=manager, changes={"tier": desk["tiers"]["gold"]})

    gold = report(tier=desk["tiers"]["gold"])
    assert gold["backlog"]["total"] == 3
    assert [(r["ticket"], r["target"]) for r in gold["at_risk"]] == [(desk["t2"].pk, "resolution")]
    assert (gold["at_risk_count"], gold["overdue_count"]) == (1, 1)  # T2; T3's next reply
    assert report(tier=desk["tiers"]["standard"])["backlog"]["total"] == 0


def test_forecast_counts_due_per_hour_and_agents_on_shift(desk):
    forecast = breach_forecast(now=NOW, hours=4)

    assert [h["hour"].hour for h in forecast] == [11, 12, 13, 14]
    assert [h["due"] for h in forecast] == [0, 1, 0, 1]  # T2 at 12:00, T4 at 14:30
    assert [t["name"] for t in forecast[1]["by_team"]] == ["Orders"]
    assert [t["name"] for t in forecast[3]["by_team"]] == ["Payments"]
    # 11h: online now (alice). 12h: alice (24/7), bob (Payments) and the manager (no team:
    # the default calendar) are open on Tuesday mornings. From 13h only alice's 24/7.
    assert [h["agents_on_shift"] for h in forecast] == [1, 3, 1, 1]
    assert breach_forecast(now=NOW, hours=4, team=desk["payments"])[3]["due"] == 1
    assert breach_forecast(now=NOW, hours=4, team=desk["payments"])[1]["due"] == 0


@pytest.mark.parametrize("extra", [0, 12])
def test_fixed_number_of_queries(desk, source, django_assert_num_queries, extra, team):
    for _ in range(extra):
        made = TicketFactory(team=team, status=Status.OPEN)
        clock = TicketClock.objects.filter(ticket=desk["t2"]).first()
        clock.pk, clock.ticket, clock.target = None, made, SlaTarget.FIRST_REPLY
        clock.save()

    # Rollup days, live outcomes, percentiles, rollup and live outcomes, rollup tickets, live
    # created and solved, backlog, breaches, at risk, now counts, team and agent names.
    with django_assert_num_queries(13):
        report()
    with django_assert_num_queries(13):  # a tier is a column of the ticket: no more queries
        report(tier=desk["tiers"]["gold"])
    with django_assert_num_queries(6):
        breach_forecast(now=NOW, hours=12)


# --- the daily rollup -------------------------------------------------------------------------


def _rollup_rows():
    return [
        sorted(model.objects.values_list(*fields))
        for model, fields in (
            (SlaOutcomeRollup, ("day", "target", "team_id", "assignee_id", "tier_id", "met",
                                "breached")),
            (SlaMinutesRollup, ("day", "target", "dimension", "dimension_id", "bucket", "count",
                                "minutes")),
            (SlaTicketRollup, ("day", "team_id", "assignee_id", "tier_id", "created", "solved")),
        )
    ]  # fmt: skip


def test_refresh_is_idempotent(desk):
    days = [date(2026, 3, d) for d in range(1, 10)]
    refresh_sla_rollup(days=days)
    first = _rollup_rows()
    refresh_sla_rollup(days=days)

    assert _rollup_rows() == first
    assert SlaRollupDay.objects.count() == 9
    # 3 March: T3's first reply met (Payments, bob, standard tier), 20 minutes.
    assert (date(2026, 3, 3), "first_reply", desk["payments"].pk) in {
        (day, target, team) for day, target, team, *_ in first[0]
    }
    assert sum(row[5] for row in first[0]) == 5  # met: T1 (2), T3, T6 (2)
    assert sum(row[6] for row in first[0]) == 3  # breached


def test_the_rollup_counts_until_its_refresh_and_the_rest_is_live(desk):
    refresh_sla_rollup_between(first=date(2026, 3, 1), last=date(2026, 3, 9))
    # A next reply met on 3 March at 18:00, written after the refresh (as if late)...
    late = TicketClock.objects.get(ticket=desk["t3"], target=SlaTarget.FIRST_REPLY)
    late.pk, late.sequence, late.target = None, 2, SlaTarget.NEXT_REPLY
    late.stopped_at = at(3, 18)
    late.save()
    # ...is not in the refreshed day's figures until the day is refreshed again...
    assert by_target(report()["compliance"])["next_reply"] == (0, 1, 0.0)
    # ...but a day refreshed at noon counts its rows, then live from noon on (as today does).
    SlaRollupDay.objects.filter(day=date(2026, 3, 3)).update(refreshed_at=at(3, 12))
    assert by_target(report()["compliance"])["next_reply"] == (1, 1, 50.0)
    refresh_sla_rollup(days=[date(2026, 3, 3)])
    result = report()
    assert by_target(result["compliance"])["next_reply"] == (1, 1, 50.0)
    assert {r["day"]: r["met"] for r in result["trend"]}[date(2026, 3, 3)] == 2


def test_today_is_read_from_the_rollup_until_its_refresh_then_live(desk):
    # Refreshed at 11:00 on the 9th; T6's resolution was met at 10:00 (in the rows), and one
    # more met at 11:10 (after the refresh) is counted live.
    with time_machine.travel(at(9, 11), tick=False):
        refresh_sla_rollup(days=[date(2026, 3, 9)])
    late = TicketClock.objects.get(ticket=desk["t2"], target=SlaTarget.FIRST_REPLY)
    late.pk, late.sequence, late.target = None, 2, SlaTarget.NEXT_REPLY
    late.state, late.stopped_at, late.breached_at = ClockState.MET, at(9, 11, 10), None
    late.save()
    ninth = sla_report(start=at(9), end=at(10), now=at(9, 11, 30))

    assert by_target(ninth["compliance"])["resolution"] == (1, 0, 100.0)
    assert by_target(ninth["compliance"])["next_reply"] == (1, 0, 100.0)
    assert SlaOutcomeRollup.objects.filter(day=date(2026, 3, 9)).count() == 1


def test_the_beat_refreshes_today_and_yesterday(desk):
    with time_machine.travel(at(10, 0, 3), tick=False):
        # Run by the worker as the beat asks (apply: in this process, through Celery).
        assert refresh_recent_sla_rollup.apply().get() == 2

    refreshed = dict(SlaRollupDay.objects.values_list("day", "refreshed_at"))
    assert refreshed == {date(2026, 3, 9): at(10, 0, 3), date(2026, 3, 10): at(10, 0, 3)}
    # The 9th is over: its rows are all of it (T6's resolution met at 10:00).
    assert list(
        SlaOutcomeRollup.objects.filter(day=date(2026, 3, 9)).values_list("target", "met")
    ) == [("resolution", 1)]
    [entry] = [
        entry
        for entry in celery_app.conf.beat_schedule.values()
        if entry["task"] == "slas.tasks.refresh_recent_sla_rollup"
    ]
    assert entry["schedule"] <= 300  # the freshness docs/reports.md promises


def test_rollup_gives_the_live_figures_on_a_random_desk(desk, agent, other_agent, manager):
    rng = random.Random(9)
    policy = SlaPolicy.objects.get(is_default=True)
    teams = [desk["orders"], desk["payments"], None]
    tiers = list(desk["tiers"].values())
    customers = [CustomerFactory(tier=tier) for tier in tiers]
    clocks = []
    for n in range(60):
        made = TicketFactory(
            team=rng.choice(teams), assignee=rng.choice([agent, other_agent, None]),
            customer=rng.choice(customers), status=rng.choice(list(Status.values)),
        )  # fmt: skip
        created = START + timedelta(minutes=rng.randrange(0, 9 * 24 * 60))
        solved = created + timedelta(minutes=rng.randrange(1, 3000)) if n % 2 else None
        Ticket.objects.filter(pk=made.pk).update(created_at=created, solved_at=solved)
        for target in TARGETS_ALL:
            state = rng.choice([ClockState.MET, ClockState.BREACHED, ClockState.RUNNING])
            outcome = created + timedelta(minutes=rng.randrange(1, 4000))
            minutes = rng.choice([rng.randrange(0, 120), rng.randrange(120, 20000)])
            clocks.append(
                TicketClock(
                    ticket=made, target=target, policy=policy, policy_version=1,
                    calendar=policy.calendar, calendar_version=1, priority=made.priority,
                    target_minutes=60, started_at=created, due_at=outcome, state=state,
                    stopped_at=outcome if state == ClockState.MET else None,
                    breached_at=outcome if state == ClockState.BREACHED else None,
                    business_minutes=minutes,
                )
            )  # fmt: skip
    TicketClock.objects.bulk_create(clocks)
    # Periods starting and ending on and off local midnights, with and without filters.
    asks = [
        {},
        {"team": desk["orders"]},
        {"agent": other_agent},
        {"tier": desk["tiers"]["gold"]},
        {"team": desk["payments"], "tier": desk["tiers"]["standard"]},
    ]
    periods = [(START, END), (START + timedelta(hours=7), END + timedelta(days=2, hours=3))]
    live = [sla_report(start=a, end=b, now=NOW, **ask) for a, b in periods for ask in asks]

    refresh_sla_rollup_between(first=date(2026, 2, 20), last=date(2026, 3, 15))
    rolled = [sla_report(start=a, end=b, now=NOW, **ask) for a, b in periods for ask in asks]

    assert SlaOutcomeRollup.objects.exists()
    for from_live, from_rollup in zip(live, rolled, strict=True):
        live_timings = from_live.pop("timings")
        rollup_timings = from_rollup.pop("timings")
        assert from_rollup == from_live
        for exact, estimate in zip(live_timings, rollup_timings, strict=True):
            assert estimate["count"] == exact["count"]
            for key in ("median_minutes", "p90_minutes"):
                if exact[key] is None:
                    assert estimate[key] is None
                else:
                    # Buckets are at most 5% of their lowest value wide (exact below 120).
                    assert estimate[key] == pytest.approx(exact[key], rel=0.05, abs=0.06)


TARGETS_ALL = (SlaTarget.FIRST_REPLY, SlaTarget.NEXT_REPLY, SlaTarget.RESOLUTION)


# --- the API, the page and the CSV ------------------------------------------------------------


def test_api_gives_managers_the_report_as_the_schema_says(desk, manager_client):
    response = manager_client.get(URL, PERIOD)

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert {r["target"]: r["percent"] for r in body["compliance"]}["first_reply"] == 75.0
    assert body["period"]["start"].startswith("2026-03-01T00:00:00")
    openapi = manager_client.get("/api/schema/", {"format": "json"}).json()
    assert_matches(openapi, URL, "get", response)
    forecast = manager_client.get(URL + "forecast/", {"hours": 3})
    assert forecast.status_code == HTTPStatus.OK
    assert len(forecast.json()) == 3
    assert_matches(openapi, URL + "forecast/", "get", forecast)


@pytest.mark.parametrize("who", ["agent_client", "customer_client"])
def test_api_refuses_agents_and_customers(request, desk, who):
    client = request.getfixturevalue(who)
    for path in (URL, URL + "forecast/", URL + "csv/"):
        assert client.get(path).status_code == HTTPStatus.FORBIDDEN


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-13-01"}, "start"),
        ({"end": "yesterday"}, "end"),
        ({"start": "2026-03-08", "end": "2026-03-01"}, "end"),
        ({"start": "2025-01-01", "end": "2026-03-01"}, "start"),  # over 366 days
        ({"team": "999999"}, "team"),
        ({"agent": "abc"}, "agent"),
        ({"tier": "999999"}, "tier"),
        ({"hours": "0"}, "hours"),
    ],
)
def test_bad_filters_are_400_naming_the_field(desk, manager_client, params, field):
    response = manager_client.get(URL, params)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field in response.json()


def test_csv_holds_what_the_page_shows(desk, manager_client):
    response = manager_client.get(URL + "csv/", {**PERIOD, "team": desk["orders"].pk})

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/csv")
    assert "sla-report-2026-03-01-2026-03-07.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    compliance = rows.index(["Compliance", "target", "met", "breached", "percent"])
    # Orders: first reply T1, T6 met, T2 breached.
    assert rows[compliance + 1] == ["", "First reply", "2", "1", "66.7"]
    assert ["", "2026-03-06", "1", "1", "50.0", "1", "0"] in rows
    assert any(row[:2] == ["", desk["t5"].reference] for row in rows)


def test_dashboard_page_for_managers_only(desk, client, manager, agent):
    client.force_login(agent)
    assert client.get("/slas/dashboard/").status_code == HTTPStatus.FORBIDDEN
    assert client.get("/slas/dashboard/csv/").status_code == HTTPStatus.FORBIDDEN

    client.force_login(manager)
    page = client.get("/slas/dashboard/", PERIOD)
    assert page.status_code == HTTPStatus.OK
    html = page.content.decode()
    assert 'id="dashboard-data" type="application/json"' in html
    assert f'href="/tickets/{desk["t5"].pk}/"' in html
    assert "75.0" in html
    bad = client.get("/slas/dashboard/", {"start": "nope"})
    assert bad.status_code == HTTPStatus.BAD_REQUEST
    assert "Enter a date like 2026-11-30." in bad.content.decode()
    csv_page = client.get("/slas/dashboard/csv/", PERIOD)
    assert csv_page.status_code == HTTPStatus.OK
    assert csv_page["Content-Type"].startswith("text/csv")


def test_dashboard_page_costs_fixed_queries(desk, client, manager, django_assert_max_num_queries):
    client.force_login(manager)
    # Session and user, the shell's nav counts, the report (10), the forecast (6), the filters.
    with django_assert_max_num_queries(40) as captured:
        client.get("/slas/dashboard/", PERIOD)
    first = len(captured)
    TicketFactory.create_batch(5, team=desk["orders"], status=Status.OPEN)
    with django_assert_max_num_queries(first):
        client.get("/slas/dashboard/", PERIOD)


# --- seed_demo --------------------------------------------------------------------------------


def test_seed_demo_gives_a_believable_sla_past():
    call_command("seed_demo", tickets=300, customers=40, stdout=io.StringIO())

    assert set(BusinessCalendar.objects.values_list("name", flat=True)) >= {
        "EU support hours",
        "24/7",
    }
    assert SlaPolicy.objects.filter(is_default=True).count() == 1
    assert SlaPolicy.objects.count() == 4
    states = dict(
        TicketClock.objects.values("state").annotate(n=Count("id")).values_list("state", "n")
    )
    assert states[ClockState.MET] > states[ClockState.BREACHED] > 0
    assert states[ClockState.RUNNING] > 0
    # Every ticket has a first reply or resolution clock; open ones a summary that agrees.
    assert not Ticket.objects.exclude(pk__in=TicketClock.objects.values("ticket_id")).exists()
    open_tickets = Ticket.objects.filter(status__in=[Status.NEW, Status.OPEN, Status.ON_HOLD])
    assert not open_tickets.filter(sla_state="").exists()
    for ticket in open_tickets.exclude(sla_state=SlaState.PAUSED)[:20]:
        earliest = (
            TicketClock.objects.filter(
                ticket=ticket,
                stopped_at__isnull=True,
                state__in=[ClockState.RUNNING, ClockState.BREACHED],
            )
            .order_by("due_at")
            .first()
        )
        assert earliest is not None
        assert ticket.sla_due_at == earliest.due_at
    # Met clocks stopped by their due instant; breached ones breached at it, before stopping.
    assert not TicketClock.objects.filter(state=ClockState.MET, due_at__lt=F("stopped_at")).exists()
    assert not TicketClock.objects.filter(
        state=ClockState.BREACHED, stopped_at__lt=F("breached_at")
    ).exists()
    assert EscalationRule.objects.count() == 3
    # ...and the dashboard's rollup is filled for the seeded past: its figures are the clocks'.
    first_day = SlaRollupDay.objects.order_by("day").first()
    assert first_day is not None
    assert SlaRollupDay.objects.filter(refreshed_at__isnull=True).count() == 0
    since = datetime.combine(first_day.day, datetime.min.time(), tzinfo=UTC)
    assert SlaOutcomeRollup.objects.aggregate(n=Sum("met"))["n"] == (
        TicketClock.objects.filter(state=ClockState.MET, stopped_at__gte=since).count()
    )
