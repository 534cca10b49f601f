"""The SLA pages of the agent UI (managers: policies, calendars, rules, the dashboard)."""

from django.urls import path

from slas import dashboard_views

app_name = "slas"
urlpatterns: list = [
    # dashboard
    path("slas/dashboard/", dashboard_views.dashboard, name="dashboard"),
    path("slas/dashboard/csv/", dashboard_views.dashboard_csv, name="dashboard-csv"),
]
