"""/api/v1/reports/sla/: the manager SLA dashboard's figures, its breach forecast, and the
same as one CSV file. Managers only. The figures come from slas.reports (docs/reports.md)."""

import csv
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import IsManager
from core.api import error_responses
from slas import reports
from tickets.models import Priority, SlaTarget, Status

# --- the response's shape, for the schema -----------------------------------------------------


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text="First instant included.")
    end = serializers.DateTimeField(help_text="First instant after the period.")
    timezone = serializers.CharField(help_text="The zone whose days the trend counts.")


class FiltersSerializer(serializers.Serializer):
    team = serializers.IntegerField(allow_null=True)
    agent = serializers.IntegerField(allow_null=True)
    tier = serializers.IntegerField(allow_null=True)


class ComplianceSerializer(serializers.Serializer):
    target = serializers.ChoiceField(choices=SlaTarget.choices)
    label = serializers.CharField()  # type: ignore[assignment] # a field, not Field.label
    met = serializers.IntegerField()
    breached = serializers.IntegerField()
    percent = serializers.FloatField(
        allow_null=True, help_text="met / (met + breached) * 100; null when there were none."
    )


class TimingSerializer(serializers.Serializer):
    target = serializers.ChoiceField(choices=SlaTarget.choices)
    label = serializers.CharField()  # type: ignore[assignment] # a field, not Field.label
    count = serializers.IntegerField()
    median_minutes = serializers.FloatField(allow_null=True, help_text="Business minutes.")
    p90_minutes = serializers.FloatField(allow_null=True, help_text="Business minutes.")


class ListedClockSerializer(serializers.Serializer):
    ticket = serializers.IntegerField()
    reference = serializers.CharField()
    subject = serializers.CharField()
    priority = serializers.ChoiceField(choices=Priority.choices)
    target = serializers.ChoiceField(choices=SlaTarget.choices)
    target_label = serializers.CharField()
    at = serializers.DateTimeField(help_text="When it breached (breaches) or is due (at risk).")


class StatusCountSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices)
    label = serializers.CharField()  # type: ignore[assignment] # a field, not Field.label
    count = serializers.IntegerField()


class PriorityCountSerializer(serializers.Serializer):
    priority = serializers.ChoiceField(choices=Priority.choices)
    label = serializers.CharField()  # type: ignore[assignment] # a field, not Field.label
    count = serializers.IntegerField()


class BacklogSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_status = StatusCountSerializer(many=True)
    by_priority = PriorityCountSerializer(many=True)


class TargetOutcomeSerializer(serializers.Serializer):
    met = serializers.IntegerField()
    breached = serializers.IntegerField()


class TargetOutcomesSerializer(serializers.Serializer):
    first_reply = TargetOutcomeSerializer()
    next_reply = TargetOutcomeSerializer()
    resolution = TargetOutcomeSerializer()


class OpenByStatusSerializer(serializers.Serializer):
    new = serializers.IntegerField()
    open = serializers.IntegerField()
    pending = serializers.IntegerField()
    on_hold = serializers.IntegerField()


class GroupSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="null: no team / unassigned.")
    name = serializers.CharField()
    met = serializers.IntegerField()
    breached = serializers.IntegerField()
    percent = serializers.FloatField(allow_null=True)
    targets = TargetOutcomesSerializer()
    backlog = serializers.IntegerField(help_text="Open tickets now.")
    backlog_by_status = OpenByStatusSerializer()


class TrendDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    met = serializers.IntegerField()
    breached = serializers.IntegerField()
    percent = serializers.FloatField(allow_null=True)
    created = serializers.IntegerField()
    solved = serializers.IntegerField()


class SlaReportSerializer(serializers.Serializer):
    period = PeriodSerializer()
    filters = FiltersSerializer()
    generated_at = serializers.DateTimeField()
    compliance = ComplianceSerializer(many=True)
    timings = TimingSerializer(many=True)
    breach_count = serializers.IntegerField(help_text="Targets that breached in the period.")
    at_risk_count = serializers.IntegerField(help_text="Running targets due within the hour.")
    overdue_count = serializers.IntegerField(help_text="Running targets already past due.")
    breaches = ListedClockSerializer(many=True)
    at_risk = ListedClockSerializer(many=True)
    backlog = BacklogSerializer()
    teams = GroupSerializer(many=True)
    agents = GroupSerializer(many=True)
    trend = TrendDaySerializer(many=True)


class ForecastTeamSerializer(serializers.Serializer):
    team = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    due = serializers.IntegerField()


class ForecastHourSerializer(serializers.Serializer):
    hour = serializers.DateTimeField(help_text="The hour's start (UTC).")
    due = serializers.IntegerField(help_text="Running targets due in this hour.")
    by_team = ForecastTeamSerializer(many=True)
    agents_on_shift = serializers.IntegerField()
    basis = serializers.CharField(help_text='"online now" or "team calendars".')


FILTERS = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="First day (default: 30 days ago)."),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day, included (default: today)."),
    OpenApiParameter("team", OpenApiTypes.INT, description="The tickets' team."),
    OpenApiParameter("agent", OpenApiTypes.INT, description="The tickets' assignee."),
    OpenApiParameter("tier", OpenApiTypes.INT, description="The customers' tier."),
]
HOURS = OpenApiParameter(
    "hours", OpenApiTypes.INT, description="How many hours ahead (1-72, default 12)."
)


def _report(request: Request) -> tuple[reports.ReportRequest, dict[str, Any]]:
    asked = reports.parse_report_request(request.query_params)
    report = reports.sla_report(
        start=asked.start, end=asked.end, team=asked.team, agent=asked.agent, tier=asked.tier
    )
    return asked, report


class SlaReportView(APIView):
    permission_classes = [IsAuthenticated, IsManager]

    @extend_schema(
        operation_id="reports_sla",
        summary="SLA report",
        description="Compliance per target, breaches and at-risk tickets, median and 90th "
        "percentile business minutes, backlog, per team and agent, and a daily trend, for a "
        "period of at most 366 days (docs/reports.md). Managers only.",
        parameters=FILTERS,
        responses={200: SlaReportSerializer, **error_responses(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        _, report = _report(request)
        return Response(SlaReportSerializer(report).data)


class SlaForecastView(APIView):
    permission_classes = [IsAuthenticated, IsManager]

    @extend_schema(
        operation_id="reports_sla_forecast",
        summary="SLA breach forecast",
        description="For each of the next hours: running targets that fall due (and breach "
        "unless someone acts), per team, and the agents on shift. Managers only.",
        parameters=[FILTERS[2], HOURS],
        responses={200: ForecastHourSerializer(many=True), **error_responses(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        asked = reports.parse_report_request(request.query_params)
        forecast = reports.breach_forecast(hours=asked.hours, team=asked.team)
        return Response(ForecastHourSerializer(forecast, many=True).data)


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(asked: reports.ReportRequest, report: dict[str, Any]) -> StreamingHttpResponse:
    """The report (and the forecast) as one CSV file, streamed row by row."""
    forecast = reports.breach_forecast(hours=asked.hours, team=asked.team)
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        for row in reports.report_csv_rows(report, forecast):
            yield writer.writerow(row)

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    name = f"sla-report-{asked.first.isoformat()}-{asked.last.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class SlaReportCsvView(APIView):
    permission_classes = [IsAuthenticated, IsManager]

    @extend_schema(
        operation_id="reports_sla_csv",
        summary="SLA report as CSV",
        description="What the dashboard shows, section by section, as one CSV file.",
        parameters=[*FILTERS, HOURS],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The CSV file."),
            **error_responses(400, 401, 403),
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        asked, report = _report(request)
        return csv_response(asked, report)
