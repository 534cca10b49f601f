"""This app's REST routes; helpdesk/api_urls.py registers them under /api/v1/. (`me/` is
served by customers.api: it shows a customer record too.)"""

from django.urls import path

from accounts.api.views import AgentViewSet, AuditEntryViewSet, AuthTokenView, TeamViewSet

# (prefix, ViewSet, basename) for the shared router.
routes: list = [
    ("agents", AgentViewSet, "agent"),
    ("teams", TeamViewSet, "team"),
    ("audit", AuditEntryViewSet, "audit"),
]
# Plain paths (non-ViewSet views), relative to /api/v1/.
urlpatterns: list = [
    path("auth/token/", AuthTokenView.as_view(), name="auth-token"),
]
