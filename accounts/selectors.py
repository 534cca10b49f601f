"""Reads of people that several doors share, and who may change them."""

from django.db.models import QuerySet

from accounts.models import Team, User


def agents_directory() -> QuerySet[User]:
    """Every active agent, manager and admin, with their profile and teams loaded."""
    return (
        User.objects.filter(agent_profile__isnull=False, is_active=True)
        .select_related("agent_profile")
        .prefetch_related("agent_profile__teams")
        .order_by("username")
    )


def teams_with_members() -> QuerySet[Team]:
    return Team.objects.prefetch_related("members")


def may_manage_teams(user: User) -> bool:
    """Managers (and admins) create teams and change who is in them."""
    return user.is_authenticated and user.is_agent and user.is_manager


def may_edit_agent(actor: User, agent: User) -> bool:
    """An agent edits their own profile (availability, time zone, chat capacity); managers
    edit anyone's. Roles are changed in the admin only."""
    return actor.is_authenticated and actor.is_agent and (actor.pk == agent.pk or actor.is_manager)
