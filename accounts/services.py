"""Every write to users' activation, agent profiles and teams, and the audit trail that records
who changed them (and customers and organizations, for `customers.services`). Callers have
checked access (accounts.selectors.may_edit_agent / may_manage_teams); the rules about what is
written live here."""

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from accounts.models import (
    TEAM_NAME_MAX_LENGTH,
    AgentProfile,
    AuditAction,
    AuditEntry,
    Availability,
    Role,
    Team,
    User,
    validate_timezone,
)
from accounts.selectors import is_agent
from core.errors import RuleBroken

MAX_CHAT_CAPACITY = 20
# What an agent (or their manager) changes from the API; the admin also sets role and teams.
SELF_SERVICE_PROFILE_FIELDS = {"availability", "timezone", "chat_capacity"}
PROFILE_FIELDS = SELF_SERVICE_PROFILE_FIELDS | {"role", "teams"}
TEAM_FIELDS = {"name", "description", "manager", "members"}


# --- the audit trail ----------------------------------------------------------------------------


def audit_value(value: Any) -> Any:
    """A field's value as the audit stores it (JSON): rows by id, several rows as their sorted
    names, decimals and times as text."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset | models.QuerySet):
        return sorted(str(item) for item in value)
    return value


def audit_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """{"field": {"from": old, "to": new}} for each field whose audit value differs."""
    changes: dict[str, Any] = {}
    for field, new in after.items():
        old = before.get(field)
        if isinstance(old, Decimal) and isinstance(new, Decimal | int) and old == new:
            continue  # 10.00 is 10
        old_value, new_value = audit_value(old), audit_value(new)
        if old_value != new_value:
            changes[field] = {"from": old_value, "to": new_value}
    return changes


def audit_created(values: Mapping[str, Any]) -> dict[str, Any]:
    """What a new row was made with: its fields that are not empty."""
    return {
        field: {"from": None, "to": audit_value(value)}
        for field, value in values.items()
        if value not in (None, "", [], ())
    }


def record_audit(
    *, actor: User | None, target: models.Model, action: str, changes: dict[str, Any]
) -> AuditEntry:
    """Write one audit entry; call it inside the transaction that makes the change."""
    return AuditEntry.objects.create(
        actor=actor if actor is not None and actor.pk is not None else None,
        target_type=ContentType.objects.get_for_model(target, for_concrete_model=True),
        target_id=target.pk,
        target_label=str(target)[:200],
        action=action,
        changes=changes,
    )


# --- users and agent profiles -------------------------------------------------------------------


def _check_profile_changes(changes: Mapping[str, Any]) -> None:
    if "availability" in changes and changes["availability"] not in Availability.values:
        raise RuleBroken("availability", f"{changes['availability']!r} is not an availability.")
    if "role" in changes and changes["role"] not in Role.values:
        raise RuleBroken("role", f"{changes['role']!r} is not a role.")
    if "timezone" in changes:
        try:
            validate_timezone(changes["timezone"])
        except ValidationError as error:
            raise RuleBroken("timezone", error.messages[0]) from error
    if "chat_capacity" in changes and not 0 <= changes["chat_capacity"] <= MAX_CHAT_CAPACITY:
        raise RuleBroken("chat_capacity", f"Chat capacity is between 0 and {MAX_CHAT_CAPACITY}.")


def _refuse_archived(teams: Iterable[Team]) -> None:
    archived = sorted(team.name for team in teams if not team.is_active)
    if archived:
        raise RuleBroken("teams", f"{', '.join(archived)}: archived teams take no new members.")


def _profile_values(profile: AgentProfile) -> dict[str, Any]:
    values: dict[str, Any] = {
        field: getattr(profile, field) for field in PROFILE_FIELDS - {"teams"}
    }
    values["teams"] = [team.name for team in profile.teams.all()] if profile.pk else []
    return values


@transaction.atomic
def make_agent(*, user: User, actor: User | None, **fields: Any) -> AgentProfile:
    """Give a login an agent profile (role, teams, time zone, availability, chat capacity)."""
    unknown = set(fields) - PROFILE_FIELDS
    if unknown:
        raise ValueError(f"make_agent cannot set {sorted(unknown)}")
    user = User.objects.select_for_update().get(pk=user.pk)
    if AgentProfile.objects.filter(user=user).exists():
        raise RuleBroken("user", f"{user.username} is an agent already.")
    _check_profile_changes(fields)
    teams = list(fields.pop("teams", ()))
    _refuse_archived(teams)
    profile = AgentProfile(user=user, **fields)
    profile.save()
    profile.teams.set(teams)
    after = {field: getattr(profile, field) for field in PROFILE_FIELDS - {"teams"}}
    after["teams"] = [team.name for team in teams]
    record_audit(
        actor=actor,
        target=profile,
        action=AuditAction.CREATED,
        changes=audit_created(after),
    )
    return profile


@transaction.atomic
def update_agent_profile(
    *, agent: User, actor: User | None, changes: dict[str, Any]
) -> AgentProfile:
    """Change an agent's availability, time zone or chat capacity (and, from the admin, their
    role and teams)."""
    unknown = set(changes) - PROFILE_FIELDS
    if unknown:
        raise ValueError(f"update_agent_profile cannot change {sorted(unknown)}")
    profile = AgentProfile.objects.select_for_update().get(user=agent)
    _check_profile_changes(changes)
    changes = dict(changes)
    teams = list(changes.pop("teams")) if "teams" in changes else None
    before = (
        _profile_values(profile)
        if teams is not None
        else {field: getattr(profile, field) for field in changes}
    )
    if teams is not None:
        _refuse_archived(set(teams) - set(profile.teams.all()))
    changed = [field for field, value in changes.items() if getattr(profile, field) != value]
    for field in changed:
        setattr(profile, field, changes[field])
    if changed:
        profile.save(update_fields=changed)
    after = {field: changes[field] for field in changed}
    if teams is not None:
        after["teams"] = [team.name for team in teams]
        if audit_value(after["teams"]) != audit_value(before["teams"]):
            profile.teams.set(teams)
    recorded = audit_changes(before, after)
    if recorded:
        record_audit(actor=actor, target=profile, action=AuditAction.CHANGED, changes=recorded)
    return profile


def set_agent_availability(*, agent: User, availability: str) -> AgentProfile:
    """Online, away or offline: what live chat routing (a later issue) reads."""
    return update_agent_profile(agent=agent, actor=agent, changes={"availability": availability})


@transaction.atomic
def set_user_active(*, user: User, active: bool, actor: User | None) -> User:
    """Deactivate a login (it can no longer sign in, and an agent stops working tickets) or
    reactivate it. Logins are never deleted: their name stays on the tickets, messages and
    audit entries they wrote. Tickets assigned to a deactivated agent stay assigned (nothing
    changes behind anyone's back); the queue's assignee filter finds them."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_active == active:
        return user
    if not active and actor is not None and actor.pk == user.pk:
        raise RuleBroken("is_active", "You cannot deactivate yourself.")
    user.is_active = active
    user.save(update_fields=["is_active"])
    record_audit(
        actor=actor,
        target=user,
        action=AuditAction.REACTIVATED if active else AuditAction.DEACTIVATED,
        changes={"is_active": {"from": not active, "to": active}},
    )
    return user


def _clean_team_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise RuleBroken("name", "A team needs a name.")
    if len(name) > TEAM_NAME_MAX_LENGTH:
        raise RuleBroken("name", f"A team name is at most {TEAM_NAME_MAX_LENGTH} characters.")
    return name


def _refuse_taken_team_name(name: str, *, other_than: Team | None = None) -> None:
    taken = Team.objects.filter(name__iexact=name)
    if other_than is not None:
        taken = taken.exclude(pk=other_than.pk)
    if taken.exists():
        raise RuleBroken("name", "A team with this name already exists.")


def _require_agent(user: User | None, field: str) -> None:
    if user is not None and not is_agent(user):
        raise RuleBroken(field, f"{user.username} is not an active agent.")


def _require_active_team(team: Team) -> None:
    if not team.is_active:
        raise RuleBroken("non_field_errors", f"{team.name} is archived; restore it first.")


def _agents(users: Iterable[User]) -> list[User]:
    users = list(users)
    for user in users:
        _require_agent(user, "members")
    return users


def _save_team(team: Team, *, update_fields: list[str] | None = None) -> None:
    try:
        with transaction.atomic():  # a concurrent team of the same name is a 400, not a 500
            team.save(update_fields=update_fields)
    except IntegrityError:
        _refuse_taken_team_name(team.name, other_than=team if team.pk else None)
        raise


@transaction.atomic
def create_team(
    *,
    name: str,
    actor: User | None,
    description: str = "",
    manager: User | None = None,
    members: Iterable[User] = (),
) -> Team:
    name = _clean_team_name(name)
    _refuse_taken_team_name(name)
    _require_agent(manager, "manager")
    agents = _agents(members)
    team = Team(name=name, description=description or "", manager=manager)
    _save_team(team)
    team.members.set([agent.agent_profile for agent in agents])
    after = {
        "name": team.name,
        "description": team.description,
        "manager": manager,
        "members": [agent.username for agent in agents],
    }
    record_audit(
        actor=actor,
        target=team,
        action=AuditAction.CREATED,
        changes=audit_created(after),
    )
    return team


@transaction.atomic
def update_team(*, team: Team, actor: User | None, changes: dict[str, Any]) -> Team:
    """Rename a team, change its manager or description, or replace its members."""
    unknown = set(changes) - TEAM_FIELDS
    if unknown:
        raise ValueError(f"update_team cannot change {sorted(unknown)}")
    team = Team.objects.select_for_update().get(pk=team.pk)
    _require_active_team(team)
    changes = dict(changes)
    if "name" in changes:
        changes["name"] = _clean_team_name(changes["name"])
        _refuse_taken_team_name(changes["name"], other_than=team)
    if "manager" in changes:
        _require_agent(changes["manager"], "manager")
    if "description" in changes:
        changes["description"] = changes["description"] or ""
    members = _agents(changes.pop("members")) if "members" in changes else None
    before: dict[str, Any] = {field: getattr(team, field) for field in changes}
    after: dict[str, Any] = dict(changes)
    for field, value in changes.items():
        setattr(team, field, value)
    if changes:
        _save_team(team, update_fields=list(changes))
    if members is not None:
        before["members"] = list(
            User.objects.filter(agent_profile__teams=team).values_list("username", flat=True)
        )
        after["members"] = [agent.username for agent in members]
        team.members.set([agent.agent_profile for agent in members])
    recorded = audit_changes(before, after)
    if recorded:
        record_audit(actor=actor, target=team, action=AuditAction.CHANGED, changes=recorded)
    return team


@transaction.atomic
def set_team_active(*, team: Team, active: bool, actor: User | None) -> Team:
    """Archive a team (it keeps its tickets, members and history, but takes no new tickets and
    cannot be edited) or restore it. Teams are never deleted: deleting one would silently take
    every ticket out of its queue."""
    team = Team.objects.select_for_update().get(pk=team.pk)
    if team.is_active == active:
        return team
    team.is_active = active
    team.save(update_fields=["is_active"])
    record_audit(
        actor=actor,
        target=team,
        action=AuditAction.RESTORED if active else AuditAction.ARCHIVED,
        changes={"is_active": {"from": not active, "to": active}},
    )
    return team
