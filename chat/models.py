"""Live chat: what is chat-only (sites, visitors, the live session, routing). A chat's lines are
ticket messages on a ticket whose channel is `chat` (tickets.models): search, the customer's
history, SLA clocks, notes and macros work on chats without a second copy of each.

Writes go through chat.services (conversations, lines, tokens, identity) and the routing
engine (queue, offers, presence); these classes hold tables, choices and indexes only.
"""

import secrets
import uuid

from django.conf import settings
from django.db import models


def new_site_key() -> str:
    """The public key a shop puts in its <script data-site=...> tag."""
    return secrets.token_urlsafe(18)


def new_identity_secret() -> str:
    """The shared secret a shop's backend signs its signed-in customer's identity with."""
    return secrets.token_urlsafe(32)


class PrechatField(models.TextChoices):
    NAME = "name", "Name"
    EMAIL = "email", "Email"
    TOPIC = "topic", "Topic"
    ORDER = "order", "Order reference"


class Site(models.Model):
    """A shop that embeds the widget: where it may be embedded, who answers, when."""

    name = models.CharField(max_length=200)
    key = models.CharField(max_length=64, unique=True, default=new_site_key, editable=False)
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text="Origins the widget may run on, exactly as browsers send them: "
        '["https://shop.example"] (scheme, host and port; no path).',
    )
    identity_secret = models.CharField(
        max_length=128,
        default=new_identity_secret,
        help_text="The shop's backend signs its customer's identity with this (HMAC-SHA256).",
    )
    require_identity = models.BooleanField(
        default=False, help_text="Only customers the shop has signed in (and signed) may chat."
    )
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="chat_sites")
    calendar = models.ForeignKey(
        "slas.BusinessCalendar",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="chat_sites",
        help_text="Opening hours of the chat; empty means always open.",
    )
    offer_timeout_seconds = models.PositiveSmallIntegerField(
        default=30, help_text="An offered chat not accepted in this time goes to the next agent."
    )
    missed_after_seconds = models.PositiveIntegerField(
        default=120,
        help_text="A waiting chat that nobody can take (the site is closed, or no agent of its "
        "team is online) becomes a ticket after this long, and the customer is told. 0: never.",
    )
    prechat_fields = models.JSONField(
        default=list,
        blank=True,
        help_text='Fields the pre-chat form asks for, from "name", "email", "topic", "order".',
    )
    greeting = models.CharField(max_length=300, blank=True, default="Hi! How can we help?")
    colour = models.CharField(max_length=7, default="#1f6feb", help_text="#rrggbb")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["team"], name="chat_site_team")]

    def __str__(self) -> str:
        return self.name


class Visitor(models.Model):
    """One browser on one site; its signed token (chat.services.tokens) carries `token_id`."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="visitors")
    token_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="chat_visitors",
        help_text="Set once identified (signed identity) or once they start a chat.",
    )
    # True once the shop signed this customer's identity (chat.services.identity): only then
    # does the widget show the customer's earlier conversations. A pre-chat email is unproven.
    identified = models.BooleanField(default=False)
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)
    current_page = models.URLField(max_length=2000, blank=True)

    class Meta:
        indexes = [models.Index(fields=["customer"], name="chat_visitor_customer")]

    def __str__(self) -> str:
        return f"Visitor {self.token_id}"


class ConversationState(models.TextChoices):
    WAITING = "waiting", "Waiting"
    OFFERED = "offered", "Offered"
    ACTIVE = "active", "Active"
    ENDED = "ended", "Ended"
    MISSED = "missed", "Missed (became a ticket)"


LIVE_STATES = (ConversationState.WAITING, ConversationState.OFFERED, ConversationState.ACTIVE)


class Conversation(models.Model):
    """The live session of one chat ticket."""

    # `ticket.chat`, not `ticket.conversation`: the ticket admin's "conversation" is its
    # messages, and a reverse relation of that name would take its place.
    ticket = models.OneToOneField("tickets.Ticket", on_delete=models.CASCADE, related_name="chat")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="conversations")
    visitor = models.ForeignKey(Visitor, on_delete=models.PROTECT, related_name="conversations")
    state = models.CharField(
        max_length=16, choices=ConversationState.choices, default=ConversationState.WAITING
    )
    # Queue order: higher tiers first, then arrival (copied from the customer at enqueue).
    tier_rank = models.PositiveSmallIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    offered_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="chat_offers",
    )
    offered_at = models.DateTimeField(null=True, blank=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="chats",
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # The highest ChatLine.seq written; the next line takes last_seq + 1 under a row lock.
    last_seq = models.PositiveIntegerField(default=0)
    visitor_read_seq = models.PositiveIntegerField(default=0)
    agent_read_seq = models.PositiveIntegerField(default=0)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    rating_comment = models.TextField(blank=True)
    transcripts_sent = models.PositiveSmallIntegerField(default=0)
    topic = models.CharField(max_length=200, blank=True)
    order_reference = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The queue: waiting chats, higher tiers first, then oldest first.
            models.Index(fields=["state", "-tier_rank", "queued_at"], name="chat_conv_queue"),
            models.Index(fields=["agent", "state"], name="chat_conv_agent_state"),
            models.Index(fields=["offered_to", "state"], name="chat_conv_offered_state"),
            models.Index(fields=["site", "-created_at"], name="chat_conv_site_created"),
            models.Index(fields=["visitor", "-created_at"], name="chat_conv_visitor_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rating__isnull=True) | models.Q(rating__gte=1, rating__lte=5),
                name="chat_conv_rating_1_5",
            )
        ]

    def __str__(self) -> str:
        return f"Chat {self.pk} ({self.state})"


class LineSender(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    AGENT = "agent", "Agent"
    SYSTEM = "system", "System"


class ChatLine(models.Model):
    """One line of a conversation, numbered. A customer's or agent's line is a ticket message
    (`message`); a system line ("Priya joined") has none."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="lines")
    seq = models.PositiveIntegerField()
    message = models.OneToOneField(
        "tickets.Message",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="chat_line",
    )
    # NULL (not ""), so lines without a client id never collide in the unique constraint.
    client_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    sender = models.CharField(max_length=16, choices=LineSender.choices)
    body = models.TextField(blank=True, help_text="Plain text of a system line.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conversation", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="chat_line_seq_unique"),
            # The client's own id for its message: a resend after a dropped socket finds it.
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                name="chat_line_client_id_unique",
                condition=models.Q(client_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"Line {self.seq} of chat {self.conversation_id}"


class AgentChatPresence(models.Model):
    """An agent's chat presence (heartbeats) and load, for routing. Capacity is
    accounts.AgentProfile.chat_capacity; availability is AgentProfile.availability."""

    agent = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_presence"
    )
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    accepting = models.BooleanField(default=False)
    active_chats = models.PositiveSmallIntegerField(default=0)
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    # Set when the worker marked the agent away because their console stopped sending
    # heartbeats (routing); their next heartbeat puts them back online. An agent who chose
    # "Away" themselves stays away.
    away_by_timeout = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["accepting", "active_chats"], name="chat_presence_free"),
            models.Index(fields=["last_heartbeat_at"], name="chat_presence_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"Chat presence of {self.agent_id}"


# --- routing (chat.routing_engine writes these; migration chat/0002_routing_offers) ----------


class OfferOutcome(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    TIMED_OUT = "timed_out", "Timed out"
    # Taken back without the agent's say: they went away, their browser died, or another
    # agent (a manager) took the chat from the waiting list.
    WITHDRAWN = "withdrawn", "Withdrawn"


class ChatOffer(models.Model):
    """One offer of one chat to one agent, and how it ended. The pending offer's `expires_at`
    is what the worker's sweep looks for (per site: Site.offer_timeout_seconds); declined and
    timed-out offers tell routing whom to skip for that chat; the log as a whole says how long
    chats waited to be picked up."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="offers")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_offer_log"
    )
    offered_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    outcome = models.CharField(
        max_length=16, choices=OfferOutcome.choices, default=OfferOutcome.PENDING
    )
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-offered_at", "-id"]
        indexes = [
            models.Index(fields=["outcome", "expires_at"], name="chat_offer_due"),
            models.Index(fields=["conversation", "agent"], name="chat_offer_conv_agent"),
        ]
        constraints = [
            # At most one open offer per chat: the row lock on the conversation decides, this
            # makes a slip impossible to store.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=models.Q(outcome="pending"),
                name="chat_offer_one_pending",
            )
        ]

    def __str__(self) -> str:
        return f"Offer of chat {self.conversation_id} to {self.agent_id} ({self.outcome})"
