"""Customers, organizations and tiers in and out of JSON. Input serializers check shapes only;
customers.services decides what may be written."""

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from customers.models import Customer, Organization, Tier
from customers.services import TAG_MAX_LENGTH
from tickets.models import Priority, Status, Ticket


class TierSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tier
        fields = ["id", "name", "slug", "rank", "description"]
        read_only_fields = fields


class OrganizationSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name"]
        read_only_fields = fields


class OrganizationSerializer(serializers.ModelSerializer):
    customer_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Organization
        fields = ["id", "name", "domain", "notes", "customer_count", "created_at"]
        read_only_fields = fields


class OrganizationInputSerializer(serializers.Serializer):
    # No model validators here: the name's uniqueness is the service's rule, answered on "name".
    name = serializers.CharField(max_length=200)
    domain = serializers.CharField(max_length=253, allow_blank=True, required=False)
    notes = serializers.CharField(allow_blank=True, required=False)


class RecentTicketSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(choices=Status.choices, read_only=True)
    priority = serializers.ChoiceField(choices=Priority.choices, read_only=True)

    class Meta:
        model = Ticket
        fields = ["id", "reference", "subject", "status", "priority", "created_at", "updated_at"]
        read_only_fields = fields


class CustomerSerializer(serializers.ModelSerializer):
    tier = TierSerializer(read_only=True)
    organization = OrganizationSummarySerializer(read_only=True, allow_null=True)
    tags = serializers.SerializerMethodField()
    has_login = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = [
            "id",
            "name",
            "email",
            "phone",
            "external_id",
            "organization",
            "tier",
            "lifetime_value",
            "tags",
            "notes",
            "has_login",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_tags(self, customer: Customer) -> list[str]:
        # Read from the prefetch cache; .values_list() would cost a query per customer.
        return sorted(tag.name for tag in customer.tags.all())

    def get_has_login(self, customer: Customer) -> bool:
        return customer.user_id is not None


class CustomerDetailSerializer(CustomerSerializer):
    open_ticket_count = serializers.IntegerField(
        read_only=True, help_text="Tickets not yet solved (new, open, pending, on hold)."
    )
    solved_ticket_count = serializers.IntegerField(
        read_only=True, help_text="Solved and closed tickets."
    )
    recent_tickets = RecentTicketSerializer(
        many=True, read_only=True, help_text="The five most recent tickets, newest first."
    )

    class Meta(CustomerSerializer.Meta):
        fields = [
            *CustomerSerializer.Meta.fields,
            "open_ticket_count",
            "solved_ticket_count",
            "recent_tickets",
        ]
        read_only_fields = fields


class SlugField(serializers.SlugRelatedField):
    """A row named by its slug. A NUL byte is a bad value, not a database error (PostgreSQL
    text cannot hold one, and the lookup runs before any validator would see it)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and "\x00" in data:
            self.fail("invalid")
        return super().to_internal_value(data)


class CustomerInputSerializer(serializers.Serializer):
    """What an agent sends to create (POST) or change (PATCH) a customer."""

    name = serializers.CharField(max_length=200)
    email = serializers.EmailField(max_length=254)
    phone = serializers.CharField(max_length=40, allow_blank=True, required=False)
    external_id = serializers.CharField(
        max_length=100,
        allow_blank=True,
        allow_null=True,
        required=False,
        help_text="The shop platform's id for this customer; unique.",
    )
    organization = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.all(), allow_null=True, required=False
    )
    tier = SlugField(
        slug_field="slug",
        queryset=Tier.objects.all(),
        required=False,
        help_text="The tier's slug (e.g. `gold`); a new customer without one starts on the "
        "base tier.",
    )
    lifetime_value = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0"), required=False
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=TAG_MAX_LENGTH),
        required=False,
        help_text="Tag names; new ones are created. Replaces the customer's tags.",
    )
    notes = serializers.CharField(allow_blank=True, required=False)
