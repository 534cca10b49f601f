"""This app's REST routes; helpdesk/api_urls.py registers them under /api/v1/."""

from django.urls import path

from slas.api.reports import SlaForecastView, SlaReportCsvView, SlaReportView

# (prefix, ViewSet, basename) for the shared router.
routes: list = []
# Plain paths (non-ViewSet views), relative to /api/v1/.
urlpatterns: list = [
    # dashboard: the SLA report
    path("reports/sla/", SlaReportView.as_view(), name="reports-sla"),
    path("reports/sla/forecast/", SlaForecastView.as_view(), name="reports-sla-forecast"),
    path("reports/sla/csv/", SlaReportCsvView.as_view(), name="reports-sla-csv"),
]
