"""Pages of the agent UI: the queue, the team overview, a customer's own requests.

Doors like the API views: they read through the same selectors (`tickets_visible_to`, the
queue views in tickets.queues) and change things only through services.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.decorators import agent_required, manager_required
from tickets.queues import DEFAULT_VIEW, VIEW_KEYS, keyset_page, view_tickets, with_row_details
from tickets.selectors import tickets_visible_to


@agent_required
def queue(request: HttpRequest) -> HttpResponse:
    key = request.GET.get("view", DEFAULT_VIEW)
    if key not in VIEW_KEYS:
        key = DEFAULT_VIEW
    request.queue_view = key  # type: ignore[attr-defined]
    page = keyset_page(
        with_row_details(view_tickets(request.user, key), request.user), sort="updated"
    )
    return render(request, "tickets/queue.html", {"page": page, "view": VIEW_KEYS[key]})


@manager_required
def team_overview(request: HttpRequest) -> HttpResponse:
    return render(request, "tickets/team.html", {})


def my_requests(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect(f"/?next={request.path}")
    if request.user.is_agent:
        return redirect("tickets:queue")
    tickets = tickets_visible_to(request.user).order_by("-updated_at", "-id")[:100]
    return render(request, "tickets/my_requests.html", {"tickets": tickets})
