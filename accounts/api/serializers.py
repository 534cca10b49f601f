"""People and teams in and out of JSON."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Availability, Role, Team, User
from accounts.selectors import agents_directory
from accounts.services import MAX_CHAT_CAPACITY
from customers.api.serializers import OrganizationSummarySerializer, TierSerializer
from customers.models import Customer


class TokenRequestSerializer(serializers.Serializer):
    # No longer than a username can be: the sign-in lockout stores what was tried (varchar 255).
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")


class AgentSerializer(serializers.ModelSerializer):
    """An agent's directory entry. `id` is the user id (what tickets' `assignee` holds)."""

    display_name = serializers.CharField(read_only=True)
    role = serializers.ChoiceField(Role.choices, source="agent_profile.role", read_only=True)
    teams = serializers.SerializerMethodField()
    timezone = serializers.CharField(source="agent_profile.timezone", read_only=True)
    availability = serializers.ChoiceField(
        Availability.choices, source="agent_profile.availability", read_only=True
    )
    chat_capacity = serializers.IntegerField(source="agent_profile.chat_capacity", read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "display_name",
            "email",
            "role",
            "teams",
            "timezone",
            "availability",
            "chat_capacity",
        ]
        read_only_fields = fields

    def get_teams(self, user: User) -> list[int]:
        # From the prefetch cache (accounts.selectors.agents_directory).
        return sorted(team.pk for team in user.agent_profile.teams.all())


class AgentProfileInputSerializer(serializers.Serializer):
    availability = serializers.ChoiceField(Availability.choices, required=False)
    timezone = serializers.CharField(
        max_length=64, required=False, help_text="An IANA time zone, e.g. `Europe/Paris`."
    )
    chat_capacity = serializers.IntegerField(
        min_value=0, max_value=MAX_CHAT_CAPACITY, required=False
    )


class AvailabilityInputSerializer(serializers.Serializer):
    availability = serializers.ChoiceField(Availability.choices)


class TeamSerializer(serializers.ModelSerializer):
    members = serializers.SerializerMethodField(help_text="User ids of the team's agents.")

    class Meta:
        model = Team
        fields = ["id", "name", "description", "manager", "members", "created_at"]
        read_only_fields = fields

    def get_members(self, team: Team) -> list[int]:
        return sorted(profile.user_id for profile in team.members.all())


class TeamInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(allow_blank=True, required=False)
    manager = serializers.PrimaryKeyRelatedField(
        queryset=agents_directory(), allow_null=True, required=False, help_text="A user id."
    )
    members = serializers.PrimaryKeyRelatedField(
        queryset=agents_directory(),
        many=True,
        required=False,
        help_text="User ids of agents; replaces the team's members.",
    )


class OwnCustomerRecordSerializer(serializers.ModelSerializer):
    """What a signed-in customer sees of their own record (no agents' notes or tags)."""

    tier = TierSerializer(read_only=True)
    organization = OrganizationSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = Customer
        fields = ["id", "name", "email", "phone", "organization", "tier"]
        read_only_fields = fields


class AgentProfileSummarySerializer(serializers.Serializer):
    role = serializers.ChoiceField(Role.choices)
    teams = serializers.SerializerMethodField()
    timezone = serializers.CharField()
    availability = serializers.ChoiceField(Availability.choices)
    chat_capacity = serializers.IntegerField()

    def get_teams(self, profile) -> list[int]:
        return sorted(team.pk for team in profile.teams.all())


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
        if user.is_agent:
            return "agent"
        if getattr(user, "customer", None) is not None:
            return "customer"
        return "other"

    @extend_schema_field(AgentProfileSummarySerializer(allow_null=True))
    def get_agent(self, user: User) -> dict | None:
        if not user.is_agent:
            return None
        return AgentProfileSummarySerializer(user.agent_profile).data

    @extend_schema_field(OwnCustomerRecordSerializer(allow_null=True))
    def get_customer(self, user: User) -> dict | None:
        if user.is_agent:
            return None
        customer = getattr(user, "customer", None)
        return None if customer is None else OwnCustomerRecordSerializer(customer).data
