"""`manage.py allow_demo_origin --host HOST --port PORT`: the demo shop's chat site takes the
widget from the address the run command serves on (scripts/run runs it with its HOST and PORT),
so /demo/shop/ works on any port, not only 8000. Safe to run again; without a demo site it
does nothing."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.demo import allow_demo_origins, served_origins


class Command(BaseCommand):
    help = "Let the demo shop's chat site take the widget from this host and port."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: object, **options: object) -> None:
        port = options["port"]
        if not isinstance(port, int) or not 0 < port < 65536:
            raise CommandError("--port must be between 1 and 65535.")
        allow_demo_origins(served_origins(str(options["host"]), port), log=self.stdout.write)
