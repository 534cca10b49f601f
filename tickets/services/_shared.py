"""The rules every ticket change shares: the lifecycle table, body sanitizing, locking,
the audit record, the after-commit announcement and the email outbox."""

from __future__ import annotations  # UploadedFile[...] is a type only, not subscriptable at runtime

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from html import unescape
from typing import Any

import nh3
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import models, transaction
from django.utils import timezone

from accounts.models import Team, User
from accounts.selectors import is_agent
from core.errors import RuleBroken
from customers.models import Tag
from customers.services import tags_named
from tickets import events
from tickets.models import (
    SUBJECT_MAX_LENGTH,
    EventKind,
    Message,
    Notification,
    SenderKind,
    Status,
    Ticket,
    TicketEvent,
)
from tickets.signals import ticket_changed

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
    return SenderKind.AGENT if is_agent(user) else SenderKind.CUSTOMER


def _locked(ticket: Ticket) -> Ticket:
    # Two agents, one ticket: the second waits and then sees the first one's change.
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


# Events that higher layers write about a ticket (SLA breaches, escalation rule firings): they
# are recorded on the timeline but are not a change to react to, so no rule can loop on them.
QUIET_EVENT_KINDS = frozenset(
    {EventKind.SLA_BREACHED, EventKind.RULE_FIRED, EventKind.RULE_FAILED, EventKind.ESCALATED}
)


# While one_change() is open: the changes recorded so far, told to the apps above once, when
# it ends. None outside one.
_pending_change: ContextVar[list[dict[str, Any]] | None] = ContextVar(
    "tickets_pending_change", default=None
)


@contextmanager
def one_change() -> Iterator[None]:
    """Several recorded events that are one change, such as a customer's reply that reopens
    the ticket (message, then status) or a PATCH of several fields: `ticket_changed` is sent
    once, when the outermost one_change ends, with the ticket as it is then and the change's
    first event (which names it: the message of a reply). So the clocks are recomputed once,
    on the finished change, and an event rule fires at most once for it. Nothing is sent when
    the block raises: its transaction is rolled back anyway."""
    if _pending_change.get() is not None:
        yield  # inside a larger change: that one tells
        return
    pending: list[dict[str, Any]] = []
    token = _pending_change.set(pending)
    try:
        yield
    finally:
        _pending_change.reset(token)
    if pending:
        first, last = pending[0], pending[-1]
        message = next((p["message"] for p in pending if p["message"] is not None), None)
        ticket_changed.send(
            sender=Ticket,
            ticket=last["ticket"],
            event=first["event"],
            actor=first["actor"],
            message=message,
        )


def _record(
    ticket: Ticket,
    actor: User | None,
    kind: str,
    data: dict[str, Any],
    *,
    message: Message | None = None,
) -> TicketEvent:
    event = TicketEvent.objects.create(ticket=ticket, actor=actor, kind=kind, data=data)
    if kind not in QUIET_EVENT_KINDS:
        # Inside the change's transaction: `slas` recomputes the clocks and runs event rules
        # here, so they commit or roll back with the change itself. A message's event carries
        # the row in hand (author and attachments loaded), so a receiver that shows it (chat's
        # line) needs no query to read it back.
        pending = _pending_change.get()
        if pending is not None:
            pending.append({"ticket": ticket, "event": event, "actor": actor, "message": message})
        else:
            ticket_changed.send(
                sender=Ticket, ticket=ticket, event=event, actor=actor, message=message
            )
    return event


def _announce(
    ticket: Ticket, event_type: str, change: dict[str, Any], *, actor: User | None
) -> None:
    events.broadcast_on_commit(
        events.AGENT_STREAM_GROUP,
        event_type,
        {
            "ticket": events.ticket_snapshot(ticket),
            "change": change,
            "actor": events.actor_summary(actor),
        },
    )


def _owe_email(ticket: Ticket, kind: str, recipient: str) -> None:
    """Write the email to the outbox now; the worker sends it after commit."""
    if not recipient or recipient.lower().endswith(".invalid"):
        # No address, or a reserved never-deliverable one (RFC 2606): an anonymous chat
        # visitor's placeholder (chat.services) has nowhere to be written to.
        return
    notification = Notification.objects.create(ticket=ticket, kind=kind, recipient=recipient)
    from tickets.tasks import queue_notification  # tasks import services' models; avoid a cycle

    transaction.on_commit(lambda: queue_notification(notification.pk))


def _require_agent(user: User | None, field: str) -> None:
    if not is_agent(user):
        raise RuleBroken(field, "Only an active agent can be given this ticket.")


def _require_active_team(team: Team | None) -> None:
    if team is not None and not team.is_active:
        raise RuleBroken("team", f"{team.name} is archived and takes no tickets.")


def _require_choice(field: str, value: str, choices: type[models.TextChoices]) -> None:
    if value not in choices.values:
        raise RuleBroken(field, f"{value!r} is not a valid {field}.")


def _clean_subject(subject: str) -> str:
    subject = " ".join((subject or "").split())
    if not subject:
        raise RuleBroken("subject", "A ticket needs a subject.")
    if len(subject) > SUBJECT_MAX_LENGTH:
        raise RuleBroken("subject", f"A subject is at most {SUBJECT_MAX_LENGTH} characters.")
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


def _check_attachments(files: Sequence[UploadedFile[Any]]) -> None:
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


STATUS_FIELDS = ["status", "solved_at", "closed_at"]


def _apply_status(ticket: Ticket, new_status: str, *, save: bool = True) -> None:
    """Set status and the timestamps that go with it, on an already-locked ticket; with
    `save=False` the caller saves STATUS_FIELDS in its own write of the ticket."""
    now = timezone.now()
    ticket.status = new_status
    if new_status == Status.SOLVED:
        ticket.solved_at = now
    elif new_status == Status.CLOSED:
        ticket.closed_at = now
    else:
        ticket.solved_at = None
    if save:
        ticket.save(update_fields=[*STATUS_FIELDS, "updated_at"])
