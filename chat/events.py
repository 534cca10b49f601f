"""Live chat events: group names, frame shapes, and how they leave after commit.

Every frame the server sends about a conversation goes to the channel-layer group
`chat.conv.<id>`, which the visitor's socket and the agents' console sockets join. The frame
shapes are the protocol (docs/chat-protocol.md); services publish, consumers forward.
"""

import asyncio
import concurrent.futures
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.urls import reverse

from tickets.events import broadcast, sent_so_far
from tickets.services import plain_text

# Event types, `<noun>.<past verb>`.
MESSAGE_POSTED = "message.posted"
TYPING_CHANGED = "typing.changed"
READ_UPDATED = "read.updated"
QUEUE_UPDATED = "queue.updated"
CONVERSATION_STARTED = "conversation.started"
CONVERSATION_ACCEPTED = "conversation.accepted"
CONVERSATION_ENDED = "conversation.ended"
CONVERSATION_RATED = "conversation.rated"

AGENTS_GROUP = "chat.agents"  # every online chat agent's console (routing)


def conversation_group(conversation_id: int) -> str:
    return f"chat.conv.{conversation_id}"


def agent_group(user_id: int) -> str:
    return f"chat.agent.{user_id}"


def iso(moment: Any) -> str | None:
    return DjangoJSONEncoder().default(moment) if moment is not None else None


def attachment_payload(attachment: Any) -> dict[str, Any]:
    return {
        "id": attachment.pk,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        # Fetched with the visitor's token in headers (docs/chat-protocol.md), never public.
        "url": reverse("chat:widget-attachment", args=[attachment.pk]),
    }


def line_payload(line: Any) -> dict[str, Any]:
    """A `message.posted` frame's fields for one ChatLine (message, author and attachments
    loaded by the caller: chat.selectors.LINE_RELATED). Bodies are plain text: the widget shows
    text, never HTML."""
    message = line.message
    if message is not None:
        author = message.author
        author_name = author.display_name if author is not None and line.sender == "agent" else ""
        body = plain_text(message.body)
        attachments = [attachment_payload(a) for a in message.attachments.all()]
    else:
        author_name, body, attachments = "", line.body, []
    return {
        "conversation": line.conversation_id,
        "seq": line.seq,
        "id": line.pk,
        "client_id": line.client_id,
        "sender": line.sender,
        "author_name": author_name,
        "body": body,
        "created_at": iso(line.created_at),
        "attachments": attachments,
    }


def publish(conversation_id: int, event_type: str, payload: dict[str, Any]) -> None:
    """Publish to the conversation's group now (for what is not a row: typing)."""
    broadcast(conversation_group(conversation_id), event_type, payload)


def publish_on_commit(conversation_id: int, event_type: str, payload: dict[str, Any]) -> None:
    """Publish once the surrounding transaction commits; a rollback announces nothing."""
    transaction.on_commit(lambda: publish(conversation_id, event_type, payload))


def announced() -> "concurrent.futures.Future[None] | None":
    """Call in the sync call that stored a line, after it: what the socket awaits
    (`until_announced`) before acknowledging the line (tickets.events.sent_so_far says why)."""
    return sent_so_far()


async def until_announced(marker: "concurrent.futures.Future[None] | None") -> None:
    if marker is not None:
        await asyncio.wrap_future(marker)
