"""The chat console of the agent UI, the widget's HTTP endpoints and the demo shop page."""

from django.urls import path

from chat import demo_views

app_name = "chat"
urlpatterns: list = []

# --- chat-widget: the demo shop page ------------------------------------------------------
urlpatterns += [
    path("demo/shop/", demo_views.demo_shop, name="demo-shop"),
]
