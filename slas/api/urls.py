"""This app's REST routes; helpdesk/api_urls.py registers them under /api/v1/."""

# (prefix, ViewSet, basename) for the shared router.
routes: list = []

# --- escalation rules (rules helper) ---
from slas.api.rules import RuleViewSet  # noqa: E402

routes += [("sla/rules", RuleViewSet, "sla-rule")]
# Plain paths (non-ViewSet views), relative to /api/v1/.
urlpatterns: list = []
