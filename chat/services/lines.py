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

Cost (issue 10, docs/chat-protocol.md): `post_line` locks the conversation and takes its next
sequence number in one statement (`UPDATE ... RETURNING`, which also answers whether the client
id is already stored), hands the ticket it has locked to post_message, and the receiver writes
the line with that number from the message in hand: no row is read twice.
"""

from __future__ import annotations  # UploadedFile[...] is a type only, not subscriptable at runtime

import contextvars
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from html import escape
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import F

from accounts.models import User
from chat import events
from chat.models import ChatLine, Conversation, ConversationState, LineSender
from chat.selectors import LINE_RELATED
from core.errors import RuleBroken
from tickets.models import EventKind, Message, Ticket, TicketEvent
from tickets.services import post_message

CLIENT_ID_MAX_LENGTH = 64


@dataclass
class _Reserved:
    """The line post_line is posting: its conversation (locked), the sequence number already
    taken for it, the client's id; `line` once the receiver has written it."""

    ticket_id: int
    conversation_id: int
    seq: int
    client_id: str | None
    line: ChatLine | None = None


# The line being posted right now, for the receiver that writes it (the ticket services know
# nothing of chats). A ContextVar, so concurrent requests on other threads or tasks never see
# it.
_reserved: contextvars.ContextVar[_Reserved | None] = contextvars.ContextVar(
    "chat_line_reserved", default=None
)


@contextmanager
def _posting(reserved: _Reserved) -> Iterator[None]:
    token = _reserved.set(reserved)
    try:
        yield
    finally:
        _reserved.reset(token)


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


def _reserve_next_seq(conversation_id: int, client_id: str | None) -> tuple[int, str, int | None]:
    """Lock the conversation and take its next sequence number, in one statement; returns
    (that number, the conversation's state, the id of a line already stored under
    `client_id` or None). Raises Conversation.DoesNotExist when there is no such chat."""
    conversations = connection.ops.quote_name(Conversation._meta.db_table)
    lines = connection.ops.quote_name(ChatLine._meta.db_table)
    stored = (
        f"(SELECT id FROM {lines} WHERE conversation_id = %s AND client_id = %s LIMIT 1)"  # noqa: S608 - table names are the models'
        if client_id is not None
        else "NULL"
    )
    sql = (
        f"UPDATE {conversations} SET last_seq = last_seq + 1 WHERE id = %s "  # noqa: S608 - table names are the models'
        f"RETURNING last_seq, state, {stored}"
    )
    params: list[Any] = [conversation_id]
    if client_id is not None:
        params += [conversation_id, client_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise Conversation.DoesNotExist(f"No conversation {conversation_id}.")
    return row[0], row[1], row[2]


def _give_back_seq(conversation_id: int) -> None:
    # Still under the lock the reservation took: nobody else has numbered a line since.
    Conversation.objects.filter(pk=conversation_id).update(last_seq=F("last_seq") - 1)


def _announce_line(line: ChatLine) -> None:
    """Publish the line after commit; its message (if any) is in hand with its author and
    attachments (post_message's row, or a row the caller read)."""
    events.publish_on_commit(line.conversation_id, events.MESSAGE_POSTED, events.line_payload(line))


def record_message_line(
    *, ticket: Ticket, event: TicketEvent, message: Message | None = None, **kwargs: Any
) -> None:
    """`ticket_changed` receiver: a public message on a chat ticket becomes its next line."""
    if event.kind != EventKind.MESSAGE_POSTED or event.data.get("is_internal"):
        return
    if ticket.channel != "chat":
        return  # no query for the tickets that cannot have a conversation
    reserved = _reserved.get()
    if reserved is not None and (reserved.line is not None or reserved.ticket_id != ticket.pk):
        reserved = None  # post_line's number is for its own message, on its own chat
    conversation = None
    if reserved is None:
        conversation = Conversation.objects.select_for_update().filter(ticket=ticket).first()
        if conversation is None:
            return  # the opening message: start_conversation writes its line
    if message is None or message.pk != event.data["message"]:
        message = (
            Message.objects.select_related("author")
            .prefetch_related("attachments")
            .get(pk=event.data["message"])
        )
    if reserved is not None:
        # post_line has locked the conversation and taken this line's number already.
        line = ChatLine.objects.create(
            conversation_id=reserved.conversation_id,
            seq=reserved.seq,
            message=message,
            sender=message.sender,
            client_id=reserved.client_id,
        )
        reserved.line = line
    else:
        assert conversation is not None  # noqa: S101 - returned above otherwise
        line = _next_line(conversation, message=message, sender=message.sender, client_id=None)
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
    agent's; the caller has checked who is asking) and return it, its message with author and
    attachments in hand (what events.line_payload reads). A second call with the same
    `client_id` returns the line already stored, so loaded, writes nothing and announces the
    line again."""
    client_id = clean_client_id(client_id)
    if not isinstance(body, str):
        raise RuleBroken("body", "A message is text.")
    ticket = Ticket.objects.select_for_update().get(pk=conversation.ticket_id)
    seq, state, stored_id = _reserve_next_seq(conversation.pk, client_id)
    if stored_id is not None:
        _give_back_seq(conversation.pk)
        line = (
            ChatLine.objects.select_related(*LINE_RELATED)
            .prefetch_related("message__attachments")
            .get(pk=stored_id)
        )
        # Announced again: a resend follows a dropped connection, and the server process that
        # stored the line may have died before announcing it (the other side skips a copy it
        # has by its sequence number).
        _announce_line(line)
        return line
    if state == ConversationState.ENDED:
        # The error rolls this transaction (or post_line's savepoint) back, number included.
        raise RuleBroken("conversation", "This chat has ended; start a new one to write again.")
    if not body.strip() and attachments:
        body = ", ".join(upload.name or "attachment" for upload in attachments)
    reserved = _Reserved(ticket.pk, conversation.pk, seq, client_id)
    with _posting(reserved):
        message = post_message(
            ticket=ticket,
            author=sender_user_or_None,
            body=html_of_text(body),
            attachments=attachments,
            as_customer=sender_user_or_None is None,
            locked=True,
        )
    if reserved.line is None:  # the receiver writes every public message's line
        raise RuntimeError(f"Message {message.pk} was stored without its chat line.")
    return reserved.line
