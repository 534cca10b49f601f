"""This app's REST routes; helpdesk/api_urls.py registers them under /api/v1/."""

from tickets.api.customers import CustomerWithTicketsViewSet
from tickets.api.macros import MacroViewSet
from tickets.api.views import AttachmentViewSet, TicketViewSet

# (prefix, ViewSet, basename) for the shared router.
routes: list = [
    # The customer directory, served here because a customer's record shows their tickets.
    ("customers", CustomerWithTicketsViewSet, "customer"),
    ("tickets", TicketViewSet, "ticket"),
    ("attachments", AttachmentViewSet, "attachment"),
    ("macros", MacroViewSet, "macro"),
]
# Plain paths (non-ViewSet views), relative to /api/v1/.
urlpatterns: list = []
