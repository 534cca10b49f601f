"""The manager SLA dashboard page (/slas/dashboard/) and its CSV export: a door onto
slas.reports, like /api/v1/reports/sla/. Managers only; agents get the 403 page."""

from datetime import date, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from django.http import HttpResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone

from accounts.decorators import AgentRequest, manager_required
from accounts.models import Team
from accounts.selectors import active_agents
from core.errors import RuleBroken
from customers.models import Tier
from slas import reports
from slas.api.reports import csv_response

PRESETS = (7, 30, 90)


def _ask(params: QueryDict) -> tuple[reports.ReportRequest, dict[str, str]]:
    """The request's filters, or the defaults with the error to show next to its field."""
    try:
        return reports.parse_report_request(params), {}
    except RuleBroken as broken:
        return reports.parse_report_request(QueryDict()), {broken.field: broken.message}


def _chart_data(report: dict[str, Any], forecast: list[dict[str, Any]]) -> dict[str, Any]:
    """What dashboard.js draws: plain lists, no markup."""
    team_names = sorted({t["name"] for hour in forecast for t in hour["by_team"]})
    return {
        "trend": {
            "days": [d["day"].isoformat() for d in report["trend"]],
            "percent": [d["percent"] for d in report["trend"]],
            "breached": [d["breached"] for d in report["trend"]],
            "created": [d["created"] for d in report["trend"]],
            "solved": [d["solved"] for d in report["trend"]],
        },
        "teams": {
            "names": [t["name"] for t in report["teams"]],
            "met": [t["met"] for t in report["teams"]],
            "breached": [t["breached"] for t in report["teams"]],
        },
        "forecast": {
            "hours": [h["hour"].isoformat() for h in forecast],
            "agents": [h["agents_on_shift"] for h in forecast],
            "teams": [
                {
                    "name": name,
                    "due": [
                        next((t["due"] for t in h["by_team"] if t["name"] == name), 0)
                        for h in forecast
                    ],
                }
                for name in team_names
            ],
        },
    }


@manager_required
def dashboard(request: AgentRequest) -> HttpResponse:
    asked, errors = _ask(request.GET)
    report = reports.sla_report(
        start=asked.start, end=asked.end, team=asked.team, agent=asked.agent, tier=asked.tier
    )
    forecast = reports.breach_forecast(hours=asked.hours, team=asked.team)
    today = timezone.now().astimezone(reports.report_timezone()).date()
    query = asked.query()
    context = {
        "asked": asked,
        "errors": errors,
        "report": report,
        "forecast": forecast,
        "chart_data": _chart_data(report, forecast),
        "csv_query": urlencode(query),
        "presets": [_preset(days, today, query) for days in PRESETS],
        "teams": Team.objects.filter(is_active=True).order_by("name").values_list("id", "name"),
        "agents": active_agents().order_by("first_name", "username"),
        "tiers": Tier.objects.order_by("rank").values_list("id", "name"),
        "compliance_by_target": {row["target"]: row for row in report["compliance"]},
    }
    status = HTTPStatus.BAD_REQUEST if errors else HTTPStatus.OK
    return render(request, "slas/dashboard.html", context, status=status)


def _preset(days: int, today: date, query: dict[str, str]) -> dict[str, Any]:
    params = {**query, "start": (today - timedelta(days=days - 1)).isoformat()}
    params["end"] = today.isoformat()
    return {
        "days": days,
        "query": urlencode(params),
        "current": query.get("start") == params["start"] and query.get("end") == params["end"],
    }


@manager_required
def dashboard_csv(request: AgentRequest) -> HttpResponse:
    try:
        asked = reports.parse_report_request(request.GET)
    except RuleBroken as broken:
        return HttpResponse(
            f"{broken.field}: {broken.message}\n",
            status=HTTPStatus.BAD_REQUEST,
            content_type="text/plain; charset=utf-8",
        )
    report = reports.sla_report(
        start=asked.start, end=asked.end, team=asked.team, agent=asked.agent, tier=asked.tier
    )
    # A streaming response is not an HttpResponse for the decorator's type, only at runtime.
    return csv_response(asked, report)  # type: ignore[return-value]
