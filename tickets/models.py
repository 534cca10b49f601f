"""Tickets, the conversation on them, and the append-only audit of every change.

Fields with rules (status, priority, assignee, team, tags, messages) are written only by
`tickets.services`; nothing here has side effects.
"""

from django.conf import settings
from django.db import models

from core.append_only import AppendOnly

REFERENCE_PREFIX = "HD-"


class Status(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"  # waiting on the customer
    ON_HOLD = "on_hold", "On hold"  # waiting on a third party
    SOLVED = "solved", "Solved"
    CLOSED = "closed", "Closed"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


# Priority as a number, most urgent highest: the queue's "sort by priority" orders by it, and
# an index on the same expression (below) lets that sort read in order instead of sorting.
PRIORITY_RANK = models.Case(
    models.When(priority=Priority.NORMAL, then=models.Value(1)),
    models.When(priority=Priority.HIGH, then=models.Value(2)),
    models.When(priority=Priority.URGENT, then=models.Value(3)),
    default=models.Value(0),  # low
    output_field=models.IntegerField(),
)


class TicketType(models.TextChoices):
    QUESTION = "question", "Question"
    INCIDENT = "incident", "Incident"
    PROBLEM = "problem", "Problem"
    TASK = "task", "Task"


class Channel(models.TextChoices):
    WEB = "web", "Web"
    EMAIL = "email", "Email"
    CHAT = "chat", "Chat"
    API = "api", "API"
    PHONE = "phone", "Phone"


SUBJECT_MAX_LENGTH = 200


class SlaState(models.TextChoices):
    """The ticket's SLA as the queue shows it; the clocks themselves live in `slas`."""

    NONE = "", "No SLA"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    BREACHED = "breached", "Breached"


class SlaTarget(models.TextChoices):
    FIRST_REPLY = "first_reply", "First reply"
    NEXT_REPLY = "next_reply", "Next reply"
    RESOLUTION = "resolution", "Resolution"


class Ticket(models.Model):
    subject = models.CharField(max_length=SUBJECT_MAX_LENGTH)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="tickets"
    )
    # The customer's tier now, copied so that "this tier's tickets" is one indexed column
    # instead of a join through customers (the SLA dashboard and the queue filter by it). Kept
    # true by the services: open_ticket sets it, and a customer's tier change rewrites it on
    # their tickets in the same transaction (tickets.receivers). Null only for a tier deleted.
    customer_tier = models.ForeignKey(
        "customers.Tier",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        db_index=False,  # ticket_tier_created (below) starts with it
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    type = models.CharField(max_length=16, choices=TicketType.choices, default=TicketType.QUESTION)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WEB)
    team = models.ForeignKey(
        "accounts.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="tickets"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
    )
    tags = models.ManyToManyField("customers.Tag", related_name="tickets", blank=True)
    # A problem collects the incidents it causes; an incident may point at its problem.
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    first_agent_reply_at = models.DateTimeField(null=True, blank=True)
    # The last public message from each side: escalation rules ask "how long since...".
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    last_agent_reply_at = models.DateTimeField(null=True, blank=True)
    # Raised by escalation rules (0: not escalated); shown on the queue and the workspace.
    escalation_level = models.PositiveSmallIntegerField(default=0)
    # The SLA summary the queue, the workspace and the customer read without knowing `slas`:
    # written only by `tickets.services.record_sla_summary`, which `slas` calls whenever it
    # recomputes this ticket's clocks (same transaction). `sla_due_at` is the earliest due
    # instant of a running target ("what breaches in the next hour" is one indexed query);
    # `reply_due_at` and `reply_promise` are what the customer is told ("We will answer by
    # 14:20 - Gold priority").
    sla_due_at = models.DateTimeField(null=True, blank=True)
    sla_target = models.CharField(max_length=16, choices=SlaTarget.choices, blank=True)
    sla_state = models.CharField(
        max_length=16, choices=SlaState.choices, blank=True, default=SlaState.NONE
    )
    reply_due_at = models.DateTimeField(null=True, blank=True)
    reply_promise = models.CharField(max_length=200, blank=True)
    solved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Subject and the plain text of every message, kept by the services for full-text search
    # (a GIN index on PostgreSQL, see migration 0002).
    search_document = models.TextField(blank=True, default="", editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The queue views: by status (and team), newest or most recently touched first.
            models.Index(fields=["status", "team", "-created_at"], name="ticket_status_team_new"),
            models.Index(fields=["status", "-updated_at"], name="ticket_status_updated"),
            models.Index(fields=["team", "-created_at"], name="ticket_team_created"),
            models.Index(fields=["assignee", "status"], name="ticket_assignee_status"),
            models.Index(fields=["customer", "-created_at"], name="ticket_customer_created"),
            models.Index(fields=["-created_at", "-id"], name="ticket_created"),
            models.Index(fields=["-updated_at"], name="ticket_updated"),
            models.Index(fields=["priority", "status"], name="ticket_priority_status"),
            models.Index(fields=["channel"], name="ticket_channel"),
            models.Index(fields=["type"], name="ticket_type"),
            # The queue sorted by priority, then last update.
            models.Index(
                PRIORITY_RANK.desc(),
                models.F("updated_at").desc(),
                models.F("id").desc(),
                name="ticket_priority_rank",
            ),
            # "At risk / breaching": open tickets by the instant their next target is due.
            models.Index(
                fields=["sla_due_at"],
                name="ticket_sla_due",
                condition=models.Q(sla_due_at__isnull=False),
            ),
            # The queue's "Recently solved" view and its count.
            models.Index(
                fields=["-solved_at"],
                name="ticket_solved_recently",
                condition=models.Q(solved_at__isnull=False),
            ),
            # The SLA dashboard filtered by tier: its backlog (open tickets by team, assignee,
            # status and priority) from the index alone, like ticket_open_backlog (slas 0006).
            models.Index(
                fields=["customer_tier", "team", "assignee", "status", "priority"],
                name="ticket_tier_open_backlog",
                condition=models.Q(status__in=["new", "open", "pending", "on_hold"]),
            ),
            # The queue's tier filter, newest first.
            models.Index(fields=["customer_tier", "-created_at"], name="ticket_tier_created"),
            # The dashboard's clocks joined to their ticket's tier, from this index alone: a
            # small tier's ticket ids hashed (VIP: 40 k entries), or "is this clock's ticket in
            # the tier?" probed per clock for a large one; never a visit to the ticket row.
            models.Index(fields=["customer_tier", "id"], name="ticket_tier_id"),
            # The same for the dashboard filtered by agent (a busy agent: 200 k tickets).
            models.Index(fields=["assignee", "id"], name="ticket_assignee_id"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.subject}"

    @property
    def reference(self) -> str:
        return f"{REFERENCE_PREFIX}{self.pk}"

    @staticmethod
    def pk_from_reference(reference: str) -> int | None:
        """`HD-1042` (or `1042`) → 1042; anything else → None."""
        text = reference.strip().upper().removeprefix(REFERENCE_PREFIX)
        return int(text) if text.isascii() and text.isdigit() else None  # not "²"


class SenderKind(models.TextChoices):
    AGENT = "agent", "Agent"
    CUSTOMER = "customer", "Customer"
    SYSTEM = "system", "System"


class Message(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    # Null for a customer without a login (email, guest chat) and for system messages.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
    )
    sender = models.CharField(max_length=16, choices=SenderKind.choices)
    is_internal = models.BooleanField(
        default=False, help_text="An internal note: agents only, never shown to the customer."
    )
    body = models.TextField(help_text="Sanitized HTML.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="message_ticket_created")]

    def __str__(self) -> str:
        kind = "note" if self.is_internal else "reply"
        return f"{kind} on {self.ticket_id} by {self.sender}"


def attachment_path(instance: "Attachment", filename: str) -> str:
    # The stored name never reuses the uploaded name: no path tricks, no collisions.
    return f"attachments/{instance.message.ticket_id}/{instance.message_id}/{instance.token}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=300)
    token = models.CharField(max_length=32, editable=False)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.filename


class EventKind(models.TextChoices):
    CREATED = "created", "Created"
    STATUS_CHANGED = "status_changed", "Status changed"
    PRIORITY_CHANGED = "priority_changed", "Priority changed"
    ASSIGNEE_CHANGED = "assignee_changed", "Assignee changed"
    TEAM_CHANGED = "team_changed", "Team changed"
    TAGS_CHANGED = "tags_changed", "Tags changed"
    DETAILS_CHANGED = "details_changed", "Details changed"
    MESSAGE_POSTED = "message_posted", "Message posted"
    # Written by `slas` through tickets.services.record_ticket_event; they do not fire the
    # ticket_changed signal again (no rule reacts to its own firing).
    SLA_BREACHED = "sla_breached", "SLA target breached"
    RULE_FIRED = "rule_fired", "Escalation rule fired"
    RULE_FAILED = "rule_failed", "Escalation rule failed"
    ESCALATED = "escalated", "Escalation level changed"


class TicketEvent(AppendOnly):
    """Append-only audit: who changed what on a ticket, from what, to what, and when."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="event_ticket_created")]

    def __str__(self) -> str:
        return f"{self.kind} on {self.ticket_id}"


class Notification(models.Model):
    """An email owed to someone: written in the same transaction as the change that owes it
    (an outbox), sent by the worker, swept again if a send was lost. `sent_at` makes sending
    idempotent, so any number of workers may run the sweep."""

    class Kind(models.TextChoices):
        TICKET_OPENED = "ticket_opened", "Ticket opened (to the customer)"
        TICKET_ASSIGNED = "ticket_assigned", "Ticket assigned (to the agent)"
        ESCALATION = "escalation", "Escalation rule notice (to an agent or manager)"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    recipient = models.EmailField()
    # What the email says beyond the ticket itself (an escalation rule's reason, say).
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="notification_unsent",
                condition=models.Q(sent_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient}"


class TicketSeen(models.Model):
    """When an agent last opened a ticket: the queue marks it unread when the customer wrote
    after that. Written only by `tickets.services.queue.mark_ticket_seen`."""

    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tickets_seen"
    )
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="seen_by")
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "ticket"], name="ticket_seen_once_per_agent")
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} seen by {self.agent_id}"


class SavedView(models.Model):
    """A named queue filter: an agent's own, or a team's (saved by a manager).

    `query` is the queue's query string without view-independent noise (cursor, page), so a
    saved view opens as the same URL it was saved from."""

    name = models.CharField(max_length=80)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="saved_views",
    )
    team = models.ForeignKey(
        "accounts.Team",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="saved_views",
    )
    query = models.CharField(max_length=2000, blank=True)
    sort = models.CharField(max_length=16, default="updated")
    columns = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(owner__isnull=False, team__isnull=True))
                | models.Q(owner__isnull=True, team__isnull=False),
                name="saved_view_owner_xor_team",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def url(self) -> str:
        """The queue with this view's filters, sort and columns."""
        extra = f"sort={self.sort}&saved={self.pk}"
        return f"/tickets/?{self.query}&{extra}" if self.query else f"/tickets/?{extra}"


class Macro(models.Model):
    """A canned reply. `body` is the reply box's light markup with whitelisted placeholders
    (`{{ customer.first_name }}`, see tickets.macros.PLACEHOLDERS); rendering substitutes them,
    it never runs a template engine. Written only by tickets.macros."""

    title = models.CharField(max_length=100)
    body = models.TextField()
    # Optional actions, applied by the agent after review (never by rendering).
    set_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    set_priority = models.CharField(max_length=16, choices=Priority.choices, blank=True)
    set_team = models.ForeignKey(
        "accounts.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    add_tags = models.JSONField(default=list, blank=True, help_text="Tag names to add.")
    # None: shared with every agent; otherwise only its owner sees it.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="personal_macros",
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        indexes = [models.Index(fields=["is_active", "title"], name="macro_active_title")]

    def __str__(self) -> str:
        return self.title


class ReplyDraft(models.Model):
    """What an agent has typed in a ticket's reply box, saved as they type (one per agent and
    ticket), so a reload or a crash loses nothing. Only its author ever reads it."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="drafts")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reply_drafts"
    )
    body = models.TextField(blank=True)
    is_internal = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ticket", "author"], name="one_draft_per_agent")
        ]

    def __str__(self) -> str:
        return f"draft on {self.ticket_id} by {self.author_id}"


class ScheduledReply(models.Model):
    """A reply the agent has sent but that is not posted yet: the undo window.

    Nobody but its author sees it until the worker posts it (tickets.replies); undo cancels
    it while it is still scheduled. The row keeps everything the message needs (body, files,
    the status to set after), so a closed browser or a restarted server loses nothing.
    """

    class State(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENT = "sent", "Sent"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"  # a rule broke when it came due; the text went back to a draft

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="scheduled_replies")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scheduled_replies"
    )
    body = models.TextField(help_text="The reply box's text (light markup).")
    is_internal = models.BooleanField(default=False)
    status_after = models.CharField(max_length=16, choices=Status.choices, blank=True)
    send_at = models.DateTimeField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.SCHEDULED)
    message = models.OneToOneField(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["send_at"],
                name="scheduled_reply_due",
                condition=models.Q(state="scheduled"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.state} reply on {self.ticket_id}"


def scheduled_attachment_path(instance: "ScheduledAttachment", filename: str) -> str:
    return f"scheduled/{instance.reply.ticket_id}/{instance.reply_id}/{instance.token}"


class ScheduledAttachment(models.Model):
    """A file waiting with its scheduled reply; it becomes an Attachment when the reply posts."""

    reply = models.ForeignKey(ScheduledReply, on_delete=models.CASCADE, related_name="files")
    file = models.FileField(upload_to=scheduled_attachment_path, max_length=300)
    token = models.CharField(max_length=32, editable=False)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.filename
