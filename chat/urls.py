"""The chat console of the agent UI, the widget's HTTP endpoints and the demo shop page."""

app_name = "chat"
urlpatterns: list = []
