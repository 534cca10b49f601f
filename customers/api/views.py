"""Customers, organizations and tiers: the agents' customer directory; and who am I (`/me/`)."""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import IsAgent, IsAgentForCollection
from accounts.models import User
from core.api import FiltersTheListOnly, error_responses
from core.requests import AuthenticatedRequest
from customers.api.filters import CustomerFilter, OrganizationFilter
from customers.api.serializers import (
    CustomerInputSerializer,
    CustomerSerializer,
    MeSerializer,
    OrganizationInputSerializer,
    OrganizationSerializer,
    TierSerializer,
)
from customers.models import Customer, Organization, Tier
from customers.selectors import (
    customers_visible_to,
    organizations_with_counts,
    tiers_in_order,
)
from customers.services import (
    create_customer,
    create_organization,
    update_customer,
    update_organization,
)


class CustomerViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, FiltersTheListOnly, viewsets.GenericViewSet
):
    """The customer directory. Agents only: customers see their own record at /me/, and any
    customer record here is a 404 to them."""

    # (The docstring above is the schema's description of every operation here.)
    # One customer (read, created or changed) is shown by `detail_serializer_class`, read
    # through `with_details`. The endpoint is served by `tickets.api.customers`, which adds
    # each customer's ticket history there: this app knows nothing of tickets.

    detail_serializer_class: type[serializers.ModelSerializer] = CustomerSerializer

    permission_classes = [IsAuthenticated, IsAgentForCollection]
    filterset_class = CustomerFilter
    ordering_fields = ["name", "email", "created_at", "updated_at", "lifetime_value"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def with_details(self, customers: QuerySet[Customer]) -> QuerySet[Customer]:
        """What one customer's page loads beyond the list's columns."""
        return customers

    def get_queryset(self) -> QuerySet[Customer]:
        customers = customers_visible_to(self.request.user)
        if self.detail:
            customers = self.with_details(customers)
        return customers

    def get_serializer_class(self):
        return self.detail_serializer_class if self.detail else CustomerSerializer

    def _detail(self, customer: Customer) -> dict:
        return self.detail_serializer_class(
            self.with_details(customers_visible_to(self.request.user)).get(pk=customer.pk)
        ).data

    def create(self, request: AuthenticatedRequest[User]) -> Response:
        body = CustomerInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        customer = create_customer(actor=request.user, **body.validated_data)
        return Response(self._detail(customer), status=status.HTTP_201_CREATED)

    def partial_update(self, request: AuthenticatedRequest[User], pk: str) -> Response:
        customer = self.get_object()
        body = CustomerInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        update_customer(customer=customer, actor=request.user, changes=body.validated_data)
        return Response(self._detail(customer))


@extend_schema_view(
    list=extend_schema(
        summary="List organizations (agents)",
        responses={200: OrganizationSerializer, **error_responses(400, 401, 403, 404, 429)},
    ),
    retrieve=extend_schema(
        summary="An organization (agents)",
        responses={200: OrganizationSerializer, **error_responses(401, 403, 404, 429)},
    ),
    create=extend_schema(
        summary="Create an organization (agents)",
        request=OrganizationInputSerializer,
        responses={201: OrganizationSerializer, **error_responses(400, 401, 403, 429)},
    ),
    partial_update=extend_schema(
        summary="Change an organization (agents)",
        request=OrganizationInputSerializer,
        responses={200: OrganizationSerializer, **error_responses(400, 401, 403, 404, 429)},
    ),
)
class OrganizationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, FiltersTheListOnly, viewsets.GenericViewSet
):
    serializer_class = OrganizationSerializer
    permission_classes = [IsAuthenticated, IsAgent]
    filterset_class = OrganizationFilter
    ordering_fields = ["name", "created_at"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Organization]:
        return organizations_with_counts()

    def create(self, request: AuthenticatedRequest[User]) -> Response:
        body = OrganizationInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        organization = create_organization(actor=request.user, **body.validated_data)
        return Response(
            OrganizationSerializer(self.get_queryset().get(pk=organization.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    def partial_update(self, request: AuthenticatedRequest[User], pk: str) -> Response:
        organization = self.get_object()
        body = OrganizationInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        update_organization(
            organization=organization, actor=request.user, changes=body.validated_data
        )
        return Response(OrganizationSerializer(self.get_queryset().get(pk=organization.pk)).data)


@extend_schema_view(
    list=extend_schema(
        summary="List loyalty tiers, lowest rank first (agents)",
        responses={200: TierSerializer, **error_responses(401, 403, 429)},
    ),
    retrieve=extend_schema(
        summary="A loyalty tier (agents)",
        responses={200: TierSerializer, **error_responses(401, 403, 404, 429)},
    ),
)
class TierViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = TierSerializer
    permission_classes = [IsAuthenticated, IsAgent]
    pagination_class = None  # four or five tiers
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[Tier]:
        return tiers_in_order()


class MeView(APIView):
    """Who is signed in. Served here, not in accounts: a login is shown with its agent profile
    (accounts) or its customer record (this app)."""

    @extend_schema(
        operation_id="me",
        summary="Who am I",
        description="The signed-in user: an agent with their profile, or a customer with "
        "their own customer record.",
        responses={200: MeSerializer, **error_responses(401, 429)},
    )
    def get(self, request: AuthenticatedRequest[User]) -> Response:
        user = (
            User.objects.select_related("agent_profile", "customer__tier", "customer__organization")
            .prefetch_related("agent_profile__teams")
            .get(pk=request.user.pk)
        )
        return Response(MeSerializer(user).data)
