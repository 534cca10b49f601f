"""Tickets in and out of JSON. These translate; the rules live in `tickets.services`.

Customers and agents read tickets from the same endpoints. A customer gets the subset of
fields in `CUSTOMER_TICKET_FIELDS`; every other field says "Agents only." in its help text,
which is also what the schema hook in `core/api.py` reads to mark it optional.
"""

from collections.abc import Mapping
from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Team, User
from accounts.selectors import is_agent
from core.api import AGENTS_ONLY
from core.ids import IdRelatedField as IdField
from customers.api.serializers import CustomerSerializer
from customers.models import Customer, Tag, Tier
from tickets.models import (
    Attachment,
    Channel,
    Message,
    Priority,
    SlaState,
    SlaTarget,
    Status,
    Ticket,
    TicketEvent,
    TicketType,
)

# What a customer may read about their own ticket; everything else is for agents.
CUSTOMER_TICKET_FIELDS = frozenset(
    {
        "id",
        "reference",
        "subject",
        "status",
        "priority",
        "type",
        "channel",
        "created_at",
        "updated_at",
        "solved_at",
        "messages",
        # The promise (issue 9): when the customer will hear back, and why.
        "reply_due_at",
        "reply_promise",
    }
)


def reads_as_agent(context: Mapping[str, Any]) -> bool:
    """Serialize for an agent? Also yes while drf-spectacular builds the schema, so the schema
    shows every field whoever asks for it."""
    view = context.get("view")
    if view is not None and getattr(view, "swagger_fake_view", False):
        return True
    request = context.get("request")
    return request is None or is_agent(request.user)


# --- reading ----------------------------------------------------------------------------------


class TicketCustomerSerializer(serializers.ModelSerializer):
    tier = serializers.SlugRelatedField[Tier](slug_field="slug", read_only=True)

    class Meta:
        model = Customer
        fields = ["id", "name", "email", "tier", "organization"]
        read_only_fields = fields


class TicketTeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name"]
        read_only_fields = fields


class TicketAssigneeSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="display_name", read_only=True)

    class Meta:
        model = User
        fields = ["id", "name"]
        read_only_fields = fields


class AttachmentSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField(
        help_text="Where the file is streamed from after an access check."
    )

    class Meta:
        model = Attachment
        fields = ["id", "filename", "content_type", "size", "download_url"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, attachment: Attachment) -> str:
        path = reverse("api:attachment-download", args=[attachment.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class MessageSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField(
        help_text="The author's display name; null for system messages and customers "
        "without a login."
    )
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = ["id", "author", "sender", "is_internal", "body", "created_at", "attachments"]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "nullable": True})
    def get_author(self, message: Message) -> str | None:
        return message.author.display_name if message.author is not None else None


class TicketSerializer(serializers.ModelSerializer):
    """A ticket as a row in a queue. Customers get only `CUSTOMER_TICKET_FIELDS`."""

    reference = serializers.CharField(read_only=True, help_text="The human reference: HD-1042.")
    customer = TicketCustomerSerializer(read_only=True, help_text=AGENTS_ONLY)
    team = TicketTeamSerializer(read_only=True, allow_null=True, help_text=AGENTS_ONLY)
    assignee = TicketAssigneeSerializer(read_only=True, allow_null=True, help_text=AGENTS_ONLY)
    tags = serializers.SlugRelatedField[Tag](
        slug_field="name", many=True, read_only=True, help_text=AGENTS_ONLY
    )
    # A field named `parent`, `data`: DRF's metaclass takes declared fields off the class, but the
    # stubs see them as overriding `Field.parent` / `Serializer.data` (hence the ignores).
    parent = serializers.PrimaryKeyRelatedField[Ticket](  # type: ignore[assignment]
        read_only=True, allow_null=True, help_text=f"The parent problem or incident. {AGENTS_ONLY}"
    )
    first_agent_reply_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text=AGENTS_ONLY
    )
    closed_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text=AGENTS_ONLY)
    # The SLA summary (written by `slas` through tickets.services.record_sla_summary).
    sla_due_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text=f"When the next running SLA target is due. {AGENTS_ONLY}",
    )
    sla_target = serializers.ChoiceField(
        choices=SlaTarget.choices,
        read_only=True,
        allow_blank=True,
        help_text=f"Which target is due at sla_due_at. {AGENTS_ONLY}",
    )
    sla_state = serializers.ChoiceField(
        choices=SlaState.choices,
        read_only=True,
        allow_blank=True,
        help_text=f"No SLA (empty), running, paused or breached. {AGENTS_ONLY}",
    )
    reply_due_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the customer is promised the next reply (null: no reply is owed "
        "under an SLA).",
    )
    reply_promise = serializers.CharField(
        read_only=True,
        help_text='Why that promise: "Gold priority", or the policy\'s name.',
    )

    class Meta:
        model = Ticket
        fields = [
            "id",
            "reference",
            "subject",
            "status",
            "priority",
            "type",
            "channel",
            "customer",
            "team",
            "assignee",
            "tags",
            "parent",
            "created_at",
            "updated_at",
            "first_agent_reply_at",
            "solved_at",
            "closed_at",
            "sla_due_at",
            "sla_target",
            "sla_state",
            "reply_due_at",
            "reply_promise",
        ]
        read_only_fields = fields

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        if reads_as_agent(self.context):
            return fields
        return {name: field for name, field in fields.items() if name in CUSTOMER_TICKET_FIELDS}


class TicketDetailSerializer(TicketSerializer):
    """A ticket with its conversation as the reader may see it (customers: no internal notes).
    The view prefetches `messages` with `tickets.selectors.message_prefetch_for(user)`."""

    messages = MessageSerializer(many=True, read_only=True)

    class Meta(TicketSerializer.Meta):
        fields = [*TicketSerializer.Meta.fields, "messages"]
        read_only_fields = fields


class TicketEventSerializer(serializers.ModelSerializer):
    actor_name = serializers.SerializerMethodField(help_text="Null for system changes.")
    data = serializers.DictField(  # type: ignore[assignment]  # a field, not Serializer.data
        help_text="What changed: usually `from` and `to`."
    )

    class Meta:
        model = TicketEvent
        fields = ["id", "kind", "actor", "actor_name", "data", "created_at"]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "nullable": True})
    def get_actor_name(self, event: TicketEvent) -> str | None:
        return event.actor.display_name if event.actor is not None else None


# --- a customer's ticket history (the customer directory's detail, served from tickets.api) ---


class RecentTicketSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(choices=Status.choices, read_only=True)
    priority = serializers.ChoiceField(choices=Priority.choices, read_only=True)

    class Meta:
        model = Ticket
        fields = ["id", "reference", "subject", "status", "priority", "created_at", "updated_at"]
        read_only_fields = fields


# A customer with their ticket history, read from
# `tickets.selectors.customers_with_ticket_history`. (No docstring: it would become the schema's
# description of the component.)
class CustomerDetailSerializer(CustomerSerializer):
    open_ticket_count = serializers.IntegerField(
        read_only=True, help_text="Tickets not yet solved (new, open, pending, on hold)."
    )
    solved_ticket_count = serializers.IntegerField(
        read_only=True, help_text="Solved and closed tickets."
    )
    recent_tickets = RecentTicketSerializer(
        many=True, read_only=True, help_text="The five most recent tickets, newest first."
    )

    class Meta(CustomerSerializer.Meta):
        fields = [
            *CustomerSerializer.Meta.fields,
            "open_ticket_count",
            "solved_ticket_count",
            "recent_tickets",
        ]
        read_only_fields = fields


# --- writing ----------------------------------------------------------------------------------


class TicketCreateSerializer(serializers.Serializer):
    """Opening a ticket. A customer opens one for themselves on the web channel and sends only
    subject, body, type and attachments; agents name the customer and may route it."""

    AGENT_FIELDS = frozenset(
        {"customer", "priority", "channel", "team", "assignee", "tags", "parent"}
    )

    customer = IdField(
        queryset=Customer.objects.all(),
        required=False,
        help_text="Who the ticket is for. Agents: required. Customers: ignored (themselves).",
    )
    subject = serializers.CharField(max_length=200)
    body = serializers.CharField(help_text="The first message. HTML is sanitized.")
    type = serializers.ChoiceField(choices=TicketType.choices, default=TicketType.QUESTION)
    priority = serializers.ChoiceField(
        choices=Priority.choices, default=Priority.NORMAL, help_text=AGENTS_ONLY
    )
    channel = serializers.ChoiceField(
        choices=Channel.choices, default=Channel.WEB, help_text=f"{AGENTS_ONLY} Customers: web."
    )
    team = IdField(
        queryset=Team.objects.all(), required=False, allow_null=True, help_text=AGENTS_ONLY
    )
    assignee = IdField(
        queryset=User.objects.all(),
        required=False,
        allow_null=True,
        help_text=f"An agent's user id. {AGENTS_ONLY}",
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, help_text=AGENTS_ONLY
    )
    parent = IdField(  # type: ignore[assignment]  # a field, not Field.parent
        queryset=Ticket.objects.all(), required=False, allow_null=True, help_text=AGENTS_ONLY
    )
    attachments = serializers.ListField(
        child=serializers.FileField(), required=False, help_text="Files (multipart only)."
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        if reads_as_agent(self.context):
            return fields
        # Dropped, not validated: a customer must not learn which ids exist by probing.
        return {name: field for name, field in fields.items() if name not in self.AGENT_FIELDS}


class TicketUpdateSerializer(serializers.Serializer):
    """A PATCH: any of these, applied together by `tickets.services.update_ticket`."""

    subject = serializers.CharField(max_length=200, required=False)
    type = serializers.ChoiceField(choices=TicketType.choices, required=False)
    parent = IdField(  # type: ignore[assignment]  # a field, not Field.parent
        queryset=Ticket.objects.all(), required=False, allow_null=True
    )
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    team = IdField(queryset=Team.objects.all(), required=False, allow_null=True)
    assignee = IdField(queryset=User.objects.all(), required=False, allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)


class StatusChangeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices)


class PriorityChangeSerializer(serializers.Serializer):
    priority = serializers.ChoiceField(choices=Priority.choices)


class AssignSerializer(serializers.Serializer):
    assignee = IdField(
        queryset=User.objects.all(), allow_null=True, help_text="An agent's user id, or null."
    )


class TeamChangeSerializer(serializers.Serializer):
    team = IdField(queryset=Team.objects.all(), allow_null=True, help_text="A team id, or null.")


class TagsSerializer(serializers.Serializer):
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50),
        allow_empty=True,
        help_text="The ticket's new tags (replaces the old ones; new names are created).",
    )


class MessageCreateSerializer(serializers.Serializer):
    body = serializers.CharField(help_text="HTML is sanitized.")
    is_internal = serializers.BooleanField(
        default=False,
        help_text=f"An internal note, never shown to the customer. {AGENTS_ONLY}",
    )
    attachments = serializers.ListField(
        child=serializers.FileField(), required=False, help_text="Files (multipart only)."
    )
