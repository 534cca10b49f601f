"""Changes to an open ticket's lifecycle, routing, tags and details."""

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from accounts.models import Team, User
from core.errors import RuleBroken
from customers.models import Customer, Tag
from customers.services import update_customer
from tickets import events
from tickets.models import (
    EventKind,
    Notification,
    Priority,
    Status,
    Ticket,
    TicketType,
)
from tickets.services._shared import (
    NEXT_STATUSES,
    UNCHANGED,
    _announce,
    _apply_status,
    _clean_subject,
    _locked,
    _owe_email,
    _record,
    _require_active_team,
    _require_agent,
    _tag_names,
    _tags_named,
    one_change,
)


@transaction.atomic
def change_ticket_status(*, ticket: Ticket, new_status: str, actor: User | None) -> Ticket:
    """Move a ticket along its lifecycle (`NEXT_STATUSES`)."""
    ticket = _locked(ticket)
    if new_status not in Status.values:
        raise RuleBroken("status", f"{new_status!r} is not a status.")
    if new_status == ticket.status:
        return ticket
    if new_status not in NEXT_STATUSES[ticket.status]:
        old, new = Status(ticket.status).label, Status(new_status).label
        article = "An" if old[0] in "AEIOU" else "A"
        raise RuleBroken("status", f"{article} {old} ticket cannot become {new}.")

    old_status = ticket.status
    _apply_status(ticket, new_status)
    change = {"field": "status", "from": old_status, "to": new_status}
    _record(ticket, actor, EventKind.STATUS_CHANGED, {"from": old_status, "to": new_status})
    _announce(ticket, events.TICKET_STATUS_CHANGED, change, actor=actor)
    return ticket


def _refuse_if_closed(ticket: Ticket, field: str) -> None:
    if ticket.status == Status.CLOSED:
        raise RuleBroken(field, "A closed ticket cannot be changed.")


@transaction.atomic
def change_ticket_priority(*, ticket: Ticket, priority: str, actor: User | None) -> Ticket:
    ticket = _locked(ticket)
    if priority not in Priority.values:
        raise RuleBroken("priority", f"{priority!r} is not a priority.")
    if priority == ticket.priority:
        return ticket
    _refuse_if_closed(ticket, "priority")
    old = ticket.priority
    ticket.priority = priority
    ticket.save(update_fields=["priority", "updated_at"])
    _record(ticket, actor, EventKind.PRIORITY_CHANGED, {"from": old, "to": priority})
    change = {"field": "priority", "from": old, "to": priority}
    _announce(ticket, events.TICKET_PRIORITY_CHANGED, change, actor=actor)
    return ticket


@transaction.atomic
def assign_ticket(*, ticket: Ticket, assignee: User | None, actor: User | None) -> Ticket:
    """Give the ticket to an agent (None: back to the unassigned queue) and tell that agent."""
    ticket = _locked(ticket)
    # Checked first: re-saving a form that still names a since-deactivated assignee is no change.
    if ticket.assignee_id == (assignee.pk if assignee else None):
        return ticket
    if assignee is not None:
        _require_agent(assignee, "assignee")
    _refuse_if_closed(ticket, "assignee")
    old = ticket.assignee_id
    ticket.assignee = assignee
    ticket.save(update_fields=["assignee", "updated_at"])
    new = assignee.pk if assignee else None
    _record(ticket, actor, EventKind.ASSIGNEE_CHANGED, {"from": old, "to": new})
    change = {"field": "assignee", "from": old, "to": new}
    _announce(ticket, events.TICKET_ASSIGNEE_CHANGED, change, actor=actor)
    if assignee is not None and assignee != actor:
        _owe_email(ticket, Notification.Kind.TICKET_ASSIGNED, assignee.email)
    return ticket


@transaction.atomic
def change_ticket_team(*, ticket: Ticket, team: Team | None, actor: User | None) -> Ticket:
    ticket = _locked(ticket)
    if ticket.team_id == (team.pk if team else None):
        return ticket
    _require_active_team(team)
    _refuse_if_closed(ticket, "team")
    old = ticket.team_id
    ticket.team = team
    ticket.save(update_fields=["team", "updated_at"])
    new = team.pk if team else None
    _record(ticket, actor, EventKind.TEAM_CHANGED, {"from": old, "to": new})
    change = {"field": "team", "from": old, "to": new}
    _announce(ticket, events.TICKET_TEAM_CHANGED, change, actor=actor)
    return ticket


@transaction.atomic
def set_ticket_tags(*, ticket: Ticket, tags: Iterable[str], actor: User | None) -> Ticket:
    """Replace the ticket's tags with `tags` (names; created when new)."""
    ticket = _locked(ticket)
    wanted = _tags_named(tags)
    old = _tag_names(ticket)
    new = [tag.name for tag in wanted]
    if old == new:
        return ticket
    _refuse_if_closed(ticket, "tags")
    ticket.tags.set(wanted)
    ticket.save(update_fields=["updated_at"])
    change = {"added": sorted(set(new) - set(old)), "removed": sorted(set(old) - set(new))}
    _record(ticket, actor, EventKind.TAGS_CHANGED, {"from": old, "to": new})
    _announce(ticket, events.TICKET_TAGS_CHANGED, {"field": "tags", **change}, actor=actor)
    return ticket


@transaction.atomic
def retire_tag(*, tag: Tag, actor: User | None) -> dict[str, int]:
    """Take a tag off every ticket that is not closed (each through set_ticket_tags, so each
    gets its event and live event) and off every customer (through update_customer: an audit
    entry each). Closed tickets keep it: they never change, and it is part of what they were.
    The tag itself is deleted once nothing carries it any more."""
    tag = Tag.objects.select_for_update().get(pk=tag.pk)
    tickets = Ticket.objects.filter(tags=tag).exclude(status=Status.CLOSED).order_by("id")
    retired = {"tickets": 0, "customers": 0, "deleted": 0}
    for ticket in tickets:
        remaining = [name for name in _tag_names(ticket) if name != tag.name]
        set_ticket_tags(ticket=ticket, tags=remaining, actor=actor)
        retired["tickets"] += 1
    for customer in Customer.objects.filter(tags=tag).order_by("id"):
        remaining = [name for name in customer.tags.values_list("name", flat=True)
                     if name != tag.name]  # fmt: skip
        update_customer(customer=customer, actor=actor, changes={"tags": remaining})
        retired["customers"] += 1
    if not Ticket.objects.filter(tags=tag).exists() and not tag.customers.exists():
        tag.delete()  # carried by nothing: deleting it changes nothing anyone can see
        retired["deleted"] = 1
    return retired


@transaction.atomic
def change_ticket_details(
    *,
    ticket: Ticket,
    actor: User | None,
    subject: str | None = None,
    type: str | None = None,
    parent: Ticket | object | None = UNCHANGED,
) -> Ticket:
    """Subject, type and parent link: the fields without a lifecycle of their own."""
    ticket = _locked(ticket)
    changes: dict[str, dict[str, Any]] = {}
    if subject is not None:
        subject = _clean_subject(subject)
        if subject != ticket.subject:
            changes["subject"] = {"from": ticket.subject, "to": subject}
            ticket.subject = subject
            _old_subject, _, rest = ticket.search_document.partition("\n")
            ticket.search_document = f"{subject}\n{rest}"
    if type is not None and type != ticket.type:
        if type not in TicketType.values:
            raise RuleBroken("type", f"{type!r} is not a ticket type.")
        changes["type"] = {"from": ticket.type, "to": type}
        ticket.type = type
    if isinstance(parent, Ticket) or parent is None:
        if parent is not None and (parent.pk == ticket.pk or _is_descendant(parent, ticket)):
            raise RuleBroken("parent", "A ticket cannot be its own parent, even indirectly.")
        if parent is not None and parent.status == Status.CLOSED:
            raise RuleBroken("parent", "A closed ticket cannot be a parent.")
        new_parent = parent.pk if parent else None
        if new_parent != ticket.parent_id:
            changes["parent"] = {"from": ticket.parent_id, "to": new_parent}
            ticket.parent = parent
    if not changes:
        return ticket
    # Like every other change, a no-op on a closed ticket is fine; a real change is not.
    _refuse_if_closed(ticket, next(iter(changes)))
    ticket.save(update_fields=["subject", "type", "parent", "search_document", "updated_at"])
    _record(ticket, actor, EventKind.DETAILS_CHANGED, changes)
    _announce(ticket, events.TICKET_DETAILS_CHANGED, {"fields": changes}, actor=actor)
    return ticket


def _is_descendant(candidate: Ticket, ancestor: Ticket) -> bool:
    """Is `candidate` below `ancestor` in the parent chain? (Chains are short.)"""
    seen: set[int] = set()
    current = candidate
    while current.parent_id is not None and current.parent_id not in seen:
        if current.parent_id == ancestor.pk:
            return True
        seen.add(current.pk)
        current = Ticket.objects.only("id", "parent_id").get(pk=current.parent_id)
    return False


UPDATABLE_FIELDS = frozenset({"status", "priority", "team", "assignee", "tags", "subject", "type",
                              "parent"})  # fmt: skip


@transaction.atomic
def update_ticket(*, ticket: Ticket, actor: User | None, changes: dict[str, Any]) -> Ticket:
    """Several changes at once (an API PATCH, an admin form): each through its own function,
    all in one transaction, so either every change lands or none does.

    The status moves last, so that "set priority and close" works: the other changes land on
    a ticket that is not closed yet.
    """
    unknown = changes.keys() - UPDATABLE_FIELDS
    if unknown:
        raise ValueError(f"update_ticket cannot change {sorted(unknown)}")
    with one_change():  # every field of it: one change for the apps above (clocks, rules)
        if "priority" in changes:
            ticket = change_ticket_priority(
                ticket=ticket, priority=changes["priority"], actor=actor
            )
        if "team" in changes:
            ticket = change_ticket_team(ticket=ticket, team=changes["team"], actor=actor)
        if "assignee" in changes:
            ticket = assign_ticket(ticket=ticket, assignee=changes["assignee"], actor=actor)
        if "tags" in changes:
            ticket = set_ticket_tags(ticket=ticket, tags=changes["tags"], actor=actor)
        detail_keys = {"subject", "type", "parent"} & changes.keys()
        if detail_keys:
            ticket = change_ticket_details(
                ticket=ticket, actor=actor, **{key: changes[key] for key in detail_keys}
            )
        if "status" in changes:
            ticket = change_ticket_status(ticket=ticket, new_status=changes["status"], actor=actor)
        return ticket


def follow_customer_tier(*, customer: Customer) -> int:
    """Copy the customer's tier onto each of their tickets (Ticket.customer_tier) in one
    UPDATE, in the caller's transaction: update_customer's, through
    customers.signals.customer_changed (tickets.receivers). The ticket itself did not change:
    no event, no broadcast, and updated_at stays (the queue's order is about the ticket).
    Returns how many tickets it rewrote."""
    return (
        Ticket.objects.filter(customer_id=customer.pk)
        .exclude(customer_tier_id=customer.tier_id)
        .update(customer_tier_id=customer.tier_id)
    )
