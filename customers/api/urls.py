"""This app's REST routes; helpdesk/api_urls.py registers them under /api/v1/."""

from customers.api.views import CustomerViewSet, OrganizationViewSet, TierViewSet

# (prefix, ViewSet, basename) for the shared router.
routes: list = [
    ("customers", CustomerViewSet, "customer"),
    ("organizations", OrganizationViewSet, "organization"),
    ("tiers", TierViewSet, "tier"),
]
# Plain paths (non-ViewSet views), relative to /api/v1/.
urlpatterns: list = []
