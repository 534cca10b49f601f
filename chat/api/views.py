"""The chat history for agents: /api/v1/chat/conversations/ and a conversation's lines.

The database is the source of truth and the socket the fast path: a console that reconnects,
or any other client, reads what it missed here with `?after=<seq>`. Visitors have no login and
never use this API (their history comes over their socket and the widget session endpoint).
"""

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.permissions import IsAgentForCollection
from chat.api.serializers import ChatLineSerializer, ConversationSerializer
from chat.models import Conversation, ConversationState
from chat.selectors import REPLAY_LIMIT, conversations_visible_to, lines_since
from core.api import error_responses

READ_ERRORS = error_responses(401, 403, 404, 429)


class LinesQuery(serializers.Serializer[dict[str, int]]):
    after = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=REPLAY_LIMIT, default=REPLAY_LIMIT)


@extend_schema_view(
    list=extend_schema(
        tags=["chat"],
        summary="List chat conversations",
        description="Agents see the chats of their teams' sites; managers every chat. Newest "
        "first; `?state=waiting` (or offered, active, ended, missed) narrows the list.",
        parameters=[
            OpenApiParameter(
                "state",
                OpenApiTypes.STR,
                enum=["waiting", "offered", "active", "ended", "missed"],
            )
        ],
        responses={200: ConversationSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(
        tags=["chat"],
        summary="One chat conversation",
        responses={200: ConversationSerializer, **READ_ERRORS},
    ),
)
class ConversationViewSet(viewsets.ReadOnlyModelViewSet[Conversation]):
    serializer_class = ConversationSerializer
    permission_classes = [IsAuthenticated, IsAgentForCollection]
    filter_backends: list[type] = []

    def get_queryset(self) -> QuerySet[Conversation]:
        if getattr(self, "swagger_fake_view", False):
            return Conversation.objects.none()
        conversations = conversations_visible_to(self.request.user).select_related(
            "ticket__customer", "site", "agent"
        )
        state = self.request.query_params.get("state")
        if self.action == "list" and state:
            # Only a known state reaches the query (PostgreSQL answers a NUL in text with an
            # error, and an unknown state is the client's mistake to hear about).
            if state not in ConversationState.values:
                choices = ", ".join(ConversationState.values)
                raise serializers.ValidationError({"state": [f"Choose one of: {choices}."]})
            conversations = conversations.filter(state=state)
        return conversations.order_by("-created_at", "-id")

    @extend_schema(
        tags=["chat"],
        summary="A conversation's lines after a sequence number",
        description="Lines with `seq` greater than `after`, oldest first, at most `limit` "
        f"({REPLAY_LIMIT} at most); read again from the last `seq` for more. Internal notes "
        "are never chat lines.",
        parameters=[LinesQuery],
        responses={200: ChatLineSerializer(many=True), **error_responses(400, 401, 403, 404, 429)},
    )
    @action(detail=True, methods=["get"], url_path="lines", pagination_class=None)
    def lines(self, request: Request, pk: str) -> Response:
        query = LinesQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        conversation = self.get_object()
        lines = lines_since(
            conversation=conversation,
            seq=query.validated_data["after"],
            limit=query.validated_data["limit"],
        )
        return Response([ChatLineSerializer(line).data for line in lines])
