"""A ticket's SLA over REST: its summary, its clocks and the ledger that explains each one
(agents; customers see only the promise, on the ticket itself)."""

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.response import Response

from accounts.models import User
from core.api import error_responses
from core.requests import AuthenticatedRequest
from slas.api.permissions import AgentsReadManagersWrite
from slas.models import ClockSegment, TicketClock
from slas.selectors import clock_progress, ticket_ledger
from tickets.models import Ticket
from tickets.selectors import tickets_visible_to

TAG = "sla"


class SlaSegmentSerializer(serializers.ModelSerializer):
    """One stretch of a clock's life. The last one of a running or paused clock is still
    going (`ends_at` null; its minutes counted up to now)."""

    class Meta:
        model = ClockSegment
        fields = [
            "kind",
            "starts_at",
            "ends_at",
            "business_minutes",
            "reason",
            "policy_version",
            "calendar_version",
        ]
        read_only_fields = fields


class SlaProgressSerializer(serializers.Serializer):
    used_minutes = serializers.IntegerField(help_text="Business minutes used.")
    minutes_left = serializers.IntegerField(
        help_text="Business minutes left; negative: minutes overdue."
    )
    percent_elapsed = serializers.IntegerField()
    paused = serializers.BooleanField()
    overdue = serializers.BooleanField()


class SlaNamedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class SlaClockSerializer(serializers.ModelSerializer):
    policy = SlaNamedSerializer(read_only=True)
    calendar = SlaNamedSerializer(read_only=True)
    progress = serializers.SerializerMethodField()
    segments = serializers.SerializerMethodField(help_text="The ledger, oldest first.")

    class Meta:
        model = TicketClock
        fields = [
            "id",
            "target",
            "sequence",
            "state",
            "priority",
            "policy",
            "policy_version",
            "calendar",
            "calendar_version",
            "target_minutes",
            "started_at",
            "due_at",
            "stopped_at",
            "breached_at",
            "business_minutes",
            "paused_business_minutes",
            "progress",
            "segments",
        ]
        read_only_fields = fields

    @extend_schema_field(SlaProgressSerializer)
    def get_progress(self, clock: TicketClock) -> dict[str, Any]:
        now: datetime = self.context.get("now") or timezone.now()
        return clock_progress(clock, now)

    @extend_schema_field(SlaSegmentSerializer(many=True))
    def get_segments(self, clock: TicketClock) -> list[dict[str, Any]]:
        return list(SlaSegmentSerializer(clock.ledger, many=True).data)  # type: ignore[attr-defined]


class TicketSlaSerializer(serializers.ModelSerializer):
    ticket = serializers.IntegerField(source="pk", read_only=True)
    reference = serializers.CharField(read_only=True)
    clocks = SlaClockSerializer(many=True, read_only=True, source="sla_clocks")

    class Meta:
        model = Ticket
        fields = [
            "ticket",
            "reference",
            "sla_state",
            "sla_target",
            "sla_due_at",
            "reply_due_at",
            "reply_promise",
            "clocks",
        ]
        read_only_fields = fields


class TicketSlaViewSet(viewsets.GenericViewSet):
    permission_classes = [AgentsReadManagersWrite]
    serializer_class = TicketSlaSerializer
    pagination_class = None
    filter_backends: list[Any] = []
    http_method_names = ["get", "head", "options"]

    def get_queryset(self) -> QuerySet[Ticket]:
        if getattr(self, "swagger_fake_view", False):
            return Ticket.objects.none()
        return tickets_visible_to(self.request.user).only(
            "id", "sla_state", "sla_target", "sla_due_at", "reply_due_at", "reply_promise"
        )

    @extend_schema(
        tags=[TAG],
        summary="A ticket's SLA clocks and their ledger (agents)",
        description="Every target on the ticket, oldest first, with the policy and calendar "
        "versions it counts under, its progress in business time and its ledger: why it was "
        "met or breached, minute by minute.",
        responses={200: TicketSlaSerializer, **error_responses(401, 403, 404, 429)},
    )
    def retrieve(self, request: AuthenticatedRequest[User], pk: str) -> Response:
        ticket = self.get_object()
        now = timezone.now()
        ticket.sla_clocks = ticket_ledger(ticket, now=now)
        return Response(TicketSlaSerializer(ticket, context={"now": now}).data)
