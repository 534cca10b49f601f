"""Who is on the other end of a request: one answer for throttles and the sign-in lockout."""

from ipaddress import ip_address

from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request


def client_address(request: HttpRequest | Request) -> str | None:
    """The client's IP address: the socket's peer, unless the deployment says proxies stand in
    front (`NUM_PROXIES=N`), then the address the outermost of our N proxies saw, which is the
    Nth entry from the right of X-Forwarded-For.

    Entries further left are whatever the client chose to send, so with no proxies declared the
    header is ignored: a client cannot buy a fresh rate-limit bucket per request by making up
    addresses. A value that is not an IP address (a misconfigured proxy count) falls back to
    the socket's peer rather than inventing a bucket.
    """
    peer = request.META.get("REMOTE_ADDR") or None
    proxies = settings.NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not proxies or not forwarded:
        return peer
    hops = [hop.strip() for hop in forwarded.split(",")]
    candidate = hops[-min(proxies, len(hops))]
    try:
        return str(ip_address(candidate))
    except ValueError:
        return peer
