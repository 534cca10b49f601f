"""Business calendars over REST: agents read, managers create and change (through
slas.services.save_calendar; a bad calendar is a 400 naming the field)."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from accounts.models import User
from core.api import error_responses
from core.requests import AuthenticatedRequest
from slas.api.permissions import AgentsReadManagersWrite
from slas.models import BusinessCalendar
from slas.selectors import calendars_in_order
from slas.services import save_calendar

TAG = "sla"
HOURS_HELP = (
    'Opening intervals per weekday, local wall-clock time: {"mon": [["09:00", "12:00"], '
    '["13:00", "17:30"]], ..., "sun": []}. "24:00" only as an end; a missing or empty day '
    "is closed. Overlapping intervals are merged."
)
HOURS_SCHEMA = {
    "type": "object",
    "additionalProperties": {
        "type": "array",
        "items": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2},
    },
}


class SlaCalendarSerializer(serializers.ModelSerializer):
    hours = serializers.JSONField(read_only=True, help_text=HOURS_HELP)
    holidays = serializers.ListField(
        child=serializers.DateField(), read_only=True, help_text="Explicit closed local dates."
    )

    class Meta:
        model = BusinessCalendar
        fields = [
            "id",
            "name",
            "timezone",
            "hours",
            "holidays",
            "holiday_country",
            "holiday_subdivision",
            "always_open",
            "is_active",
            "version",
            "updated_at",
        ]
        read_only_fields = fields


class SlaCalendarInputSerializer(serializers.Serializer):
    """Any of these; on create `name` is required. The service checks the values and names
    the field it refuses ("hours.mon.1", "timezone", "holiday_country")."""

    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    timezone = serializers.CharField(required=False, help_text="An IANA zone: Europe/Paris.")
    hours = serializers.JSONField(required=False, help_text=HOURS_HELP)
    holidays = serializers.JSONField(
        required=False, help_text='Closed local dates: ["2026-12-25"].'
    )
    holiday_country = serializers.CharField(
        required=False, allow_blank=True, help_text="ISO 3166-1 code whose public holidays close."
    )
    holiday_subdivision = serializers.CharField(
        required=False, allow_blank=True, help_text="A subdivision of that country: BY for DE."
    )
    always_open = serializers.BooleanField(
        required=False, help_text="24/7: ignores hours, holidays and the zone."
    )
    is_active = serializers.BooleanField(required=False)


@extend_schema_view(
    list=extend_schema(
        tags=[TAG],
        summary="List business calendars (agents)",
        responses={200: SlaCalendarSerializer(many=True), **error_responses(401, 403, 429)},
    ),
    retrieve=extend_schema(
        tags=[TAG],
        summary="A business calendar (agents)",
        responses={200: SlaCalendarSerializer, **error_responses(401, 403, 404, 429)},
    ),
    create=extend_schema(
        tags=[TAG],
        summary="Create a business calendar (managers)",
        request=SlaCalendarInputSerializer,
        responses={201: SlaCalendarSerializer, **error_responses(400, 401, 403, 429)},
    ),
    partial_update=extend_schema(
        tags=[TAG],
        summary="Change a business calendar (managers; a new version)",
        description="Running clocks keep counting in the version they started under.",
        request=SlaCalendarInputSerializer,
        responses={200: SlaCalendarSerializer, **error_responses(400, 401, 403, 404, 429)},
    ),
)
class CalendarViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = SlaCalendarSerializer
    permission_classes = [AgentsReadManagersWrite]
    pagination_class = None  # a desk has a handful
    filter_backends: list[Any] = []
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[BusinessCalendar]:
        return calendars_in_order()

    def create(self, request: AuthenticatedRequest[User]) -> Response:
        body = SlaCalendarInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        calendar = save_calendar(actor=request.user, calendar=None, data=body.validated_data)
        return Response(SlaCalendarSerializer(calendar).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: AuthenticatedRequest[User], pk: str) -> Response:
        calendar = self.get_object()
        body = SlaCalendarInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        calendar = save_calendar(actor=request.user, calendar=calendar, data=body.validated_data)
        return Response(SlaCalendarSerializer(calendar).data)
