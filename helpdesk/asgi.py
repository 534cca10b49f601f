"""HTTP and websockets from one ASGI application.

Every agent websocket route (helpdesk.routing.websocket_urlpatterns; `ws/agent/events/`, see
tickets.consumers) sits behind the same two checks: the Origin header must name one of
ALLOWED_HOSTS (a page elsewhere is refused at the handshake with HTTP 403), and the Django
session cookie sets scope["user"] and scope["session"]. Checking at connect is not enough for a
stream that stays open for hours: the agent stream also follows the session afterwards (closing
with 4401/4403; docs/events.md).

The shop widget's socket (`ws/chat/visitor/`) is opened from the shop's own origin, which is
not one of ALLOWED_HOSTS and carries no session: it is routed before that check, and its
consumer checks the Origin against the chat site's allowed origins and the signed visitor
token itself (docs/chat-protocol.md). Everything else falls through to the checked router.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
django_asgi_app = get_asgi_application()  # before anything imports models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import re_path  # noqa: E402

from core.gc_policy import install_server_gc_policy  # noqa: E402
from helpdesk.routing import visitor_websocket_urlpatterns, websocket_urlpatterns  # noqa: E402

agent_sockets = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(
            [
                *visitor_websocket_urlpatterns,
                # Everything else, including unknown paths, meets the Origin check first.
                re_path(r"", agent_sockets),  # type: ignore[list-item]
            ]
        ),
    }
)

# Everything is imported: from here on, full collections walk only what the sockets made
# (core.gc_policy explains why a server holding thousands of sockets needs that).
install_server_gc_policy(settings.SERVER_GC_SWEEP_SECONDS)
