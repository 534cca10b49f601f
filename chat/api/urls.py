"""This app's REST routes; helpdesk/api_urls.py registers them under /api/v1/."""

from chat.api.views import ConversationViewSet

# (prefix, ViewSet, basename) for the shared router.
routes: list = [
    ("chat/conversations", ConversationViewSet, "chat-conversation"),
]
# Plain paths (non-ViewSet views), relative to /api/v1/.
urlpatterns: list = []
