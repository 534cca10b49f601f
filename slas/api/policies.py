"""SLA policies over REST: agents read, managers create and change (through
slas.services.save_policy; a bad policy is a 400 naming the field)."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from accounts.models import User
from core.api import error_responses
from core.requests import AuthenticatedRequest
from slas.api.permissions import AgentsReadManagersWrite
from slas.models import BusinessCalendar, SlaPolicy
from slas.selectors import policies_in_order
from slas.services import save_policy, targets_of

TAG = "sla"
CONDITIONS_HELP = (
    'Which tickets it applies to; every key optional, each a list: {"tiers": ["gold"], '
    '"organizations": [3], "teams": [1], "channels": ["chat"], "types": ["incident"], '
    '"tags": ["vip"]}. All given keys must hold; any value of a list will do.'
)
TARGETS_HELP = (
    'Business minutes per priority: {"urgent": {"first_reply_minutes": 30, '
    '"next_reply_minutes": 60, "resolution_minutes": 480}, ...}; a missing priority or '
    "target (or null) means no such target."
)


class SlaTargetMinutesSerializer(serializers.Serializer):
    first_reply_minutes = serializers.IntegerField(allow_null=True)
    next_reply_minutes = serializers.IntegerField(allow_null=True)
    resolution_minutes = serializers.IntegerField(allow_null=True)


class SlaPolicySerializer(serializers.ModelSerializer):
    conditions = serializers.JSONField(read_only=True, help_text=CONDITIONS_HELP)
    targets = serializers.SerializerMethodField(help_text=TARGETS_HELP)
    calendar = serializers.PrimaryKeyRelatedField[BusinessCalendar](read_only=True)

    class Meta:
        model = SlaPolicy
        fields = [
            "id",
            "name",
            "description",
            "position",
            "is_default",
            "is_active",
            "conditions",
            "calendar",
            "pause_on_hold",
            "targets",
            "version",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField(child=SlaTargetMinutesSerializer()))
    def get_targets(self, policy: SlaPolicy) -> dict[str, Any]:
        return targets_of(policy)


class SlaPolicyInputSerializer(serializers.Serializer):
    """Any of these; on create `name`, `calendar` and `targets` are required."""

    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    position = serializers.IntegerField(required=False, help_text="Tried in this order.")
    is_default = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)
    conditions = serializers.JSONField(required=False, help_text=CONDITIONS_HELP)
    calendar = serializers.IntegerField(required=False, help_text="A business calendar's id.")
    pause_on_hold = serializers.BooleanField(
        required=False, help_text="On hold pauses resolution (pending always does)."
    )
    targets = serializers.JSONField(required=False, help_text=TARGETS_HELP)


@extend_schema_view(
    list=extend_schema(
        tags=[TAG],
        summary="List SLA policies in the order they are tried (agents)",
        responses={200: SlaPolicySerializer(many=True), **error_responses(401, 403, 429)},
    ),
    retrieve=extend_schema(
        tags=[TAG],
        summary="An SLA policy (agents)",
        responses={200: SlaPolicySerializer, **error_responses(401, 403, 404, 429)},
    ),
    create=extend_schema(
        tags=[TAG],
        summary="Create an SLA policy (managers)",
        request=SlaPolicyInputSerializer,
        responses={201: SlaPolicySerializer, **error_responses(400, 401, 403, 429)},
    ),
    partial_update=extend_schema(
        tags=[TAG],
        summary="Change an SLA policy (managers; a new version)",
        description="Applies to targets that start from now on; running and finished "
        "clocks keep the version they started under.",
        request=SlaPolicyInputSerializer,
        responses={200: SlaPolicySerializer, **error_responses(400, 401, 403, 404, 429)},
    ),
)
class PolicyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = SlaPolicySerializer
    permission_classes = [AgentsReadManagersWrite]
    pagination_class = None
    filter_backends: list[Any] = []
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[SlaPolicy]:
        return policies_in_order()

    def _shown(self, policy: SlaPolicy) -> dict[str, Any]:
        return dict(SlaPolicySerializer(self.get_queryset().get(pk=policy.pk)).data)

    def create(self, request: AuthenticatedRequest[User]) -> Response:
        body = SlaPolicyInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        policy = save_policy(actor=request.user, policy=None, data=body.validated_data)
        return Response(self._shown(policy), status=status.HTTP_201_CREATED)

    def partial_update(self, request: AuthenticatedRequest[User], pk: str) -> Response:
        policy = self.get_object()
        body = SlaPolicyInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        policy = save_policy(actor=request.user, policy=policy, data=body.validated_data)
        return Response(self._shown(policy))
