"""Pages of the agent UI: the queue (views, filters, saved views, bulk changes), the team
overview, and a customer's own requests.

Doors like the API views: they read through the same selectors (`tickets_visible_to`, the
queue views in tickets.queues, the API's own TicketFilter) and change things only through
services. A bad filter, sort or page link is a message on the page, never a 500.
"""

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.decorators import AgentRequest, agent_required, manager_required
from accounts.models import Availability, Team, User
from accounts.selectors import agents_directory
from core.errors import RuleBroken
from customers.models import Organization, Tier
from tickets.api.filters import TicketFilter
from tickets.forms import BulkForm, SavedViewForm
from tickets.models import Channel, Priority, SavedView, Status, TicketType
from tickets.queues import (
    DEFAULT_SORT,
    DEFAULT_VIEW,
    SORT_LABELS,
    SORTS,
    UNSOLVED,
    VIEW_KEYS,
    VIEW_SORTS,
    BadCursor,
    Page,
    is_unread,
    keyset_page,
    view_tickets,
    with_row_details,
)
from tickets.saved_views import own_teams, saved_views_for
from tickets.selectors import tickets_visible_to
from tickets.services.queue import (
    QUEUE_COLUMNS,
    bulk_change_tickets,
    create_saved_view,
    delete_saved_view,
    may_change_saved_view,
    update_saved_view,
)

COLUMN_LABELS = {
    "reference": "Ref",
    "subject": "Subject",
    "customer": "Customer",
    "status": "Status",
    "priority": "Priority",
    "sla": "SLA",
    "assignee": "Assignee",
    "team": "Team",
    "updated": "Last update",
}
# The filter form's fields; everything the API's TicketFilter takes, by the same names.
FILTER_PARAMS = (
    "status", "priority", "type", "channel", "team", "assignee", "tier", "tag", "organization",
    "created_after", "created_before", "updated_after", "updated_before", "search",
)  # fmt: skip
MAX_FILTER_CHOICES = 300  # organizations in the filter's menu; beyond that, filter by link


class QueueRequest(AgentRequest):
    queue_view: str  # which view the left navigation marks as current (tickets.navigation)
    queue_saved: int | None


@dataclass
class QueueState:
    """The queue as the URL describes it, after validation."""

    view: str = DEFAULT_VIEW
    sort: str = DEFAULT_SORT
    saved: SavedView | None = None
    columns: list[str] = field(default_factory=lambda: list(QUEUE_COLUMNS))
    errors: list[str] = field(default_factory=list)
    page: Page | None = None
    params: QueryDict = field(default_factory=QueryDict)


def _queue_state(request: AgentRequest, params: QueryDict) -> QueueState:
    user = request.user
    state = QueueState(params=params)
    view = params.get("view", DEFAULT_VIEW)
    if view in VIEW_KEYS:
        state.view = view
    else:
        state.errors.append("There is no such view; showing My open.")
    sort = params.get("sort") or VIEW_SORTS.get(state.view, DEFAULT_SORT)
    if sort in SORTS:
        state.sort = sort
    else:
        state.sort = VIEW_SORTS.get(state.view, DEFAULT_SORT)
        state.errors.append("The queue sorts by last update, created, priority or SLA due.")
    saved_id = params.get("saved", "")
    if saved_id:
        state.saved = (
            saved_views_for(user).filter(pk=saved_id).first() if saved_id.isdigit() else None
        )
        if state.saved is None:
            state.errors.append("That saved view does not exist or is not yours.")
        else:
            state.columns = list(state.saved.columns) or list(QUEUE_COLUMNS)

    tickets = view_tickets(user, state.view)
    filters = TicketFilter(params, queryset=tickets, request=request)
    if not filters.is_valid():
        for name, messages in filters.errors.items():
            label = name.replace("_", " ")
            state.errors.extend(f"Filter “{label}”: {message}" for message in messages)
        # Show the queue without the filters that were wrong rather than nothing.
        good = params.copy()
        for name in filters.errors:
            good.pop(name, None)
        filters = TicketFilter(good, queryset=tickets, request=request)
    rows = with_row_details(filters.qs, user)
    try:
        state.page = keyset_page(
            rows, sort=state.sort, after=params.get("after", ""), before=params.get("before", "")
        )
    except BadCursor:
        state.errors.append("That page link is out of date; showing the first page.")
        state.page = keyset_page(rows, sort=state.sort)
    for ticket in state.page.rows:
        ticket.unread = is_unread(ticket)  # type: ignore[attr-defined]
    return state


def _without(params: QueryDict, *names: str) -> str:
    kept = [(k, v) for k, values in params.lists() if k not in names for v in values]
    return urlencode(kept)


def _queue_context(request: AgentRequest, state: QueueState, **extra: Any) -> dict[str, Any]:
    params = state.params
    base_query = _without(params, "after", "before", "new_view")
    return {
        "state": state,
        "view": VIEW_KEYS[state.view],
        "page": state.page,
        "columns": state.columns,
        "column_labels": [(c, COLUMN_LABELS[c]) for c in state.columns],
        "all_columns": list(COLUMN_LABELS.items()),
        "show": dict.fromkeys(state.columns, True),
        "query": base_query,
        "newer_url": f"?{_without(params, 'after', 'before')}&before={state.page.newer}"
        if state.page and state.page.newer
        else "",
        "older_url": f"?{_without(params, 'after', 'before')}&after={state.page.older}"
        if state.page and state.page.older
        else "",
        "filtered": any(params.get(name) for name in FILTER_PARAMS),
        "may_change_saved": state.saved is not None
        and may_change_saved_view(request.user, state.saved),
        **extra,
    }


def _filter_choices(request: AgentRequest, params: QueryDict) -> dict[str, Any]:
    return {
        "statuses": Status.choices,
        "chosen_statuses": {
            part for value in params.getlist("status") for part in value.split(",")
        },
        "priorities": Priority.choices,
        "types": TicketType.choices,
        "channels": Channel.choices,
        "sorts": list(SORT_LABELS.items()),
        "teams": list(Team.objects.only("id", "name")),
        "agents": list(agents_directory().prefetch_related(None)),
        "tiers": list(Tier.objects.only("id", "name", "slug")),
        "organizations": list(
            Organization.objects.only("id", "name").order_by("name")[:MAX_FILTER_CHOICES]
        ),
        "get": params,
    }


def _render_queue(
    request: QueueRequest, params: QueryDict, *, status: int = 200, **extra: Any
) -> HttpResponse:
    state = _queue_state(request, params)
    # For the left navigation (tickets.navigation), which marks the current view.
    request.queue_view = state.view
    request.queue_saved = state.saved.pk if state.saved else None
    context = _queue_context(request, state, **extra)
    context.update(_filter_choices(request, params))
    if request.htmx and not request.htmx.boosted:
        return render(request, "tickets/_queue_rows.html", {**context, "oob": True}, status=status)
    context["saved_form"] = extra.get("saved_form") or SavedViewForm(
        initial={"sort": state.sort, "columns": state.columns}
    )
    context["show_new_view"] = "new_view" in params or "saved_form" in extra
    context["own_teams"] = list(own_teams(request.user)) if request.user.is_manager else []
    return render(request, "tickets/queue.html", context, status=status)


@agent_required
def queue(request: QueueRequest) -> HttpResponse:
    return _render_queue(request, request.GET)


def _return_params(request: AgentRequest) -> QueryDict:
    """The queue the agent was looking at when they posted (its query string)."""
    return QueryDict(request.POST.get("return_query", "")[:4000])


@require_POST
@agent_required
def bulk(request: QueueRequest) -> HttpResponse:
    params = _return_params(request)
    form = BulkForm(request.POST, actor=request.user)
    if not form.is_valid():
        return _render_queue(request, params, status=400, bulk_errors=form.error_list())
    ids = form.cleaned_data["ticket"]
    tickets = tickets_visible_to(request.user).filter(pk__in=ids).order_by("pk")
    try:
        result = bulk_change_tickets(
            actor=request.user,
            tickets=tickets,
            action=form.cleaned_data["action"],
            value=form.cleaned_data["value"],
        )
    except RuleBroken as broken:
        return _render_queue(request, params, status=400, bulk_errors=[broken.message])
    return _render_queue(request, params, bulk_result=result, bulk_label=form.describe())


@require_POST
@agent_required
def saved_view_create(request: QueueRequest) -> HttpResponse:
    params = _return_params(request)
    form = SavedViewForm(request.POST, actor=request.user)
    if form.is_valid():
        try:
            view = create_saved_view(
                actor=request.user,
                name=form.cleaned_data["name"],
                query=request.POST.get("return_query", ""),
                sort=form.cleaned_data["sort"],
                columns=form.cleaned_data["columns"],
                team=form.cleaned_data["team"],
            )
        except RuleBroken as broken:
            form.add_error(broken.field if broken.field in form.fields else None, broken.message)
        else:
            return _go(request, view.url)
    return _render_queue(request, params, status=400, saved_form=form)


@require_POST
@agent_required
def saved_view_change(request: QueueRequest, pk: int) -> HttpResponse:
    view = get_object_or_404(saved_views_for(request.user), pk=pk)
    try:
        if request.POST.get("delete"):
            delete_saved_view(actor=request.user, view=view)
            return _go(request, "/tickets/")
        view = update_saved_view(
            actor=request.user,
            view=view,
            changes={"query": request.POST.get("return_query", ""), "sort": view.sort},
        )
    except RuleBroken as broken:
        return _render_queue(
            request, _return_params(request), status=400, bulk_errors=[broken.message]
        )
    return _go(request, view.url)


def _go(request: AgentRequest, url: str) -> HttpResponse:
    """Redirect; an htmx request is told to load the page (HX-Location keeps history right)."""
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


@manager_required
def team_overview(request: AgentRequest) -> HttpResponse:
    """Who is online and how much each agent and team has open: two aggregate queries."""
    open_q = Q(assigned_tickets__status__in=UNSOLVED)
    agents = list(
        agents_directory().annotate(open_tickets=Count("assigned_tickets", filter=open_q))
    )
    teams = list(
        Team.objects.select_related("manager").annotate(
            open_tickets=Count("tickets", filter=Q(tickets__status__in=UNSOLVED), distinct=True),
            unassigned=Count(
                "tickets",
                filter=Q(tickets__status__in=UNSOLVED, tickets__assignee__isnull=True),
                distinct=True,
            ),
        )
    )
    by_team: dict[int | None, list[User]] = {team.pk: [] for team in teams}
    no_team: list[User] = []
    for agent in agents:
        member_of = list(agent.agent_profile.teams.all())
        for team in member_of:
            by_team.setdefault(team.pk, []).append(agent)
        if not member_of:
            no_team.append(agent)
    online = len([a for a in agents if a.agent_profile.availability == Availability.ONLINE])
    return render(
        request,
        "tickets/team.html",
        {
            "teams": [(team, by_team.get(team.pk, [])) for team in teams],
            "no_team": no_team,
            "agents": agents,
            "online": online,
        },
    )


def my_requests(request: HttpRequest) -> HttpResponse:
    """A customer's own tickets, newest activity first (read-only; the portal grows it)."""
    user = request.user
    if not isinstance(user, User):  # anonymous
        return redirect(f"/?next={request.path}")
    if user.is_agent:
        return redirect("tickets:queue")
    tickets = tickets_visible_to(user).defer("search_document").order_by("-updated_at", "-id")[:100]
    return render(request, "tickets/my_requests.html", {"tickets": tickets})
