"""People and teams in and out of JSON."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import AuditEntry, Availability, Role, Team, User
from accounts.selectors import agents_directory
from accounts.services import MAX_CHAT_CAPACITY


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
        fields = ["id", "name", "description", "manager", "members", "is_active", "created_at"]
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


class AgentProfileSummarySerializer(serializers.Serializer):
    role = serializers.ChoiceField(Role.choices)
    teams = serializers.SerializerMethodField()
    timezone = serializers.CharField()
    availability = serializers.ChoiceField(Availability.choices)
    chat_capacity = serializers.IntegerField()

    def get_teams(self, profile) -> list[int]:
        return sorted(team.pk for team in profile.teams.all())


@extend_schema_field(
    {
        "type": "object",
        "description": "Each changed field: its value before and after (ids for rows, names "
        "for several rows). A new row has `from: null`.",
        "additionalProperties": {
            "type": "object",
            "properties": {"from": {}, "to": {}},
            "required": ["from", "to"],
        },
    }
)
class AuditChangesField(serializers.JSONField):
    pass


class AuditEntrySerializer(serializers.ModelSerializer):
    actor_name = serializers.SerializerMethodField(
        help_text="Who made the change; null for the system."
    )
    target_type = serializers.SerializerMethodField(
        help_text="`app_label.model`, e.g. `customers.customer` or `accounts.team`."
    )
    changes = AuditChangesField()

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "actor",
            "actor_name",
            "action",
            "target_type",
            "target_id",
            "target_label",
            "changes",
        ]
        read_only_fields = fields

    def get_actor_name(self, entry: AuditEntry) -> str | None:
        return entry.actor.display_name if entry.actor else None

    def get_target_type(self, entry: AuditEntry) -> str:
        return f"{entry.target_type.app_label}.{entry.target_type.model}"
