"""The customer directory's endpoint (`/api/v1/customers/`), served from tickets: one customer's
record carries their ticket counts and latest tickets, which only this app knows about. The
directory itself (who may see it, filters, writes) is `customers.api.views.CustomerViewSet`."""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view

from core.api import error_responses
from customers.api.serializers import CustomerInputSerializer, CustomerSerializer
from customers.api.views import CustomerViewSet
from customers.models import Customer
from tickets.api.serializers import CustomerDetailSerializer
from tickets.selectors import customers_with_ticket_history


@extend_schema_view(
    list=extend_schema(
        summary="List customers (agents)",
        responses={200: CustomerSerializer, **error_responses(400, 401, 403, 404, 429)},
    ),
    retrieve=extend_schema(
        summary="A customer, with ticket counts and recent tickets (agents)",
        responses={200: CustomerDetailSerializer, **error_responses(401, 403, 404, 429)},
    ),
    create=extend_schema(
        summary="Create a customer (agents)",
        request=CustomerInputSerializer,
        responses={201: CustomerDetailSerializer, **error_responses(400, 401, 403, 429)},
    ),
    partial_update=extend_schema(
        summary="Change a customer (agents)",
        request=CustomerInputSerializer,
        responses={200: CustomerDetailSerializer, **error_responses(400, 401, 403, 404, 429)},
    ),
)
class CustomerWithTicketsViewSet(CustomerViewSet):
    detail_serializer_class = CustomerDetailSerializer

    def with_details(self, customers: QuerySet[Customer]) -> QuerySet[Customer]:
        return customers_with_ticket_history(customers)
