"""Who can sign in: agents (with a profile) and customers (linked from customers.Customer)."""

import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower

from core.append_only import AppendOnly


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
    # Archived teams keep their tickets and history but take no new tickets or members.
    is_active = models.BooleanField(default=True, help_text="Unset when the team is archived.")
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

    @property
    def is_active_agent(self) -> bool:
        return self.user.is_active


class AuditAction(models.TextChoices):
    CREATED = "created", "Created"
    CHANGED = "changed", "Changed"
    DEACTIVATED = "deactivated", "Deactivated"
    REACTIVATED = "reactivated", "Reactivated"
    ARCHIVED = "archived", "Archived"
    RESTORED = "restored", "Restored"


class AuditEntry(AppendOnly):
    """Append-only audit of people, teams, customers and organizations: who changed what, from
    what, to what, and when. Written by the services in the same transaction as the change
    (`accounts.services.record_audit`); tickets keep their own trail (TicketEvent)."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    at = models.DateTimeField(auto_now_add=True)
    target_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    target_id = models.PositiveBigIntegerField()
    # What the target was called at the time (it may be renamed later).
    target_label = models.CharField(max_length=200)
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    # {"field": {"from": old, "to": new}, ...}
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["target_type", "target_id", "-at"], name="audit_target_at"),
            models.Index(fields=["actor", "-at"], name="audit_actor_at"),
            models.Index(fields=["-at", "-id"], name="audit_at"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_label}"
