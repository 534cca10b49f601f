"""What every page of the agent UI shows around its content: the header's availability and the
left navigation's views, counts and saved views.

`shell` is a context processor (settings.TEMPLATES), so every template that extends base.html
gets it, including pages of apps below `tickets` that must not import it. Everything is lazy:
a page that never shows the navigation (sign-in, a customer's page) runs no query for it.
"""

from functools import cached_property
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest

from accounts.models import Availability, User
from tickets.queues import VIEWS, count_label, view_counts

# Query parameters that say where in a list you are, not what the list is.
POSITION_PARAMS = {"cursor", "before", "after", "saved", "new_view", "partial"}


class Shell:
    def __init__(self, request: HttpRequest) -> None:
        self.request = request

    @cached_property
    def agent(self) -> User | None:
        """The signed-in agent, or None for anyone else (customers, anonymous visitors)."""
        user = self.request.user
        return user if isinstance(user, User) and user.is_agent else None

    @property
    def is_agent(self) -> bool:
        return self.agent is not None

    @cached_property
    def is_manager(self) -> bool:
        return self.agent is not None and self.agent.is_manager

    @property
    def availability(self) -> str:
        return self.agent.agent_profile.availability if self.agent is not None else ""

    @property
    def timezone(self) -> str:
        """The agent's own time zone (their profile), for exact times in tooltips."""
        return self.agent.agent_profile.timezone if self.agent is not None else ""

    @property
    def availability_choices(self) -> list[tuple[str, Any]]:
        return list(Availability.choices)

    @property
    def undo_seconds(self) -> int:
        return int(getattr(settings, "UNDO_SEND_SECONDS", 5))

    @cached_property
    def counts(self) -> dict[str, int]:
        return view_counts(self.agent) if self.agent is not None else {}

    @cached_property
    def views(self) -> list[dict[str, Any]]:
        counts = self.counts
        return [
            {"key": view.key, "label": view.label, "count_label": count_label(counts[view.key])}
            for view in VIEWS
        ]

    @cached_property
    def saved_views(self) -> list[Any]:
        from tickets.saved_views import saved_views_for  # (the models load after settings)

        return list(saved_views_for(self.agent)) if self.agent is not None else []

    @property
    def current_view(self) -> str:
        if self.request.resolver_match and self.request.resolver_match.view_name != "tickets:queue":
            return ""
        return getattr(self.request, "queue_view", "")

    @property
    def current_saved(self) -> int | None:
        return getattr(self.request, "queue_saved", None)

    @property
    def queue_query(self) -> str:
        """The current queue's filters as a query string (for "+ New view")."""
        if self.request.resolver_match and self.request.resolver_match.view_name != "tickets:queue":
            return ""
        pairs = [
            (key, value)
            for key, values in self.request.GET.lists()
            if key not in POSITION_PARAMS
            for value in values
        ]
        return urlencode(pairs)


def shell(request: HttpRequest) -> dict[str, Any]:
    return {"shell": Shell(request)}
