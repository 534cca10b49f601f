"""Chat lines: every message of a chat is a ticket message, numbered per conversation.

There is ONE path for a message to become a line, whatever door it came through: the
`tickets.signals.ticket_changed` receiver (`record_message_line`, connected in ChatConfig.ready)
sees every `message_posted` event on a ticket that has a Conversation, writes the ChatLine
with the next sequence number inside the message's transaction, and publishes
`message.posted` after commit. `post_line` (the widget's socket and the agent console) only
adds the client's id and idempotency on top of `tickets.services.post_message`; a reply from
the ticket workspace or the REST API reaches the visitor by the same receiver. Internal notes
never become lines.

Lock order, everywhere: the ticket row, then the conversation row (post_message locks the
ticket first), so a REST reply and a socket message on one chat never deadlock.
"""

from __future__ import annotations  # UploadedFile[...] is a type only, not subscriptable at runtime

import contextvars
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from html import escape
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from accounts.models import User
from chat import events
from chat.models import ChatLine, Conversation, ConversationState, LineSender
from core.errors import RuleBroken
from tickets.models import EventKind, Message, Ticket, TicketEvent
from tickets.services import post_message

CLIENT_ID_MAX_LENGTH = 64

# The client's id of the message being posted right now, for the receiver that writes its
# line (the ticket services know nothing of chats). A ContextVar, so concurrent requests on
# other threads or tasks never see it.
_client_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "chat_line_client_id", default=None
)


@contextmanager
def _posting_with_client_id(client_id: str | None) -> Iterator[None]:
    token = _client_id.set(client_id)
    try:
        yield
    finally:
        _client_id.reset(token)


def html_of_text(text: str) -> str:
    """A chat line is typed text: stored as escaped HTML so `<b>` shows as typed, never as
    markup, with line breaks kept."""
    return "<br>".join(escape(part) for part in text.strip().split("\n"))


def clean_client_id(client_id: Any) -> str | None:
    if client_id is None or client_id == "":
        return None
    if not isinstance(client_id, str) or len(client_id) > CLIENT_ID_MAX_LENGTH:
        raise RuleBroken(
            "client_id", f"A client id is text of at most {CLIENT_ID_MAX_LENGTH} characters."
        )
    if not client_id.isprintable():
        raise RuleBroken("client_id", "A client id is printable text.")
    return client_id


def _locked_conversation(conversation_id: int) -> Conversation:
    return Conversation.objects.select_for_update().get(pk=conversation_id)


def _next_line(conversation: Conversation, **fields: Any) -> ChatLine:
    """Write the next numbered line of a conversation already locked by the caller."""
    conversation.last_seq += 1
    Conversation.objects.filter(pk=conversation.pk).update(last_seq=conversation.last_seq)
    return ChatLine.objects.create(conversation=conversation, seq=conversation.last_seq, **fields)


def _announce_line(line: ChatLine) -> None:
    fresh = (
        ChatLine.objects.select_related("message__author")
        .prefetch_related("message__attachments")
        .get(pk=line.pk)
    )
    events.publish_on_commit(
        line.conversation_id, events.MESSAGE_POSTED, events.line_payload(fresh)
    )


def record_message_line(*, ticket: Ticket, event: TicketEvent, **kwargs: Any) -> None:
    """`ticket_changed` receiver: a public message on a chat ticket becomes its next line."""
    if event.kind != EventKind.MESSAGE_POSTED or event.data.get("is_internal"):
        return
    if ticket.channel != "chat":
        return  # no query for the tickets that cannot have a conversation
    conversation = Conversation.objects.select_for_update().filter(ticket=ticket).first()
    if conversation is None:
        return
    message = Message.objects.only("pk", "sender").get(pk=event.data["message"])
    line = _next_line(
        conversation,
        message=message,
        sender=message.sender,
        client_id=_client_id.get(),
    )
    _announce_line(line)


def system_line(*, conversation: Conversation, body: str) -> ChatLine:
    """A line from the desk itself ("Priya joined the chat"); the caller holds the lock."""
    line = _next_line(conversation, sender=LineSender.SYSTEM, body=body)
    _announce_line(line)
    return line


@transaction.atomic
def post_line(
    *,
    conversation: Conversation,
    sender_user_or_None: User | None,
    body: str,
    client_id: str | None,
    attachments: Sequence[UploadedFile[Any]] = (),
) -> ChatLine:
    """Store one typed line (the visitor's when `sender_user_or_None` is None, else that
    agent's; the caller has checked who is asking) and return it. A second call with the same
    `client_id` returns the line already stored and writes nothing."""
    client_id = clean_client_id(client_id)
    if not isinstance(body, str):
        raise RuleBroken("body", "A message is text.")
    ticket = Ticket.objects.select_for_update().get(pk=conversation.ticket_id)
    locked = _locked_conversation(conversation.pk)
    if client_id is not None:
        stored = locked.lines.filter(client_id=client_id).first()
        if stored is not None:
            return stored
    if locked.state == ConversationState.ENDED:
        raise RuleBroken("conversation", "This chat has ended; start a new one to write again.")
    if not body.strip() and attachments:
        body = ", ".join(upload.name or "attachment" for upload in attachments)
    with _posting_with_client_id(client_id):
        message = post_message(
            ticket=ticket,
            author=sender_user_or_None,
            body=html_of_text(body),
            attachments=attachments,
            as_customer=sender_user_or_None is None,
        )
    return ChatLine.objects.get(message=message)
