"""Replies and internal notes."""

from __future__ import annotations  # UploadedFile[...] is a type only, not subscriptable at runtime

import secrets
from collections.abc import Sequence
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from accounts.models import User
from core.errors import RuleBroken
from customers.models import Customer
from tickets import events
from tickets.models import (
    Attachment,
    EventKind,
    Message,
    SenderKind,
    Status,
    Ticket,
)
from tickets.services._shared import (
    REOPENED_BY_CUSTOMER_REPLY,
    STATUS_FIELDS,
    _announce,
    _apply_status,
    _check_attachments,
    _clean_body,
    _locked,
    _record,
    one_change,
    plain_text,
    sender_kind_of,
)


def _create_message(
    *,
    ticket: Ticket,
    author: User | None,
    sender: str,
    body: str,
    is_internal: bool,
    attachments: Sequence[UploadedFile[Any]],
) -> Message:
    message = Message.objects.create(
        ticket=ticket, author=author, sender=sender, body=body, is_internal=is_internal
    )
    stored: list[Attachment] = []
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
        stored.append(attachment)
    # What the receivers show of the message (a chat line's payload) reads its attachments:
    # they are these, so keep them as if prefetched instead of reading them back.
    message._prefetched_objects_cache = {  # type: ignore[attr-defined] # Django's prefetch cache
        "attachments": _as_queryset(message, stored)
    }
    return message


def _as_queryset(message: Message, attachments: list[Attachment]) -> Any:
    queryset = message.attachments.all()
    queryset._result_cache = attachments
    queryset._prefetch_done = True  # type: ignore[attr-defined] # as prefetch_related leaves it
    return queryset


def post_message(
    *,
    ticket: Ticket,
    author: User | None,
    body: str,
    is_internal: bool = False,
    attachments: Sequence[UploadedFile[Any]] = (),
    as_customer: bool = False,
    locked: bool = False,
) -> Message:
    """Add a public reply or an internal note.

    A customer's reply reopens a solved or pending ticket; an agent's first public reply sets
    the first-reply time (and takes a new ticket to open). Closed tickets take no messages.
    `as_customer` (with no author) is for a door that has already proved, without a login, that
    the ticket's customer is writing: a chat visitor's signed token (chat.services).
    `locked`: the caller has read `ticket` with its row lock in the transaction it is in (chat's
    post_line), so the message needs neither a second read of the row nor a savepoint of its
    own; an error then rolls back the caller's transaction (or its savepoint).
    """
    if not locked:
        with transaction.atomic(), one_change():
            return _post_message(
                ticket=_locked(ticket),
                author=author,
                body=body,
                is_internal=is_internal,
                attachments=attachments,
                as_customer=as_customer,
            )
    if not transaction.get_connection().in_atomic_block:
        raise ValueError("locked=True is for a caller inside its transaction, holding the lock")
    with one_change():  # the message and the status it moves: one change for the apps above
        return _post_message(
            ticket=ticket,
            author=author,
            body=body,
            is_internal=is_internal,
            attachments=attachments,
            as_customer=as_customer,
        )


def _post_message(
    *,
    ticket: Ticket,
    author: User | None,
    body: str,
    is_internal: bool,
    attachments: Sequence[UploadedFile[Any]],
    as_customer: bool,
) -> Message:
    if as_customer and author is not None:
        raise ValueError("as_customer is for doors without a login; pass author=None")
    sender = SenderKind.CUSTOMER if as_customer else sender_kind_of(author)
    # The system (author None) writes internal notes too: an escalation rule's note.
    if is_internal and sender not in (SenderKind.AGENT, SenderKind.SYSTEM):
        raise RuleBroken("is_internal", "Only agents can write internal notes.")
    if (
        sender == SenderKind.CUSTOMER
        and not as_customer
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

    if sender == SenderKind.CUSTOMER:
        ticket.last_customer_message_at = message.created_at
        update_fields.append("last_customer_message_at")
    elif sender == SenderKind.AGENT and not is_internal:
        ticket.last_agent_reply_at = message.created_at
        update_fields.append("last_agent_reply_at")

    if sender == SenderKind.CUSTOMER and ticket.status in REOPENED_BY_CUSTOMER_REPLY:
        status_change = {"from": ticket.status, "to": Status.OPEN}
    elif sender == SenderKind.AGENT and not is_internal:
        if ticket.first_agent_reply_at is None:
            ticket.first_agent_reply_at = message.created_at
            update_fields.append("first_agent_reply_at")
        if ticket.status == Status.NEW:
            status_change = {"from": Status.NEW, "to": Status.OPEN}

    if status_change:
        _apply_status(ticket, status_change["to"], save=False)
        update_fields.extend(STATUS_FIELDS)  # one write of the ticket for both
    ticket.save(update_fields=update_fields)

    _record(
        ticket,
        author,
        EventKind.MESSAGE_POSTED,
        {"message": message.pk, "is_internal": is_internal, "sender": sender},
        message=message,
    )
    _announce(
        ticket,
        events.TICKET_MESSAGE_POSTED,
        {"message": message.pk, "is_internal": is_internal, "sender": sender},
        actor=author,
    )
    if status_change:
        _record(ticket, author, EventKind.STATUS_CHANGED, status_change)
        change = {"field": "status", **status_change}
        _announce(ticket, events.TICKET_STATUS_CHANGED, change, actor=author)
    return message
