"""Who may open a page of the agent UI. Anonymous visitors are sent to sign in; signed-in
people who are not (active) agents, or not managers for manager pages, get the 403 page."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django_htmx.middleware import HtmxDetails

from accounts.models import User

View = Callable[..., HttpResponse]


class AgentRequest(HttpRequest):
    """For annotations only: a page request behind `agent_required` / `manager_required`,
    whose user is a signed-in agent, with django-htmx's `request.htmx`."""

    user: User  # narrowed by the decorators below
    htmx: HtmxDetails


def _require(check: Callable[[Any], bool]) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


agent_required = _require(lambda user: user.is_agent)
agent_required.__doc__ = "Agents, managers and admins with an active profile."
manager_required = _require(lambda user: user.is_agent and user.is_manager)
manager_required.__doc__ = "Managers and admins."
