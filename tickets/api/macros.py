"""Macros over REST: agents read the shared ones and their own and render one for a ticket;
managers write. Every write goes through tickets.macros, where the placeholder rules live."""

from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Team, User
from core.api import error_responses
from tickets.api.serializers import is_agent
from tickets.macros import (
    create_macro,
    macro_actions,
    macros_visible_to,
    may_manage_macros,
    render_macro,
    retire_macro,
    update_macro,
)
from tickets.models import Macro, Priority, Status
from tickets.selectors import tickets_visible_to

MACROS_TAG = "macros"
READ_ERRORS = error_responses(401, 403, 404, 429)
WRITE_ERRORS = error_responses(400, 401, 403, 404, 429)


class MacroActionsSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    team = serializers.IntegerField(required=False, help_text="A team's id.")
    add_tags = serializers.ListField(child=serializers.CharField(), required=False)


class MacroSerializer(serializers.ModelSerializer):
    actions = serializers.SerializerMethodField()
    add_tags = serializers.ListField(child=serializers.CharField(), read_only=True)
    shared = serializers.SerializerMethodField()

    class Meta:
        model = Macro
        fields = [
            "id",
            "title",
            "body",
            "set_status",
            "set_priority",
            "set_team",
            "add_tags",
            "shared",
            "is_active",
            "actions",
            "created_at",
            "updated_at",
        ]

    def get_shared(self, macro: Macro) -> bool:
        return macro.owner_id is None

    @extend_schema_field(MacroActionsSerializer)
    def get_actions(self, macro: Macro) -> dict[str, Any]:
        return macro_actions(macro)


class MacroWriteSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=40_000, trim_whitespace=False)
    set_status = serializers.ChoiceField(choices=Status.choices, required=False, allow_blank=True)
    set_priority = serializers.ChoiceField(
        choices=Priority.choices, required=False, allow_blank=True
    )
    set_team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), required=False, allow_null=True
    )
    add_tags = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=50
    )
    shared = serializers.BooleanField(
        required=False, default=True, help_text="False: personal to the manager writing it."
    )
    is_active = serializers.BooleanField(required=False)


class MacroRenderSerializer(serializers.Serializer):
    ticket = serializers.IntegerField(help_text="The ticket to fill the placeholders from.")


class RenderedMacroSerializer(serializers.Serializer):
    text = serializers.CharField(help_text="The filled-in reply text (light markup).")
    html = serializers.CharField(help_text="The same, escaped and sanitized as it would post.")
    actions = MacroActionsSerializer()


def _user(request: Request) -> User:
    # Behind MacroAccess the user is a signed-in agent.
    return cast(User, request.user)


class MacroAccess(permissions.BasePermission):
    """Agents read and render; managers write."""

    READ_ACTIONS = frozenset({"list", "retrieve", "render"})

    def has_permission(self, request: Request, view: Any) -> bool:
        if not is_agent(request.user):
            return False
        return view.action in self.READ_ACTIONS or may_manage_macros(_user(request))


@extend_schema_view(
    list=extend_schema(
        tags=[MACROS_TAG],
        summary="List macros (agents)",
        description="The shared macros and your own personal ones, retired ones included "
        "(`is_active`).",
        responses={200: MacroSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(
        tags=[MACROS_TAG],
        summary="Read a macro (agents)",
        responses={200: MacroSerializer, **READ_ERRORS},
    ),
    create=extend_schema(
        tags=[MACROS_TAG],
        summary="Create a macro (managers)",
        description="Placeholders: `{{ customer.name }}`, `{{ customer.first_name }}`, "
        "`{{ customer.email }}`, `{{ ticket.reference }}`, `{{ ticket.subject }}`, "
        "`{{ agent.name }}`, `{{ agent.first_name }}`. Anything else is a 400 on `body`.",
        request=MacroWriteSerializer,
        responses={201: MacroSerializer, **WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        tags=[MACROS_TAG],
        summary="Change a macro (managers)",
        request=MacroWriteSerializer(partial=True),
        responses={200: MacroSerializer, **WRITE_ERRORS},
    ),
    destroy=extend_schema(
        tags=[MACROS_TAG],
        summary="Retire a macro (managers)",
        description="It leaves the picker; the row stays and can be made active again.",
        responses={204: None, **WRITE_ERRORS},
    ),
)
class MacroViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = MacroSerializer
    permission_classes = [MacroAccess]
    pagination_class = None
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Macro]:
        if getattr(self, "swagger_fake_view", False):
            return Macro.objects.none()
        return macros_visible_to(_user(self.request))

    def _options(self, data: dict[str, Any]) -> dict[str, Any]:
        options = dict(data)
        if "shared" in options:
            options["owner"] = None if options.pop("shared") else _user(self.request)
        return options

    def create(self, request: Request) -> Response:
        body = MacroWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        macro = create_macro(actor=_user(request), **self._options(body.validated_data))
        fresh = self.get_queryset().get(pk=macro.pk)
        return Response(MacroSerializer(fresh).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        macro = self.get_object()
        body = MacroWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        changes = self._options(body.validated_data)
        macro = update_macro(macro=macro, actor=_user(request), changes=changes)
        return Response(MacroSerializer(self.get_queryset().get(pk=macro.pk)).data)

    def destroy(self, request: Request, pk: str) -> Response:
        retire_macro(macro=self.get_object(), actor=_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        tags=[MACROS_TAG],
        summary="Fill a macro in for a ticket, without applying it (agents)",
        request=MacroRenderSerializer,
        responses={200: RenderedMacroSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="render", url_name="render")
    def render(self, request: Request, pk: str) -> Response:
        macro = self.get_object()
        body = MacroRenderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ticket = tickets_visible_to(_user(request)).filter(pk=body.validated_data["ticket"]).first()
        if ticket is None:
            raise serializers.ValidationError({"ticket": ["No such ticket."]})
        rendered = render_macro(macro=macro, ticket=ticket, agent=_user(request))
        return Response({"text": rendered.text, "html": rendered.html, "actions": rendered.actions})
