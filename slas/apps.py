from django.apps import AppConfig


class SlasConfig(AppConfig):
    name = "slas"
    verbose_name = "SLAs and escalation"

    def ready(self) -> None:
        from slas import receivers  # noqa: F401 - listens to tickets.signals.ticket_changed
