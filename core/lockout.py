"""The sign-in lockout (django-axes), adjusted so that it tells a guesser nothing.

Every door that checks a password calls Django's `authenticate()`, so the policy in settings
(`AXES_*`) covers the admin, the API's session login, the token endpoint and any sign-in page.
A locked-out try is refused by the backend below: `authenticate()` returns None and the door
answers exactly as it answers a wrong password, in the same time.
"""

from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest


class LockoutBackend(AxesStandaloneBackend):
    """Axes' lockout check, taking as long as a wrong password does."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> AbstractBaseUser | None:
        if request is None:
            # Not a door: Django's test client's login() and a shell pass no request, and have
            # no client to lock out (axes would raise). Every door passes its request, as
            # Django's LoginView and our token view do; tests/test_sign_in_lockout.py checks.
            return None
        try:
            return super().authenticate(request, username=username, password=password, **kwargs)
        except AxesBackendPermissionDenied:
            # Django hashes the password once for an unknown user; do the same, or a quick
            # answer would tell a guesser the account is locked (and that it exists).
            get_user_model()().set_password(password)
            raise


class SignInAttempts(AxesDatabaseHandler):
    """Axes' database handler, resetting only the signed-in user's failures on success."""

    def reset_user_attempts(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> int:
        # Axes would also clear every other username's failures from this address, so anyone
        # with one account could sign in between guesses at other people's passwords.
        username = get_client_username(request, credentials)
        deleted, _ = AccessAttempt.objects.filter(username=username).delete()
        return deleted
