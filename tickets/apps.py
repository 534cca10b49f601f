from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"

    def ready(self) -> None:
        from tickets import receivers  # noqa: F401 - listens to customers.signals.customer_changed
