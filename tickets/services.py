"""Every write to a ticket. One function per kind of change: lock, validate, write, record the
event, and publish (and queue any email) only after the transaction commits.

Callers (API views, admin, commands, consumers, tasks) have already checked that the actor
may touch the ticket; the rules about *what* may change live here.
"""

import secrets
from collections.abc import Iterable, Sequence
from html import unescape
from typing import Any

import nh3
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import models, transaction
from django.utils import timezone

from accounts.models import Team, User
from customers.models import Customer, Tag
from customers.services import tags_named
from helpdesk.errors import RuleBroken
from tickets import events
from tickets.models import (
    Attachment,
    Channel,
    EventKind,
    Message,
    Notification,
    Priority,
    SenderKind,
    Status,
    Ticket,
    TicketEvent,
    TicketType,
)

NEXT_STATUSES: dict[str, set[str]] = {
    Status.NEW: {Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.SOLVED},
    Status.OPEN: {Status.PENDING, Status.ON_HOLD, Status.SOLVED},
    Status.PENDING: {Status.OPEN, Status.ON_HOLD, Status.SOLVED},
    Status.ON_HOLD: {Status.OPEN, Status.PENDING, Status.SOLVED},
    Status.SOLVED: {Status.OPEN, Status.CLOSED},  # a customer reply reopens
    Status.CLOSED: set(),  # final: a follow-up is a new ticket
}

# A customer's reply puts these back in the agents' court.
REOPENED_BY_CUSTOMER_REPLY = {Status.SOLVED, Status.PENDING}

# What a message body may keep of HTML; everything else is stripped, text is escaped.
ALLOWED_TAGS = {"a", "b", "blockquote", "br", "code", "em", "i", "li", "ol", "p", "pre", "strong",
                "ul"}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
MAX_TAGS_PER_TICKET = 20

# "Leave this field as it is", where None is a real value (no parent).
UNCHANGED = object()


def sanitize_body(body: str) -> str:
    return nh3.clean(body, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, link_rel="nofollow")


def plain_text(html: str) -> str:
    return unescape(nh3.clean(html, tags=set()))


def sender_kind_of(user: User | None) -> str:
    if user is None:
        return SenderKind.SYSTEM
    return SenderKind.AGENT if user.is_agent else SenderKind.CUSTOMER


# --- helpers shared by the changes below ------------------------------------------------------


def _locked(ticket: Ticket) -> Ticket:
    # Two agents, one ticket: the second waits and then sees the first one's change.
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


def _record(ticket: Ticket, actor: User | None, kind: str, data: dict[str, Any]) -> TicketEvent:
    return TicketEvent.objects.create(ticket=ticket, actor=actor, kind=kind, data=data)


def _announce(ticket: Ticket, event_type: str, change: dict[str, Any]) -> None:
    events.broadcast_on_commit(
        events.AGENT_STREAM_GROUP,
        event_type,
        {"ticket": events.ticket_snapshot(ticket), "change": change},
    )


def _owe_email(ticket: Ticket, kind: str, recipient: str) -> None:
    """Write the email to the outbox now; the worker sends it after commit."""
    if not recipient:
        return
    notification = Notification.objects.create(ticket=ticket, kind=kind, recipient=recipient)
    from tickets.tasks import queue_notification  # tasks import services' models; avoid a cycle

    transaction.on_commit(lambda: queue_notification(notification.pk))


def _require_agent(user: User | None, field: str) -> None:
    if user is None or not user.is_agent:
        raise RuleBroken(field, "Only an active agent can be given this ticket.")


def _require_choice(field: str, value: str, choices: type[models.TextChoices]) -> None:
    if value not in choices.values:
        raise RuleBroken(field, f"{value!r} is not a valid {field}.")


def _clean_subject(subject: str) -> str:
    subject = " ".join((subject or "").split())
    if not subject:
        raise RuleBroken("subject", "A ticket needs a subject.")
    if len(subject) > Ticket._meta.get_field("subject").max_length:
        raise RuleBroken("subject", "A subject is at most 200 characters.")
    return subject


def _clean_body(body: str) -> str:
    if len(body or "") > settings.MESSAGE_BODY_MAX_CHARS:
        raise RuleBroken(
            "body", f"A message is at most {settings.MESSAGE_BODY_MAX_CHARS} characters."
        )
    cleaned = sanitize_body(body or "").strip()
    if not plain_text(cleaned).strip():
        raise RuleBroken("body", "A message cannot be empty.")
    return cleaned


def _check_attachments(files: Sequence[UploadedFile]) -> None:
    if len(files) > settings.ATTACHMENTS_PER_MESSAGE:
        raise RuleBroken(
            "attachments", f"At most {settings.ATTACHMENTS_PER_MESSAGE} attachments per message."
        )
    for upload in files:
        if upload.size is None or upload.size > settings.ATTACHMENT_MAX_BYTES:
            limit_mb = settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)
            raise RuleBroken("attachments", f"{upload.name} is larger than {limit_mb} MB.")
        if upload.size == 0:
            raise RuleBroken("attachments", f"{upload.name} is empty.")
        content_type = (upload.content_type or "").split(";")[0].strip().lower()
        if content_type not in settings.ATTACHMENT_CONTENT_TYPES:
            kind = content_type or "unknown"
            raise RuleBroken("attachments", f"{upload.name}: {kind} files are not accepted.")


def _tags_named(names: Iterable[str]) -> list[Tag]:
    # One tag rule for customers and tickets (customers.services owns it).
    if isinstance(names, str):  # a bare "refund" would otherwise be six one-letter tags
        names = names.split(",")
    return tags_named(names, field="tags", limit=MAX_TAGS_PER_TICKET)


def _tag_names(ticket: Ticket) -> list[str]:
    return sorted(ticket.tags.values_list("name", flat=True))


# --- opening ----------------------------------------------------------------------------------


@transaction.atomic
def open_ticket(
    *,
    customer: Customer,
    subject: str,
    body: str,
    actor: User | None,
    channel: str = Channel.WEB,
    priority: str = Priority.NORMAL,
    type: str = TicketType.QUESTION,
    team: Team | None = None,
    assignee: User | None = None,
    tags: Iterable[str] = (),
    parent: Ticket | None = None,
    attachments: Sequence[UploadedFile] = (),
) -> Ticket:
    """Open a ticket with its first message, and owe the customer an email with its reference.

    `actor` is the customer's own login, an agent opening it on their behalf, or None for a
    system door (an inbound email without a login).
    """
    subject = _clean_subject(subject)
    body = _clean_body(body)
    _check_attachments(attachments)
    _require_choice("channel", channel, Channel)
    _require_choice("priority", priority, Priority)
    _require_choice("type", type, TicketType)
    if assignee is not None:
        _require_agent(assignee, "assignee")
    if parent is not None and parent.status == Status.CLOSED:
        raise RuleBroken("parent", "A closed ticket cannot be a parent.")
    if actor is not None and not actor.is_agent and actor.pk != customer.user_id:
        # Otherwise their words would be filed as this customer's.
        raise RuleBroken("customer", "Only agents open tickets for someone else.")

    ticket = Ticket.objects.create(
        subject=subject,
        customer=customer,
        channel=channel,
        priority=priority,
        type=type,
        team=team,
        assignee=assignee,
        parent=parent,
        search_document=subject,
    )
    tag_objects = _tags_named(tags)
    if tag_objects:
        ticket.tags.set(tag_objects)
    # The description is the customer's words even when an agent types it in for them, so
    # it never counts as the first agent reply.
    message = _create_message(
        ticket=ticket,
        author=actor,
        sender=SenderKind.CUSTOMER if actor is None or not actor.is_agent else SenderKind.AGENT,
        body=body,
        is_internal=False,
        attachments=attachments,
    )
    Ticket.objects.filter(pk=ticket.pk).update(
        search_document=f"{subject}\n{plain_text(message.body)}"
    )
    _record(
        ticket,
        actor,
        EventKind.CREATED,
        {
            "status": ticket.status,
            "priority": ticket.priority,
            "channel": ticket.channel,
            "team": ticket.team_id,
            "assignee": ticket.assignee_id,
            "tags": [tag.name for tag in tag_objects],
            "message": message.pk,
        },
    )
    _announce(ticket, events.TICKET_CREATED, {})
    _owe_email(ticket, Notification.Kind.TICKET_OPENED, customer.email)
    if assignee is not None and assignee != actor:
        _owe_email(ticket, Notification.Kind.TICKET_ASSIGNED, assignee.email)
    return ticket


# --- lifecycle and routing ----------------------------------------------------------------


def _apply_status(ticket: Ticket, new_status: str) -> None:
    """Set status and the timestamps that go with it, on an already-locked ticket."""
    now = timezone.now()
    ticket.status = new_status
    if new_status == Status.SOLVED:
        ticket.solved_at = now
    elif new_status == Status.CLOSED:
        ticket.closed_at = now
    else:
        ticket.solved_at = None
    ticket.save(update_fields=["status", "solved_at", "closed_at", "updated_at"])


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
    _announce(ticket, events.TICKET_STATUS_CHANGED, change)
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
    _announce(ticket, events.TICKET_PRIORITY_CHANGED, change)
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
    _announce(ticket, events.TICKET_ASSIGNEE_CHANGED, {"field": "assignee", "from": old, "to": new})
    if assignee is not None and assignee != actor:
        _owe_email(ticket, Notification.Kind.TICKET_ASSIGNED, assignee.email)
    return ticket


@transaction.atomic
def change_ticket_team(*, ticket: Ticket, team: Team | None, actor: User | None) -> Ticket:
    ticket = _locked(ticket)
    if ticket.team_id == (team.pk if team else None):
        return ticket
    _refuse_if_closed(ticket, "team")
    old = ticket.team_id
    ticket.team = team
    ticket.save(update_fields=["team", "updated_at"])
    new = team.pk if team else None
    _record(ticket, actor, EventKind.TEAM_CHANGED, {"from": old, "to": new})
    _announce(ticket, events.TICKET_TEAM_CHANGED, {"field": "team", "from": old, "to": new})
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
    _announce(ticket, events.TICKET_TAGS_CHANGED, {"field": "tags", **change})
    return ticket


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
    _announce(ticket, events.TICKET_DETAILS_CHANGED, {"fields": changes})
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
    if "priority" in changes:
        ticket = change_ticket_priority(ticket=ticket, priority=changes["priority"], actor=actor)
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


# --- the conversation ---------------------------------------------------------------------


def _create_message(
    *,
    ticket: Ticket,
    author: User | None,
    sender: str,
    body: str,
    is_internal: bool,
    attachments: Sequence[UploadedFile],
) -> Message:
    message = Message.objects.create(
        ticket=ticket, author=author, sender=sender, body=body, is_internal=is_internal
    )
    for upload in attachments:
        content_type = (upload.content_type or "").split(";")[0].strip().lower()
        attachment = Attachment(
            message=message,
            token=secrets.token_hex(16),
            filename=(upload.name or "attachment")[-255:],
            content_type=content_type,
            size=upload.size or 0,
        )
        attachment.file.save(attachment.token, upload, save=False)
        attachment.save()
    return message


@transaction.atomic
def post_message(
    *,
    ticket: Ticket,
    author: User | None,
    body: str,
    is_internal: bool = False,
    attachments: Sequence[UploadedFile] = (),
) -> Message:
    """Add a public reply or an internal note.

    A customer's reply reopens a solved or pending ticket; an agent's first public reply sets
    the first-reply time (and takes a new ticket to open). Closed tickets take no messages.
    """
    ticket = _locked(ticket)
    sender = sender_kind_of(author)
    if is_internal and sender != SenderKind.AGENT:
        raise RuleBroken("is_internal", "Only agents can write internal notes.")
    if (
        sender == SenderKind.CUSTOMER
        and not Customer.objects.filter(pk=ticket.customer_id, user=author).exists()
    ):
        # Anyone who is neither an agent nor this ticket's customer (say, a staff login with no
        # agent profile) would otherwise be filed as the customer and reopen the ticket.
        raise RuleBroken("author", "Only agents and the ticket's customer write on a ticket.")
    if ticket.status == Status.CLOSED:
        raise RuleBroken("body", "This ticket is closed; open a new ticket to follow up.")
    body = _clean_body(body)
    _check_attachments(attachments)

    message = _create_message(
        ticket=ticket,
        author=author,
        sender=sender,
        body=body,
        is_internal=is_internal,
        attachments=attachments,
    )
    ticket.search_document = f"{ticket.search_document}\n{plain_text(body)}"
    update_fields = ["search_document", "updated_at"]
    status_change: dict[str, str] | None = None

    if sender == SenderKind.CUSTOMER and ticket.status in REOPENED_BY_CUSTOMER_REPLY:
        status_change = {"from": ticket.status, "to": Status.OPEN}
    elif sender == SenderKind.AGENT and not is_internal:
        if ticket.first_agent_reply_at is None:
            ticket.first_agent_reply_at = message.created_at
            update_fields.append("first_agent_reply_at")
        if ticket.status == Status.NEW:
            status_change = {"from": Status.NEW, "to": Status.OPEN}

    if status_change:
        _apply_status(ticket, status_change["to"])
    ticket.save(update_fields=update_fields)

    _record(
        ticket,
        author,
        EventKind.MESSAGE_POSTED,
        {"message": message.pk, "is_internal": is_internal, "sender": sender},
    )
    _announce(
        ticket,
        events.TICKET_MESSAGE_POSTED,
        {"message": message.pk, "is_internal": is_internal, "sender": sender},
    )
    if status_change:
        _record(ticket, author, EventKind.STATUS_CHANGED, status_change)
        _announce(ticket, events.TICKET_STATUS_CHANGED, {"field": "status", **status_change})
    return message
