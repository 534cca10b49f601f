"""The chat console of the agent UI, the widget's HTTP endpoints and the demo shop page."""

from django.urls import path

from chat import demo_views, widget_api
from chat.console_urls import urlpatterns as console_urlpatterns

app_name = "chat"
urlpatterns: list = [
    # The widget's cross-origin endpoints (docs/chat-protocol.md).
    path("chat/widget/session/", widget_api.session, name="widget-session"),
    path("chat/widget/attachments/", widget_api.upload, name="widget-attachments"),
    path("chat/widget/attachments/<int:pk>/", widget_api.download, name="widget-attachment"),
    # The agent console and the Sites manager pages (chat-routing).
    *console_urlpatterns,
    # The demo shop page with the widget (chat-widget).
    path("demo/shop/", demo_views.demo_shop, name="demo-shop"),
]
