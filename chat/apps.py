from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Live chat"

    def ready(self) -> None:
        from chat.demo import on_demo_seeded
        from tickets.signals import demo_seeded

        # seed_demo adds the demo shop's site (README tour: /demo/shop/).
        demo_seeded.connect(on_demo_seeded, dispatch_uid="chat.demo_site")
