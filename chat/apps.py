from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Live chat"

    def ready(self) -> None:
        # Routing follows agents' availability and capacity (chat.receivers).
        from chat import receivers  # noqa: F401
