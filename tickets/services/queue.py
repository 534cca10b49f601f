"""Writes the queue page makes: "this agent has seen this ticket", saved views, bulk changes.

Bulk changes are not a new kind of change: each ticket goes through the same service function
as the API (assign_ticket, change_ticket_status, ...), in a transaction of its own, so one
ticket that refuses (a closed one, say) never stops the others.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.db import transaction
from django.utils import timezone

from accounts.models import Team, User
from core.errors import RuleBroken
from tickets.models import SavedView, Ticket, TicketSeen
from tickets.saved_views import own_teams
from tickets.services._shared import _tag_names
from tickets.services.changes import (
    assign_ticket,
    change_ticket_priority,
    change_ticket_status,
    change_ticket_team,
    set_ticket_tags,
)

# --- seen ---------------------------------------------------------------------------------


def mark_ticket_seen(*, agent: User, ticket: Ticket) -> TicketSeen:
    """Record that `agent` has the ticket open now: its unread dot in their queue goes away
    until the customer writes again. Called by the ticket page each time it opens."""
    seen, _created = TicketSeen.objects.update_or_create(
        agent=agent, ticket=ticket, defaults={"seen_at": timezone.now()}
    )
    return seen


# --- saved views --------------------------------------------------------------------------

SAVED_VIEW_SORTS = ("updated", "created", "priority")
QUEUE_COLUMNS = ("reference", "subject", "customer", "status", "priority", "sla", "assignee",
                 "team", "updated")  # fmt: skip
MAX_SAVED_VIEW_NAME = 80  # SavedView.name's max_length
MAX_SAVED_VIEW_QUERY = 2000  # SavedView.query's max_length
MAX_SAVED_VIEWS_PER_OWNER = 50
# Where in a list you are is not part of what the list is.
NOT_SAVED_PARAMS = {"cursor", "after", "before", "saved", "new_view", "partial", "sort"}


def _clean_saved_view(
    name: str, query: str, sort: str, columns: Iterable[str] | None
) -> tuple[str, str, str, list[str]]:
    name = " ".join((name or "").split())
    if not name:
        raise RuleBroken("name", "A saved view needs a name.")
    if len(name) > MAX_SAVED_VIEW_NAME:
        raise RuleBroken("name", "A view name is at most 80 characters.")
    if sort not in SAVED_VIEW_SORTS:
        raise RuleBroken("sort", f"Sort by one of: {', '.join(SAVED_VIEW_SORTS)}.")
    pairs = [(k, v) for k, v in parse_qsl(query or "", keep_blank_values=False)
             if k not in NOT_SAVED_PARAMS]  # fmt: skip
    query = urlencode(pairs)
    if len(query) > MAX_SAVED_VIEW_QUERY:
        raise RuleBroken("query", "These filters are too long to save.")
    chosen = list(dict.fromkeys(columns or QUEUE_COLUMNS))
    unknown = [column for column in chosen if column not in QUEUE_COLUMNS]
    if unknown:
        raise RuleBroken("columns", f"Unknown column: {unknown[0][:40]}.")
    if "subject" not in chosen:
        chosen.insert(0, "subject")  # a row without a subject cannot be opened
    return name, query, sort, [c for c in QUEUE_COLUMNS if c in chosen]


def _require_may_save_for(actor: User, team: Team | None) -> None:
    if not actor.is_agent:
        raise RuleBroken("owner", "Only agents save views.")
    if team is not None and not actor.is_manager:
        raise RuleBroken("team", "Only a manager saves a view for a team.")
    if team is not None and not own_teams(actor).filter(pk=team.pk).exists():
        raise RuleBroken("team", "Save team views for the teams you are in or manage.")


def may_change_saved_view(actor: User, view: SavedView) -> bool:
    """Your own views; as a manager, the views of the teams you are in or manage."""
    if not actor.is_agent:
        return False
    if view.owner_id is not None:
        return view.owner_id == actor.pk
    return (
        view.team_id is not None
        and actor.is_manager
        and own_teams(actor).filter(pk=view.team_id).exists()
    )


@transaction.atomic
def create_saved_view(
    *,
    actor: User,
    name: str,
    query: str = "",
    sort: str = "updated",
    columns: Iterable[str] | None = None,
    team: Team | None = None,
) -> SavedView:
    """Save the queue's current filters under a name: for the actor, or (managers) a team."""
    _require_may_save_for(actor, team)
    name, query, sort, chosen = _clean_saved_view(name, query, sort, columns)
    owned = SavedView.objects.filter(team=team) if team else SavedView.objects.filter(owner=actor)
    if owned.filter(name__iexact=name).exists():
        raise RuleBroken("name", "A saved view with this name already exists.")
    if owned.count() >= MAX_SAVED_VIEWS_PER_OWNER:
        raise RuleBroken("name", f"At most {MAX_SAVED_VIEWS_PER_OWNER} saved views each.")
    return SavedView.objects.create(
        name=name,
        owner=None if team else actor,
        team=team,
        query=query,
        sort=sort,
        columns=chosen,
        created_by=actor,
    )


@transaction.atomic
def update_saved_view(*, actor: User, view: SavedView, changes: dict[str, Any]) -> SavedView:
    unknown = set(changes) - {"name", "query", "sort", "columns"}
    if unknown:
        raise ValueError(f"update_saved_view cannot change {sorted(unknown)}")
    view = SavedView.objects.select_for_update().get(pk=view.pk)
    if not may_change_saved_view(actor, view):
        raise RuleBroken("owner", "You can change only your own views (managers: team views).")
    name, query, sort, columns = _clean_saved_view(
        changes.get("name", view.name),
        changes.get("query", view.query),
        changes.get("sort", view.sort),
        changes.get("columns", view.columns),
    )
    owned = (
        SavedView.objects.filter(team=view.team_id)
        if view.team_id
        else SavedView.objects.filter(owner=view.owner_id)
    )
    if owned.filter(name__iexact=name).exclude(pk=view.pk).exists():
        raise RuleBroken("name", "A saved view with this name already exists.")
    view.name, view.query, view.sort, view.columns = name, query, sort, columns
    view.save(update_fields=["name", "query", "sort", "columns", "updated_at"])
    return view


@transaction.atomic
def delete_saved_view(*, actor: User, view: SavedView) -> None:
    if not may_change_saved_view(actor, view):
        raise RuleBroken("owner", "You can delete only your own views (managers: team views).")
    view.delete()


# --- bulk changes -------------------------------------------------------------------------

BULK_ACTIONS = ("assign", "team", "status", "priority", "add_tag", "remove_tag")
MAX_BULK_TICKETS = 200


@dataclass
class BulkResult:
    changed: list[Ticket] = field(default_factory=list)
    refused: list[tuple[Ticket, str]] = field(default_factory=list)  # (ticket, why)


def _apply_one(ticket: Ticket, action: str, value: Any, actor: User) -> None:
    if action == "assign":
        assign_ticket(ticket=ticket, assignee=value, actor=actor)
    elif action == "team":
        change_ticket_team(ticket=ticket, team=value, actor=actor)
    elif action == "status":
        change_ticket_status(ticket=ticket, new_status=value, actor=actor)
    elif action == "priority":
        change_ticket_priority(ticket=ticket, priority=value, actor=actor)
    elif action in {"add_tag", "remove_tag"}:
        # Read and write the tags under the ticket's lock, so a concurrent change to its tags
        # is kept rather than overwritten.
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        names = _tag_names(locked)
        if action == "add_tag" and value not in names:
            set_ticket_tags(ticket=locked, tags=[*names, value], actor=actor)
        elif action == "remove_tag" and value in names:
            set_ticket_tags(ticket=locked, tags=[n for n in names if n != value], actor=actor)
    else:
        raise ValueError(f"Unknown bulk action {action!r}")


def bulk_change_tickets(
    *, actor: User, tickets: Iterable[Ticket], action: str, value: Any
) -> BulkResult:
    """Apply one change to many tickets, each in its own transaction. The caller has checked
    that the actor may see every ticket (tickets_visible_to) and parsed `value`: a User or
    None for assign, a Team or None for team, a string otherwise."""
    if action not in BULK_ACTIONS:
        raise RuleBroken("action", "Choose what to change.")
    tickets = list(tickets)
    if len(tickets) > MAX_BULK_TICKETS:
        raise RuleBroken("tickets", f"Change at most {MAX_BULK_TICKETS} tickets at once.")
    result = BulkResult()
    for ticket in tickets:
        try:
            with transaction.atomic():
                _apply_one(ticket, action, value, actor)
        except RuleBroken as broken:
            result.refused.append((ticket, broken.message))
        else:
            result.changed.append(ticket)
    return result
