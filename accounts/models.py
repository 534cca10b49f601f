"""Who can sign in: agents (with a profile) and customers (linked from customers.Customer)."""

import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower


class User(AbstractUser):
    """One login. Whether it belongs to an agent or a customer is decided by its profile."""

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="user_email_unique_ci",
                condition=~models.Q(email=""),
                violation_error_message="A user with this email already exists.",
            )
        ]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    @property
    def is_agent(self) -> bool:
        """For templates (`{% if user.is_agent %}`); code calls `accounts.selectors.is_agent`,
        the one definition, which also answers for anonymous visitors."""
        from accounts.selectors import is_agent  # selectors import this module

        return is_agent(self)

    @property
    def is_manager(self) -> bool:
        profile = getattr(self, "agent_profile", None)
        return profile is not None and profile.role in {Role.MANAGER, Role.ADMIN}


class Role(models.TextChoices):
    AGENT = "agent", "Agent"
    MANAGER = "manager", "Manager"
    ADMIN = "admin", "Admin"


class Availability(models.TextChoices):
    ONLINE = "online", "Online"
    AWAY = "away", "Away"
    OFFLINE = "offline", "Offline"


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone.")


TEAM_NAME_MAX_LENGTH = 100


class Team(models.Model):
    name = models.CharField(max_length=TEAM_NAME_MAX_LENGTH, unique=True)
    description = models.TextField(blank=True)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="managed_teams",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AgentProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    teams = models.ManyToManyField(Team, related_name="members", blank=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    availability = models.CharField(
        max_length=16, choices=Availability.choices, default=Availability.OFFLINE, db_index=True
    )
    chat_capacity = models.PositiveSmallIntegerField(
        default=3, help_text="How many live chats this agent takes at once."
    )

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user.display_name} ({self.get_role_display()})"
