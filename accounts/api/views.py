"""Sign-in tokens, who am I, the agent directory and teams."""

from django.contrib.auth import authenticate, user_logged_in
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import IsAgent, IsManagerOrReadOnly
from accounts.api.serializers import (
    AgentProfileInputSerializer,
    AgentSerializer,
    AvailabilityInputSerializer,
    MeSerializer,
    TeamInputSerializer,
    TeamSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)
from accounts.models import Availability, Role, Team, User
from accounts.selectors import agents_directory, may_edit_agent, teams_with_members
from accounts.services import (
    create_team,
    set_agent_availability,
    update_agent_profile,
    update_team,
)
from core.api import error_responses
from core.errors import RuleBroken
from core.throttles import ScopedRateThrottle


class AuthTokenView(APIView):
    """Trade a username and password for an API token; revoke it when done."""

    throttle_scope = "auth"

    def get_permissions(self):
        if self.request.method == "DELETE":
            return [IsAuthenticated()]
        return [AllowAny()]

    def get_throttles(self):
        # Guessing passwords is what the "auth" rate (per client address) is there to stop.
        if self.request.method == "POST":
            return [ScopedRateThrottle(), *super().get_throttles()]
        return super().get_throttles()

    @extend_schema(
        operation_id="auth_token_obtain",
        summary="Get an API token",
        description="Send a username and password; use the token as `Authorization: Token "
        "<token>`. The same token comes back until it is revoked. Limited to a few "
        "attempts a minute per client address.",
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, **error_responses(400, 401, 403, 429)},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        body = TokenRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = authenticate(
            request=request._request,
            username=body.validated_data["username"],
            password=body.validated_data["password"],
        )
        if user is None:
            # One message for a wrong password and an unknown user: it names no account.
            raise RuleBroken("non_field_errors", "Unable to sign in with these credentials.")
        # A sign-in like any other: the lockout forgets this user's failures, last_login moves.
        user_logged_in.send(sender=type(user), request=request._request, user=user)
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

    @extend_schema(
        operation_id="auth_token_revoke",
        summary="Revoke your API token",
        request=None,
        responses={204: OpenApiResponse(description="Revoked."), **error_responses(401, 403, 429)},
    )
    def delete(self, request: Request) -> Response:
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    @extend_schema(
        operation_id="me",
        summary="Who am I",
        description="The signed-in user: an agent with their profile, or a customer with "
        "their own customer record.",
        responses={200: MeSerializer, **error_responses(401, 429)},
    )
    def get(self, request: Request) -> Response:
        user = (
            User.objects.select_related("agent_profile", "customer__tier", "customer__organization")
            .prefetch_related("agent_profile__teams")
            .get(pk=request.user.pk)
        )
        return Response(MeSerializer(user).data)


class AgentFilter(filters.FilterSet):
    role = filters.ChoiceFilter(field_name="agent_profile__role", choices=Role.choices)
    availability = filters.ChoiceFilter(
        field_name="agent_profile__availability", choices=Availability.choices
    )
    team = filters.ModelChoiceFilter(
        field_name="agent_profile__teams",
        queryset=Team.objects.all(),
        help_text="A team's id: its members.",
    )

    class Meta:
        model = User
        fields = ["role", "availability", "team"]


@extend_schema_view(
    list=extend_schema(
        summary="List agents",
        responses={200: AgentSerializer, **error_responses(400, 401, 403, 404, 429)},
    ),
    retrieve=extend_schema(
        summary="An agent", responses={200: AgentSerializer, **error_responses(401, 403, 404, 429)}
    ),
    partial_update=extend_schema(
        summary="Change an agent's availability, time zone or chat capacity",
        description="Agents change their own; managers anyone's. Roles change in the admin.",
        request=AgentProfileInputSerializer,
        responses={200: AgentSerializer, **error_responses(400, 401, 403, 404, 429)},
    ),
)
class AgentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The agent directory (agents only)."""

    serializer_class = AgentSerializer
    permission_classes = [IsAuthenticated, IsAgent]
    filterset_class = AgentFilter
    ordering_fields = ["username", "first_name", "last_name"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def filter_queryset(self, queryset):
        # Query-string filters narrow the list; a record's own URL finds it regardless.
        return queryset if self.detail else super().filter_queryset(queryset)

    def get_queryset(self) -> QuerySet[User]:
        return agents_directory()

    def partial_update(self, request: Request, pk: str) -> Response:
        agent = self.get_object()
        if not may_edit_agent(request.user, agent):
            raise PermissionDenied("Only managers can change another agent's profile.")
        body = AgentProfileInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        update_agent_profile(agent=agent, actor=request.user, changes=body.validated_data)
        return Response(AgentSerializer(self.get_object()).data)

    @extend_schema(
        operation_id="agents_set_my_availability",
        summary="Set my availability",
        request=AvailabilityInputSerializer,
        responses={200: AgentSerializer, **error_responses(400, 401, 403, 429)},
    )
    @action(detail=False, methods=["post"], url_path="me/availability")
    def my_availability(self, request: Request) -> Response:
        body = AvailabilityInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        set_agent_availability(agent=request.user, availability=body.validated_data["availability"])
        return Response(AgentSerializer(agents_directory().get(pk=request.user.pk)).data)


@extend_schema_view(
    list=extend_schema(
        summary="List teams", responses={200: TeamSerializer, **error_responses(401, 403, 429)}
    ),
    retrieve=extend_schema(
        summary="A team", responses={200: TeamSerializer, **error_responses(401, 403, 404, 429)}
    ),
    create=extend_schema(
        summary="Create a team (managers)",
        request=TeamInputSerializer,
        responses={201: TeamSerializer, **error_responses(400, 401, 403, 429)},
    ),
    partial_update=extend_schema(
        summary="Change a team (managers)",
        request=TeamInputSerializer,
        responses={200: TeamSerializer, **error_responses(400, 401, 403, 404, 429)},
    ),
)
class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Teams: every agent reads them; managers create them and change who is in them."""

    serializer_class = TeamSerializer
    permission_classes = [IsAuthenticated, IsAgent, IsManagerOrReadOnly]
    pagination_class = None  # a desk has a handful of teams
    filter_backends: list = []
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Team]:
        return teams_with_members()

    def create(self, request: Request) -> Response:
        body = TeamInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        team = create_team(actor=request.user, **body.validated_data)
        return Response(
            TeamSerializer(self.get_queryset().get(pk=team.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    def partial_update(self, request: Request, pk: str) -> Response:
        team = self.get_object()
        body = TeamInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        update_team(team=team, actor=request.user, changes=body.validated_data)
        return Response(TeamSerializer(self.get_queryset().get(pk=team.pk)).data)
