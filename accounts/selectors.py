"""Reads of people that several doors share, and who may change them."""

from typing import TypeAlias, TypeGuard

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from accounts.models import Team, User

# Whoever a request comes from: a signed-in user or an anonymous visitor.
AnyUser: TypeAlias = User | AnonymousUser


def is_agent(user: AnyUser | None) -> TypeGuard[User]:
    """The one answer to "does this person work tickets?": a signed-in, active login with an
    agent profile (agents, managers and admins). Anonymous visitors, customers and superusers
    without a profile are not agents. Reading the profile costs a query unless it was loaded
    with the user (token authentication loads it)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return getattr(user, "agent_profile", None) is not None


def signed_in(user: AnyUser) -> User:
    """The user of a door that only signed-in people reach (the admin, API views behind
    IsAuthenticated), as a `User`. An anonymous visitor never gets this far; if one did, they
    are refused (403) rather than recorded as nobody."""
    if not isinstance(user, User):
        raise PermissionDenied("Sign in first.")
    return user


def active_agents() -> QuerySet[User]:
    """Everyone `is_agent` says yes to, as a query: who can be given a ticket or a team."""
    return User.objects.filter(agent_profile__isnull=False, is_active=True)


def agents_directory() -> QuerySet[User]:
    """Every active agent, manager and admin, with their profile and teams loaded."""
    return (
        active_agents()
        .select_related("agent_profile")
        .prefetch_related("agent_profile__teams")
        .order_by("username")
    )


def teams_with_members() -> QuerySet[Team]:
    return Team.objects.prefetch_related("members")


def may_manage_teams(user: AnyUser) -> bool:
    """Managers (and admins) create teams and change who is in them."""
    return is_agent(user) and user.is_manager


def may_edit_agent(actor: AnyUser, agent: User) -> bool:
    """An agent edits their own profile (availability, time zone, chat capacity); managers
    edit anyone's. Roles are changed in the admin only."""
    return is_agent(actor) and (actor.pk == agent.pk or actor.is_manager)
