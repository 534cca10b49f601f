"""Customers, organizations and tiers in and out of JSON. Input serializers check shapes only;
customers.services decides what may be written."""

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api.serializers import AgentProfileSummarySerializer
from accounts.models import User
from accounts.selectors import is_agent
from customers.models import Customer, Organization, Tier
from customers.services import TAG_MAX_LENGTH


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


# --- who am I -----------------------------------------------------------------------------------
# /me/ is served here, not in accounts: it shows a login with its agent profile (accounts) or its
# customer record (this app), and only this app knows both.


class OwnCustomerRecordSerializer(serializers.ModelSerializer):
    """What a signed-in customer sees of their own record (no agents' notes or tags)."""

    tier = TierSerializer(read_only=True)
    organization = OrganizationSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = Customer
        fields = ["id", "name", "email", "phone", "organization", "tier"]
        read_only_fields = fields


class MeSerializer(serializers.ModelSerializer):
    """Who is signed in. Agents get `agent` (and `customer` is null); customers the reverse."""

    display_name = serializers.CharField(read_only=True)
    kind = serializers.SerializerMethodField()
    agent = serializers.SerializerMethodField()
    customer = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "display_name", "email", "kind", "agent", "customer"]
        read_only_fields = fields

    @extend_schema_field(
        serializers.ChoiceField(
            choices=["agent", "customer", "other"],
            help_text="`other`: a login that is neither (e.g. a superuser without a profile).",
        )
    )
    def get_kind(self, user: User) -> str:
        if is_agent(user):
            return "agent"
        if getattr(user, "customer", None) is not None:
            return "customer"
        return "other"

    @extend_schema_field(AgentProfileSummarySerializer(allow_null=True))
    def get_agent(self, user: User) -> dict[str, Any] | None:
        if not is_agent(user):
            return None
        return AgentProfileSummarySerializer(user.agent_profile).data

    @extend_schema_field(OwnCustomerRecordSerializer(allow_null=True))
    def get_customer(self, user: User) -> dict[str, Any] | None:
        if is_agent(user):
            return None
        customer = getattr(user, "customer", None)
        return None if customer is None else OwnCustomerRecordSerializer(customer).data
