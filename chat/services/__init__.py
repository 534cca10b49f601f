"""Every write to chats. One function per kind of change; the ticket services store the
messages (a chat is a ticket), these add what is chat-only. Callers have checked who asks."""

from chat.selectors import lines_since
from chat.services.conversations import (
    announce_typing,
    end_conversation,
    mark_read,
    place_in_queue,
    rate_conversation,
    send_transcript,
    start_conversation,
)
from chat.services.identity import (
    customer_for_identity,
    identity_signature,
    verified_identity,
)
from chat.services.lines import announce_again, post_line, record_message_line, system_line
from chat.services.sessions import WidgetSession, open_widget_session
from chat.services.tokens import TokenRefused, issue_visitor_token, visitor_from_token

__all__ = [
    "TokenRefused",
    "WidgetSession",
    "announce_again",
    "announce_typing",
    "customer_for_identity",
    "end_conversation",
    "identity_signature",
    "issue_visitor_token",
    "lines_since",
    "mark_read",
    "open_widget_session",
    "place_in_queue",
    "post_line",
    "rate_conversation",
    "record_message_line",
    "send_transcript",
    "start_conversation",
    "system_line",
    "verified_identity",
    "visitor_from_token",
]
