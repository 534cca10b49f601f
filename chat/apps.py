from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Live chat"

    def ready(self) -> None:
        from chat import receivers  # noqa: F401  (routing follows availability and capacity)
        from chat.demo import on_demo_seeded
        from chat.services.lines import record_message_line
        from tickets.signals import demo_seeded, ticket_changed

        # Every public message on a chat ticket, whatever door it came through, becomes the
        # conversation's next line (chat.services.lines).
        ticket_changed.connect(record_message_line, dispatch_uid="chat.record_message_line")
        # seed_demo adds the demo shop's site (README tour: /demo/shop/).
        demo_seeded.connect(on_demo_seeded, dispatch_uid="chat.demo_site")
