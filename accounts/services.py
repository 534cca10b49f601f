"""Every write to agent profiles and teams. Callers have checked access
(accounts.selectors.may_edit_agent / may_manage_teams); the rules about what is written live
here."""

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import (
    TEAM_NAME_MAX_LENGTH,
    AgentProfile,
    Availability,
    Team,
    User,
    validate_timezone,
)
from accounts.selectors import is_agent
from core.errors import RuleBroken

MAX_CHAT_CAPACITY = 20
PROFILE_FIELDS = {"availability", "timezone", "chat_capacity"}
TEAM_FIELDS = {"name", "description", "manager", "members"}


@transaction.atomic
def update_agent_profile(
    *, agent: User, actor: User | None, changes: dict[str, Any]
) -> AgentProfile:
    """Change an agent's availability, time zone or chat capacity."""
    unknown = set(changes) - PROFILE_FIELDS
    if unknown:
        raise ValueError(f"update_agent_profile cannot change {sorted(unknown)}")
    profile = AgentProfile.objects.select_for_update().get(user=agent)
    if "availability" in changes and changes["availability"] not in Availability.values:
        raise RuleBroken("availability", f"{changes['availability']!r} is not an availability.")
    if "timezone" in changes:
        try:
            validate_timezone(changes["timezone"])
        except ValidationError as error:
            raise RuleBroken("timezone", error.messages[0]) from error
    if "chat_capacity" in changes and not 0 <= changes["chat_capacity"] <= MAX_CHAT_CAPACITY:
        raise RuleBroken("chat_capacity", f"Chat capacity is between 0 and {MAX_CHAT_CAPACITY}.")
    changed = [field for field, value in changes.items() if getattr(profile, field) != value]
    for field in changed:
        setattr(profile, field, changes[field])
    if changed:
        profile.save(update_fields=changed)
    return profile


def set_agent_availability(*, agent: User, availability: str) -> AgentProfile:
    """Online, away or offline: what live chat routing (a later issue) reads."""
    return update_agent_profile(agent=agent, actor=agent, changes={"availability": availability})


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
    return team


@transaction.atomic
def update_team(*, team: Team, actor: User | None, changes: dict[str, Any]) -> Team:
    """Rename a team, change its manager or description, or replace its members."""
    unknown = set(changes) - TEAM_FIELDS
    if unknown:
        raise ValueError(f"update_team cannot change {sorted(unknown)}")
    team = Team.objects.select_for_update().get(pk=team.pk)
    changes = dict(changes)
    if "name" in changes:
        changes["name"] = _clean_team_name(changes["name"])
        _refuse_taken_team_name(changes["name"], other_than=team)
    if "manager" in changes:
        _require_agent(changes["manager"], "manager")
    if "description" in changes:
        changes["description"] = changes["description"] or ""
    members = _agents(changes.pop("members")) if "members" in changes else None
    for field, value in changes.items():
        setattr(team, field, value)
    if changes:
        _save_team(team, update_fields=list(changes))
    if members is not None:
        team.members.set([agent.agent_profile for agent in members])
    return team
