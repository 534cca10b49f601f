"""Signed visitor tokens: an anonymous browser's proof that it is the visitor it was before.

A token is `django.core.signing` over {"v": <visitor token_id>, "s": <site id>} with its own
salt (so no other signed value of this project can be replayed as one), timestamped and
refused after CHAT_VISITOR_TOKEN_MAX_AGE seconds. It carries no secret of its own: whoever
holds it is that visitor, as a session cookie would be, so the widget keeps it in the shop
origin's localStorage and sends it only to this helpdesk.
"""

import uuid

from django.conf import settings
from django.core import signing

from chat.models import Site, Visitor

TOKEN_SALT = "chat.visitor-token"  # noqa: S105 - a namespace for signatures, not a secret

# Close codes, mirroring HTTP statuses (docs/chat-protocol.md).
TOKEN_MISSING_OR_FORGED = 4401
TOKEN_OF_ANOTHER_SITE = 4403


class TokenRefused(Exception):
    """The token cannot be used: `code` is the websocket close code (4401 or 4403) and
    `status` the HTTP status (401 or 403) a door answers with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

    @property
    def status(self) -> int:
        return self.code - 4000


def token_max_age() -> int:
    return int(getattr(settings, "CHAT_VISITOR_TOKEN_MAX_AGE", 30 * 24 * 3600))


def issue_visitor_token(visitor: Visitor) -> str:
    return signing.dumps({"v": str(visitor.token_id), "s": visitor.site_id}, salt=TOKEN_SALT)


def visitor_from_token(*, site: Site, token: str) -> Visitor:
    """The visitor this token was issued to on `site`, or TokenRefused."""
    if not token or not isinstance(token, str):
        raise TokenRefused(TOKEN_MISSING_OR_FORGED, "A visitor token is required.")
    try:
        data = signing.loads(token, salt=TOKEN_SALT, max_age=token_max_age())
    except signing.SignatureExpired:
        raise TokenRefused(TOKEN_MISSING_OR_FORGED, "This visitor token has expired.") from None
    except signing.BadSignature:
        raise TokenRefused(TOKEN_MISSING_OR_FORGED, "This visitor token is not valid.") from None
    try:
        token_id = uuid.UUID(str(data["v"]))
        site_id = int(data["s"])
    except (KeyError, TypeError, ValueError):
        raise TokenRefused(TOKEN_MISSING_OR_FORGED, "This visitor token is not valid.") from None
    if site_id != site.pk:
        raise TokenRefused(TOKEN_OF_ANOTHER_SITE, "This visitor token belongs to another site.")
    visitor = Visitor.objects.filter(token_id=token_id, site=site).select_related("site").first()
    if visitor is None:  # signed by us, but the visitor was deleted since
        raise TokenRefused(TOKEN_MISSING_OR_FORGED, "This visitor no longer exists.")
    return visitor
