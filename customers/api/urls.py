"""This app's REST routes; helpdesk/api_urls.py registers them under /api/v1/. (`customers/`
is served by tickets.api: a customer's record shows their ticket history.)"""

from django.urls import path

from customers.api.views import MeView, OrganizationViewSet, TierViewSet

# (prefix, ViewSet, basename) for the shared router.
routes: list = [
    ("organizations", OrganizationViewSet, "organization"),
    ("tiers", TierViewSet, "tier"),
]
# Plain paths (non-ViewSet views), relative to /api/v1/.
urlpatterns: list = [
    path("me/", MeView.as_view(), name="me"),
]
