"""DRF's throttles, keyed on `core.net.client_address` (the same address the sign-in lockout
counts), instead of DRF's own reading of X-Forwarded-For."""

from rest_framework import throttling
from rest_framework.request import Request

from core.net import client_address


class ClientAddressMixin:
    def get_ident(self, request: Request) -> str:
        return str(client_address(request))


class AnonRateThrottle(ClientAddressMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(ClientAddressMixin, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(ClientAddressMixin, throttling.ScopedRateThrottle):
    pass
