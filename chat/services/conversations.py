"""Starting, ending, rating a chat, its read and typing state, and the transcript."""

from __future__ import annotations  # UploadedFile[...] is a type only, not subscriptable at runtime

import importlib
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from chat import events
from chat.models import (
    LIVE_STATES,
    Conversation,
    ConversationState,
    PrechatField,
    Site,
    Visitor,
)
from chat.selectors import (
    agents_available,
    business_hours_of,
    current_conversation,
    is_open_now,
    lines_since,
    next_opening_after,
)
from chat.services.lines import (
    _announce_line,
    _locked_conversation,
    _next_line,
    clean_client_id,
    html_of_text,
    post_line,
    system_line,
)
from chat.signals import conversation_ended
from core.errors import RuleBroken
from customers.models import Customer
from customers.selectors import customers_with_email
from customers.services import create_customer
from tickets.models import Channel, Ticket
from tickets.services import open_ticket, plain_text

logger = logging.getLogger(__name__)

GUEST_EMAIL_DOMAIN = "chat.invalid"  # RFC 2606: never delivered (tickets' outbox skips it)
MAX_PRECHAT_TEXT = 200
MAX_TRANSCRIPTS_PER_CONVERSATION = 5


def guest_email(visitor: Visitor) -> str:
    return f"visitor-{visitor.token_id}@{GUEST_EMAIL_DOMAIN}"


def is_guest_email(email: str) -> bool:
    return email.lower().endswith("@" + GUEST_EMAIL_DOMAIN)


def clean_prechat(*, site: Site, prechat: Any) -> dict[str, str]:
    """The pre-chat answers the site asks for: each a short text; email a valid address. The
    site's fields are required, except the order reference."""
    if prechat is None:
        prechat = {}
    if not isinstance(prechat, dict):
        raise RuleBroken("prechat", "The pre-chat answers are an object.")
    asked = [field for field in site.prechat_fields if field in PrechatField.values]
    answers: dict[str, str] = {}
    for field in PrechatField.values:
        value = prechat.get(field, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise RuleBroken(f"prechat.{field}", "Answer with text.")
        value = " ".join(value.split())
        if len(value) > MAX_PRECHAT_TEXT:
            raise RuleBroken(f"prechat.{field}", f"At most {MAX_PRECHAT_TEXT} characters.")
        if field in asked and not value and field != PrechatField.ORDER:
            raise RuleBroken(f"prechat.{field}", "Please fill this in.")
        if field == PrechatField.EMAIL and value:
            try:
                validate_email(value)
            except ValidationError:
                raise RuleBroken("prechat.email", "Enter a valid email address.") from None
        if value:
            answers[field] = value
    return answers


def _customer_for(visitor: Visitor, answers: dict[str, str]) -> Customer:
    """Who the ticket belongs to: the visitor's known customer; else the pre-chat email's
    (matched case-insensitively, or created); else a guest record with a placeholder address."""
    if visitor.customer is not None:
        return visitor.customer
    if visitor.site.require_identity:
        raise RuleBroken("identity", "This shop asks you to sign in before chatting.")
    email = answers.get(PrechatField.EMAIL, "")
    if email:
        found = customers_with_email(Customer.objects.all(), email).first()
        if found is not None:
            return found
        return create_customer(
            name=answers.get(PrechatField.NAME) or email.split("@")[0], email=email, actor=None
        )
    name = answers.get(PrechatField.NAME) or f"Visitor {str(visitor.token_id)[:8]}"
    return create_customer(name=name, email=guest_email(visitor), actor=None)


def _subject(answers: dict[str, str], text: str) -> str:
    topic = answers.get(PrechatField.TOPIC)
    first_line = " ".join(text.split())[:80] or "Chat"
    return f"Chat: {topic or first_line}"[:200]


def place_in_queue(conversation: Conversation) -> None:
    """Hand a new chat to routing (chat.routing_engine.enqueue, built by the routing work).
    Until that module exists the chat just waits in state `waiting` with its queue fields set:
    this is the one call site to wire."""
    try:
        routing = importlib.import_module("chat.routing_engine")
    except ModuleNotFoundError:
        return
    enqueue = getattr(routing, "enqueue", None)
    if enqueue is not None:
        enqueue(conversation)


def offline_notice(*, conversation: Conversation, ticket: Ticket, opens_at: datetime | None) -> str:
    email = ticket.customer.email
    where = f"by email at {email}" if not is_guest_email(email) else "here, the next time you visit"
    when = (
        f"We are closed now and open again at {opens_at:%A %H:%M} UTC."
        if opens_at is not None
        else "No one can answer live right now."
    )
    promise = (
        f" We promise an answer by {ticket.reply_due_at:%A %H:%M} UTC."
        if (ticket.reply_due_at is not None)
        else ""
    )
    return f"{when} Your message is saved as {ticket.reference}; we will answer {where}.{promise}"


@transaction.atomic
def start_conversation(
    *,
    site: Site,
    visitor: Visitor,
    prechat: Any,
    body: str,
    client_id: str | None = None,
    attachments: Sequence[UploadedFile[Any]] = (),
    now: datetime | None = None,
) -> Conversation:
    """The visitor's first message opens a chat ticket (channel `chat`) and its conversation;
    routing then places it. Outside business hours or with no agent online it becomes a
    ticket at once (state `missed`) and the visitor is told when and where the answer comes.

    A visitor has one current conversation: while it is not ended, this posts to it instead.
    A resend with a `client_id` already stored returns that conversation and writes nothing.
    """
    now = now or timezone.now()
    client_id = clean_client_id(client_id)
    if not site.is_active:
        raise RuleBroken("site", "Chat is switched off on this site.")
    visitor = (
        Visitor.objects.select_for_update(of=("self",))
        .select_related("site", "customer")
        .get(pk=visitor.pk)
    )  # two first messages at once: the second waits and then posts to the first's chat
    if visitor.site_id != site.pk:
        raise RuleBroken("token", "This visitor belongs to another site.")
    current = current_conversation(visitor)
    if current is not None:
        post_line(
            conversation=current,
            sender_user_or_None=None,
            body=body,
            client_id=client_id,
            attachments=attachments,
        )
        return current
    answers = clean_prechat(site=site, prechat=prechat)
    if not isinstance(body, str) or not (body.strip() or attachments):
        raise RuleBroken("body", "A message cannot be empty.")
    text = body.strip() or ", ".join(upload.name or "attachment" for upload in attachments)
    customer = _customer_for(visitor, answers)
    if visitor.customer_id != customer.pk or (answers.get("name") and not visitor.name):
        visitor.customer = customer
        visitor.name = visitor.name or answers.get("name", "")
        visitor.save(update_fields=["customer", "name"])

    ticket = open_ticket(
        customer=customer,
        subject=_subject(answers, text),
        body=html_of_text(text),
        actor=None,
        channel=Channel.CHAT,
        team=site.team,
        attachments=attachments,
    )
    conversation = Conversation.objects.create(
        ticket=ticket,
        site=site,
        visitor=visitor,
        state=ConversationState.WAITING,
        tier_rank=customer.tier.rank,
        queued_at=now,
        topic=answers.get(PrechatField.TOPIC, ""),
        order_reference=answers.get(PrechatField.ORDER, ""),
    )
    # The opening message was written by open_ticket before the conversation existed: it is
    # line 1 (with the client's id), written here rather than by the receiver.
    locked = _locked_conversation(conversation.pk)
    first = ticket.messages.order_by("id").first()
    assert first is not None  # open_ticket always writes one  # noqa: S101
    _announce_line(_next_line(locked, message=first, sender=first.sender, client_id=client_id))

    calendar = business_hours_of(site)
    open_now = is_open_now(calendar, now)
    if open_now and agents_available(site, now=now):
        place_in_queue(locked)
    else:
        Conversation.objects.filter(pk=locked.pk).update(state=ConversationState.MISSED)
        locked.state = ConversationState.MISSED
        opens_at = None if open_now else next_opening_after(calendar, now)
        ticket.refresh_from_db()
        system_line(
            conversation=locked,
            body=offline_notice(conversation=locked, ticket=ticket, opens_at=opens_at),
        )
    locked.refresh_from_db()
    return locked


@transaction.atomic
def end_conversation(*, conversation: Conversation, actor: User | None) -> Conversation:
    """End the live chat (the visitor when `actor` is None, else an agent). The ticket stays
    as it is, to be followed up by email. Ending twice changes nothing."""
    Ticket.objects.select_for_update().filter(pk=conversation.ticket_id).first()  # lock order
    locked = _locked_conversation(conversation.pk)
    if locked.state == ConversationState.ENDED:
        return locked
    was = locked.state
    locked.state, locked.ended_at = ConversationState.ENDED, timezone.now()
    locked.save(update_fields=["state", "ended_at"])
    who = actor.display_name if actor is not None else "The customer"
    system_line(conversation=locked, body=f"{who} ended the chat.")
    events.publish_on_commit(
        locked.pk,
        events.CONVERSATION_ENDED,
        {
            "conversation": locked.pk,
            "by": "agent" if actor is not None else "customer",
            "ended_at": events.iso(locked.ended_at),
        },
    )
    # Routing frees the agent's capacity and back-fills from the queue (chat.signals).
    conversation_ended.send(sender=Conversation, conversation=locked, previous_state=was)
    return locked


@transaction.atomic
def rate_conversation(*, conversation: Conversation, score: Any, comment: Any = "") -> Conversation:
    """The visitor's satisfaction rating (1-5) with an optional comment, once the chat ended;
    rating again replaces it."""
    if type(score) is not int or not 1 <= score <= 5:
        raise RuleBroken("score", "A rating is a whole number from 1 to 5.")
    if comment is None:
        comment = ""
    if not isinstance(comment, str) or len(comment) > 2000:
        raise RuleBroken("comment", "A comment is text of at most 2000 characters.")
    locked = _locked_conversation(conversation.pk)
    if locked.state != ConversationState.ENDED:
        raise RuleBroken("score", "Rate the chat once it has ended.")
    locked.rating, locked.rating_comment = score, comment.strip()
    locked.save(update_fields=["rating", "rating_comment"])
    events.publish_on_commit(
        locked.pk,
        events.CONVERSATION_RATED,
        {"conversation": locked.pk, "score": score, "comment": locked.rating_comment},
    )
    return locked


def mark_read(*, conversation: Conversation, reader: str, seq: Any) -> Conversation:
    """The visitor (`reader="customer"`) or the agent has seen every line up to `seq`.
    Read marks only move forward; one UPDATE, no lock."""
    if type(seq) is not int or seq < 0:
        raise RuleBroken("seq", "Send the last sequence number read, a whole number.")
    field = "visitor_read_seq" if reader == "customer" else "agent_read_seq"
    with transaction.atomic():
        last_seq = Conversation.objects.values_list("last_seq", flat=True).get(pk=conversation.pk)
        seq = min(seq, last_seq)
        moved = Conversation.objects.filter(pk=conversation.pk, **{f"{field}__lt": seq}).update(
            **{field: seq}
        )
        if moved:
            events.publish_on_commit(
                conversation.pk,
                events.READ_UPDATED,
                {"conversation": conversation.pk, "reader": reader, "seq": seq},
            )
    setattr(conversation, field, max(getattr(conversation, field), seq))
    return conversation


def announce_typing(*, conversation: Conversation, who: str, name: str, typing: Any) -> None:
    """Typing is not stored: it is announced at once to whoever is in the conversation."""
    if not isinstance(typing, bool):
        raise RuleBroken("typing", "typing is true or false.")
    events.publish(
        conversation.pk,
        events.TYPING_CHANGED,
        {"conversation": conversation.pk, "sender": who, "name": name, "typing": typing},
    )


def transcript_text(conversation: Conversation) -> str:
    lines = lines_since(conversation=conversation, seq=0)
    out = [f"Transcript of your chat {conversation.ticket.reference}", ""]
    for line in lines:
        if line.message is not None:
            who = (
                line.message.author.display_name
                if line.sender == "agent" and line.message.author is not None
                else "You"
            )
            text = plain_text(line.message.body)
        else:
            who, text = "—", line.body
        out.append(f"[{line.created_at:%Y-%m-%d %H:%M} UTC] {who}: {text}")
    return "\n".join(out) + "\n"


def send_transcript(*, conversation: Conversation, email: Any) -> None:
    """Email the conversation so far to `email`, after commit. At most a handful per chat: a
    widget must not become a way to send mail to strangers."""
    if not isinstance(email, str) or not email.strip():
        raise RuleBroken("email", "Enter the email address to send the transcript to.")
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise RuleBroken("email", "Enter a valid email address.") from None
    with transaction.atomic():
        moved = Conversation.objects.filter(
            pk=conversation.pk, transcripts_sent__lt=MAX_TRANSCRIPTS_PER_CONVERSATION
        ).update(transcripts_sent=F("transcripts_sent") + 1)
        if not moved:
            raise RuleBroken(
                "email", f"At most {MAX_TRANSCRIPTS_PER_CONVERSATION} transcripts per chat."
            )
        conversation = Conversation.objects.select_related("ticket").get(pk=conversation.pk)
        body = transcript_text(conversation)
        subject = f"[{conversation.ticket.reference}] Your chat transcript"

        def deliver() -> None:
            try:
                send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email])
            except OSError:  # the mail server is down: say so in the log, never to the socket
                logger.exception("Could not send the transcript of chat %s", conversation.pk)

        transaction.on_commit(deliver)


def live(conversation: Conversation) -> bool:
    return conversation.state in LIVE_STATES
