"""HTTP and websockets from one ASGI application.

Every websocket route (helpdesk.routing; today `ws/agent/events/`, see tickets.consumers) sits
behind the same two checks: the Origin header must name one of ALLOWED_HOSTS (a page elsewhere
is refused at the handshake with HTTP 403), and the Django session cookie sets scope["user"]
and scope["session"]. Checking at connect is not enough for a stream that stays open for hours:
the agent stream also follows the session afterwards (closing with 4401/4403; docs/events.md).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
django_asgi_app = get_asgi_application()  # before anything imports models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from helpdesk.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
