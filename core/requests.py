"""Typed requests for doors that only signed-in people reach, for annotations only.

`request.user` is `User | AnonymousUser` to the type checker; behind IsAuthenticated (API) or
a sign-in decorator (pages) it is a `User`. The kernel does not know the user model, so the
view names it: `request: AuthenticatedRequest[User]`, `request: AuthenticatedHttpRequest[User]`.
(The admin cannot narrow its methods' request type; it uses `accounts.selectors.signed_in`.)
"""

from typing import Generic, TypeVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest
from rest_framework.request import Request

UserT = TypeVar("UserT", bound=AbstractBaseUser)


class AuthenticatedRequest(Request, Generic[UserT]):
    """A REST framework request whose user has signed in."""

    user: UserT  # type: ignore[assignment]  # narrows DRF's `user` property for signed-in views


class AuthenticatedHttpRequest(HttpRequest, Generic[UserT]):
    """A Django request (a page view) whose user has signed in."""

    user: UserT  # type: ignore[assignment]  # narrows `HttpRequest.user` for signed-in pages
