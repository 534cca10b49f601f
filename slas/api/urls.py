"""This app's REST routes; helpdesk/api_urls.py registers them under /api/v1/."""

from django.urls import path

from slas.api.calendars import CalendarViewSet
from slas.api.policies import PolicyViewSet
from slas.api.reports import SlaForecastView, SlaReportCsvView, SlaReportView
from slas.api.tickets import TicketSlaViewSet

# (prefix, ViewSet, basename) for the shared router.
routes: list = [
    # sla-core
    ("sla/calendars", CalendarViewSet, "sla-calendar"),
    ("sla/policies", PolicyViewSet, "sla-policy"),
    ("sla/tickets", TicketSlaViewSet, "sla-ticket"),
]

# --- escalation rules (rules helper) ---
from slas.api.rules import RuleViewSet  # noqa: E402

routes += [("sla/rules", RuleViewSet, "sla-rule")]
# Plain paths (non-ViewSet views), relative to /api/v1/.
urlpatterns: list = [
    # dashboard: the SLA report
    path("reports/sla/", SlaReportView.as_view(), name="reports-sla"),
    path("reports/sla/forecast/", SlaForecastView.as_view(), name="reports-sla-forecast"),
    path("reports/sla/csv/", SlaReportCsvView.as_view(), name="reports-sla-csv"),
]
