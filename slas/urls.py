"""The SLA pages of the agent UI (managers: policies, calendars, rules, the dashboard)."""

from django.urls import path

from slas import dashboard_views, views

app_name = "slas"
urlpatterns: list = [
    # The manager dashboard (slas/dashboard_views.py).
    path("slas/dashboard/", dashboard_views.dashboard, name="dashboard"),
    path("slas/dashboard/csv/", dashboard_views.dashboard_csv, name="dashboard-csv"),
    # Calendars, policies, rules and the ticket's ledger fragment (slas/views.py).
    path("slas/calendars/", views.calendar_list, name="calendars"),
    path("slas/calendars/new/", views.calendar_edit, name="calendar-new"),
    path("slas/calendars/<int:pk>/", views.calendar_edit, name="calendar-edit"),
    path("slas/policies/", views.policy_list, name="policies"),
    path("slas/policies/new/", views.policy_edit, name="policy-new"),
    path("slas/policies/<int:pk>/", views.policy_edit, name="policy-edit"),
    path("slas/rules/", views.rule_list, name="rules"),
    path("slas/rules/new/", views.rule_edit, name="rule-new"),
    path("slas/rules/<int:pk>/", views.rule_edit, name="rule-edit"),
    path("slas/rules/dry-run/", views.rule_dry_run, name="rule-dry-run"),
    path("slas/tickets/<int:pk>/clocks/", views.ticket_clocks, name="ticket-clocks"),
]
