"""This app's REST routes; helpdesk/api_urls.py registers them under /api/v1/."""

# (prefix, ViewSet, basename) for the shared router.
routes: list = []
# Plain paths (non-ViewSet views), relative to /api/v1/.
urlpatterns: list = []
