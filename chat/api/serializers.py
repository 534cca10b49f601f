"""What the chat history API shows: conversations and their numbered lines (plain text)."""

from typing import Any

from rest_framework import serializers

from chat import events
from chat.models import ChatLine, Conversation


class ConversationSerializer(serializers.ModelSerializer[Conversation]):
    reference = serializers.CharField(source="ticket.reference", read_only=True)
    subject = serializers.CharField(source="ticket.subject", read_only=True)
    customer = serializers.IntegerField(source="ticket.customer_id", read_only=True)
    customer_name = serializers.CharField(source="ticket.customer.name", read_only=True)
    site_name = serializers.CharField(source="site.name", read_only=True)
    agent_name = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "ticket",
            "reference",
            "subject",
            "customer",
            "customer_name",
            "site",
            "site_name",
            "state",
            "tier_rank",
            "queued_at",
            "agent",
            "agent_name",
            "accepted_at",
            "ended_at",
            "last_seq",
            "visitor_read_seq",
            "agent_read_seq",
            "rating",
            "rating_comment",
            "topic",
            "order_reference",
            "created_at",
        ]
        read_only_fields = fields

    def get_agent_name(self, conversation: Conversation) -> str:
        return conversation.agent.display_name if conversation.agent else ""


class LineAttachmentSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    filename = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    url = serializers.CharField(help_text="The widget's download path (visitor token needed).")


class ChatLineSerializer(serializers.Serializer[ChatLine]):
    """Exactly a `message.posted` frame's fields (docs/chat-protocol.md)."""

    conversation = serializers.IntegerField()
    seq = serializers.IntegerField(help_text="1, 2, 3... per conversation, without gaps.")
    id = serializers.IntegerField()
    client_id = serializers.CharField(allow_null=True)
    sender = serializers.ChoiceField(choices=["customer", "agent", "system"])
    author_name = serializers.CharField()
    body = serializers.CharField(help_text="Plain text.")
    created_at = serializers.DateTimeField()
    message = serializers.IntegerField(
        allow_null=True, help_text="The ticket message (null for a system line)."
    )
    attachments = LineAttachmentSerializer(many=True)

    def to_representation(self, line: ChatLine) -> dict[str, Any]:
        return {**events.line_payload(line), "message": line.message_id}
