"""Pages of the agent UI that show tickets (the REST API is in tickets/api/)."""

from django.urls import path

from tickets import views
from tickets.workspace_urls import urlpatterns as workspace_urlpatterns

app_name = "tickets"

urlpatterns = [
    path("tickets/", views.queue, name="queue"),
    path("tickets/bulk/", views.bulk, name="bulk"),
    path("tickets/views/", views.saved_view_create, name="saved-view-create"),
    path("tickets/views/<int:pk>/", views.saved_view_change, name="saved-view-change"),
    path("team/", views.team_overview, name="team"),
    path("my/requests/", views.my_requests, name="my-requests"),
    # The ticket workspace, macro pages and the customer history fragment (ui-ticket).
    *workspace_urlpatterns,
]
