"""The chat console of the agent UI, the widget's HTTP endpoints and the demo shop page."""

from chat.console_urls import urlpatterns as console_urlpatterns

app_name = "chat"
urlpatterns: list = [
    # The agent console and the Sites manager pages (chat-routing).
    *console_urlpatterns,
]
