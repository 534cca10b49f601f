"""The SLA pages of the agent UI (managers: policies, calendars, rules, the dashboard)."""

app_name = "slas"
urlpatterns: list = []
