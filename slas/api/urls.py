"""This app's REST routes; helpdesk/api_urls.py registers them under /api/v1/."""

from slas.api.calendars import CalendarViewSet
from slas.api.policies import PolicyViewSet
from slas.api.tickets import TicketSlaViewSet

# (prefix, ViewSet, basename) for the shared router.
routes: list = [
    # sla-core
    ("sla/calendars", CalendarViewSet, "sla-calendar"),
    ("sla/policies", PolicyViewSet, "sla-policy"),
    ("sla/tickets", TicketSlaViewSet, "sla-ticket"),
]
# Plain paths (non-ViewSet views), relative to /api/v1/.
urlpatterns: list = []
