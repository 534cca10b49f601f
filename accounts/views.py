"""Signing in and out of the agent UI, and the header's availability control."""

from typing import Any

from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_POST

from accounts.decorators import AgentRequest, agent_required
from accounts.forms import AvailabilityForm, SignInForm
from accounts.models import Availability, User
from accounts.services import set_agent_availability
from core.errors import RuleBroken

AGENT_HOME = "/tickets/"
CUSTOMER_HOME = "/my/requests/"


def home_for(user: User) -> str:
    """Where a signed-in person starts: agents at their queue, customers at their requests."""
    return AGENT_HOME if user.is_agent else CUSTOMER_HOME


class SignInView(LoginView):
    """`/`: the sign-in form, or the signed-in person's home. The form authenticates through
    `django.contrib.auth.authenticate(request, ...)`, so every authentication backend and
    lockout policy sees this door like any other."""

    template_name = "accounts/login.html"
    authentication_form = SignInForm

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if isinstance(request.user, User) and request.method == "GET":
            return HttpResponseRedirect(home_for(request.user))
        return super().dispatch(request, *args, **kwargs)

    def get_default_redirect_url(self) -> str:
        user = self.request.user
        return home_for(user) if isinstance(user, User) else "/"


class SignOutView(LogoutView):
    """POST only (Django's LogoutView refuses GET)."""

    next_page = "/"


@require_POST
@agent_required
def availability(request: AgentRequest) -> HttpResponse:
    form = AvailabilityForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            set_agent_availability(
                agent=request.user, availability=form.cleaned_data["availability"]
            )
        except RuleBroken as broken:
            error = broken.message
    else:
        error = "Choose online, away or offline."
    if not request.htmx:
        return HttpResponseRedirect(AGENT_HOME)
    request.user.agent_profile.refresh_from_db(fields=["availability"])
    return render(
        request,
        "accounts/_availability.html",
        {
            "availability": request.user.agent_profile.availability,
            "availability_choices": Availability.choices,
            "error": error,
        },
        status=200 if not error else 400,
    )
