"""The tickets REST API: read through the selectors, write through the services.

Who may do what: agents and managers everything; a customer reads their own tickets, opens
tickets, replies on them and downloads the attachments of public messages. Someone else's
ticket is a 404 (never a 403), so an id never reveals that a ticket exists; an agent-only
action on the customer's own ticket is a 403.
"""

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from accounts.selectors import is_agent
from core.api import FiltersTheListOnly, StrictOrderingFilter, error_responses
from core.parsers import JSONParser, MultiPartParser
from core.requests import AuthenticatedRequest
from core.times import TimestampCursor
from tickets.api.filters import TicketFilter
from tickets.api.serializers import (
    AssignSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    PriorityChangeSerializer,
    StatusChangeSerializer,
    TagsSerializer,
    TeamChangeSerializer,
    TicketCreateSerializer,
    TicketDetailSerializer,
    TicketEventSerializer,
    TicketSerializer,
    TicketUpdateSerializer,
)
from tickets.models import Attachment, Channel, Ticket
from tickets.selectors import (
    attachments_visible_to,
    message_prefetch_for,
    messages_visible_to,
    ticket_timeline,
    tickets_visible_to,
)
from tickets.services import (
    assign_ticket,
    change_ticket_priority,
    change_ticket_status,
    change_ticket_team,
    open_ticket,
    post_message,
    set_ticket_tags,
    update_ticket,
)

TICKETS_TAG = "tickets"
# What can go wrong, as documented in the schema (the bodies are core.api's).
READ_ERRORS = error_responses(401, 403, 404, 429)
WRITE_ERRORS = error_responses(400, 401, 403, 404, 429)
JSON_ONLY = [JSONParser]


class TicketCursorPagination(TimestampCursor, CursorPagination):
    """Stable pages over a table that grows while agents read it: no offsets, no counts."""

    page_size = 50
    ordering = ("-created_at", "-id")

    def get_ordering(self, request: Request, queryset: QuerySet, view: Any) -> tuple[str, ...]:
        ordering = super().get_ordering(request, queryset, view)
        # Rows created in the same microsecond still come in one fixed order.
        if ordering[-1].lstrip("-") != "id":
            ordering = (*ordering, "-id" if ordering[0].startswith("-") else "id")
        return ordering


class TicketAccess(permissions.BasePermission):
    """Signed in to reach the endpoints at all; agents for anything beyond what a customer
    does on their own ticket. Checked after the lookup, so a foreign ticket is a 404 first."""

    CUSTOMER_ACTIONS = frozenset({"list", "retrieve", "create", "messages"})

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return is_agent(request.user) or view.action in self.CUSTOMER_ACTIONS


def _changed(serializer_class: type[serializers.Serializer], summary: str) -> Any:
    return extend_schema(
        tags=[TICKETS_TAG],
        summary=summary,
        request={"application/json": serializer_class},
        responses={200: TicketDetailSerializer, **WRITE_ERRORS},
    )


@extend_schema_view(
    list=extend_schema(
        tags=[TICKETS_TAG],
        summary="List tickets",
        description="Agents: every ticket. Customers: their own. Newest first, 50 per page "
        "(follow `next`; an unknown cursor is a 404).",
        responses={200: TicketSerializer(many=True), **WRITE_ERRORS},
    ),
    retrieve=extend_schema(
        tags=[TICKETS_TAG],
        summary="Read a ticket and its conversation",
        description="Customers see only public messages on their own tickets.",
        responses={200: TicketDetailSerializer, **READ_ERRORS},
    ),
    create=extend_schema(
        tags=[TICKETS_TAG],
        summary="Open a ticket",
        description="Agents name the customer and may route the ticket; a customer opens one "
        "for themselves (web channel) with subject, body, type and attachments.",
        request={
            "application/json": TicketCreateSerializer,
            "multipart/form-data": TicketCreateSerializer,
        },
        responses={201: TicketDetailSerializer, **error_responses(400, 401, 403, 429)},
    ),
    partial_update=extend_schema(
        tags=[TICKETS_TAG],
        summary="Change several fields at once (agents)",
        description="Every change goes through its own rule; either all land or none does.",
        request={"application/json": TicketUpdateSerializer},
        responses={200: TicketDetailSerializer, **WRITE_ERRORS},
    ),
)
class TicketViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    FiltersTheListOnly,
    viewsets.GenericViewSet,
):
    permission_classes = [TicketAccess]
    pagination_class = TicketCursorPagination
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    filterset_class = TicketFilter
    ordering_fields = ["created_at", "updated_at"]
    ordering = ("-created_at", "-id")
    # Files come as multipart on the two endpoints that take them (open, post a message);
    # every other write is JSON (see `JSON_ONLY` on the actions).
    parser_classes = [JSONParser, MultiPartParser]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Ticket]:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the types
            return Ticket.objects.none()
        user = self.request.user
        # search_document is only for the database's search; it can be long and is never shown.
        tickets = tickets_visible_to(user).defer("search_document")
        if is_agent(user):
            tickets = tickets.select_related(
                "customer", "customer__tier", "team", "assignee"
            ).prefetch_related("tags")
        if self.action != "list":
            tickets = tickets.prefetch_related(message_prefetch_for(user))
        return tickets

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return TicketSerializer if self.action == "list" else TicketDetailSerializer

    def _detail(self, ticket: Ticket, *, status_code: int = status.HTTP_200_OK) -> Response:
        """The ticket as GET shows it, read fresh (and with the same fixed query count)."""
        fresh = self.get_queryset().get(pk=ticket.pk)
        serializer = TicketDetailSerializer(fresh, context=self.get_serializer_context())
        return Response(serializer.data, status=status_code)

    # --- create and change --------------------------------------------------------------------

    def create(self, request: AuthenticatedRequest[User]) -> Response:
        user: User = request.user
        if not is_agent(user) and getattr(user, "customer", None) is None:
            raise PermissionDenied("Only agents and customers can open tickets.")
        body = TicketCreateSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        attachments = data.pop("attachments", [])
        if is_agent(user):
            customer = data.pop("customer", None)
            if customer is None:
                raise ValidationError({"customer": ["This field is required."]})
        else:
            # Customers open tickets for themselves, on the web; the serializer has already
            # dropped the routing fields they may not set.
            customer, data["channel"] = user.customer, Channel.WEB
        ticket = open_ticket(customer=customer, actor=user, attachments=attachments, **data)
        return self._detail(ticket, status_code=status.HTTP_201_CREATED)

    def partial_update(self, request: AuthenticatedRequest[User], pk: str) -> Response:
        ticket = self.get_object()
        body = TicketUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        update_ticket(ticket=ticket, actor=request.user, changes=dict(body.validated_data))
        return self._detail(ticket)

    @_changed(StatusChangeSerializer, "Change the status (agents)")
    @action(
        detail=True,
        methods=["post"],
        url_path="status",
        url_name="status",
        parser_classes=JSON_ONLY,
    )
    def change_status(self, request: AuthenticatedRequest[User], pk: str) -> Response:
        ticket = self.get_object()
        body = StatusChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        change_ticket_status(
            ticket=ticket, new_status=body.validated_data["status"], actor=request.user
        )
        return self._detail(ticket)

    @_changed(PriorityChangeSerializer, "Change the priority (agents)")
    @action(
        detail=True,
        methods=["post"],
        url_path="priority",
        url_name="priority",
        parser_classes=JSON_ONLY,
    )
    def change_priority(self, request: AuthenticatedRequest[User], pk: str) -> Response:
        ticket = self.get_object()
        body = PriorityChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        change_ticket_priority(
            ticket=ticket, priority=body.validated_data["priority"], actor=request.user
        )
        return self._detail(ticket)

    @_changed(AssignSerializer, "Assign to an agent, or unassign (agents)")
    @action(
        detail=True,
        methods=["post"],
        url_path="assign",
        url_name="assign",
        parser_classes=JSON_ONLY,
    )
    def assign(self, request: AuthenticatedRequest[User], pk: str) -> Response:
        ticket = self.get_object()
        body = AssignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        assign_ticket(ticket=ticket, assignee=body.validated_data["assignee"], actor=request.user)
        return self._detail(ticket)

    @_changed(TeamChangeSerializer, "Move to a team, or to none (agents)")
    @action(
        detail=True, methods=["post"], url_path="team", url_name="team", parser_classes=JSON_ONLY
    )
    def change_team(self, request: AuthenticatedRequest[User], pk: str) -> Response:
        ticket = self.get_object()
        body = TeamChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        change_ticket_team(ticket=ticket, team=body.validated_data["team"], actor=request.user)
        return self._detail(ticket)

    @_changed(TagsSerializer, "Replace the tags (agents)")
    @action(
        detail=True, methods=["post"], url_path="tags", url_name="tags", parser_classes=JSON_ONLY
    )
    def change_tags(self, request: AuthenticatedRequest[User], pk: str) -> Response:
        ticket = self.get_object()
        body = TagsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        set_ticket_tags(ticket=ticket, tags=body.validated_data["tags"], actor=request.user)
        return self._detail(ticket)

    # --- the conversation and the audit trail -------------------------------------------------

    @extend_schema(
        methods=["GET"],
        tags=[TICKETS_TAG],
        summary="List the conversation",
        description="Customers see only public messages.",
        responses={200: MessageSerializer(many=True), **READ_ERRORS},
    )
    @extend_schema(
        methods=["POST"],
        tags=[TICKETS_TAG],
        summary="Reply (customers and agents), or add an internal note (agents)",
        description="A public reply or, for agents, an internal note; files as multipart "
        "`attachments`. A customer's reply reopens a solved or pending ticket.",
        request={
            "application/json": MessageCreateSerializer,
            "multipart/form-data": MessageCreateSerializer,
        },
        responses={201: MessageSerializer, **WRITE_ERRORS},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="messages",
        url_name="messages",
        pagination_class=None,
    )
    def messages(self, request: AuthenticatedRequest[User], pk: str) -> Response:
        ticket = self.get_object()
        context = self.get_serializer_context()
        if request.method == "GET":
            visible = messages_visible_to(request.user, ticket)
            return Response(MessageSerializer(visible, many=True, context=context).data)
        body = MessageCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        message = post_message(
            ticket=ticket,
            author=request.user,
            body=body.validated_data["body"],
            is_internal=body.validated_data["is_internal"],
            attachments=body.validated_data.get("attachments", []),
        )
        fresh = messages_visible_to(request.user, ticket).get(pk=message.pk)
        return Response(
            MessageSerializer(fresh, context=context).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        tags=[TICKETS_TAG],
        summary="Read the audit trail (agents)",
        description="Every change to the ticket, oldest first: who, what, from, to, when.",
        responses={200: TicketEventSerializer(many=True), **READ_ERRORS},
    )
    @action(
        detail=True, methods=["get"], url_path="events", url_name="events", pagination_class=None
    )
    def events(self, request: AuthenticatedRequest[User], pk: str) -> Response:
        ticket = self.get_object()
        return Response(TicketEventSerializer(ticket_timeline(ticket), many=True).data)


class IgnoreAcceptHeader(BaseContentNegotiation):
    """A download is whatever type the file is; errors are JSON whatever the client accepts."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class AttachmentViewSet(viewsets.GenericViewSet):
    """Files are streamed here after an access check; they never have a public URL."""

    permission_classes = [permissions.IsAuthenticated]
    content_negotiation_class = IgnoreAcceptHeader
    pagination_class = None
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Attachment]:
        if getattr(self, "swagger_fake_view", False):
            return Attachment.objects.none()
        return attachments_visible_to(self.request.user)

    @extend_schema(
        tags=["attachments"],
        summary="Download an attachment",
        description="Streams the file as a download. Customers may fetch only the files of "
        "public messages on their own tickets.",
        parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={(200, "*/*"): OpenApiTypes.BINARY, **READ_ERRORS},
    )
    @action(detail=True, methods=["get"], url_path="download")
    def download(self, request: AuthenticatedRequest[User], pk: str) -> FileResponse:
        attachment = self.get_object()
        try:
            handle = attachment.file.open("rb")
        except FileNotFoundError:
            raise NotFound("This file is no longer stored.") from None
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=attachment.filename,
            content_type=attachment.content_type or "application/octet-stream",
        )
        # Never let a browser guess an uploaded file is HTML and run it.
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response
