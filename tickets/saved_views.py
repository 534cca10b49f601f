"""Reads of saved queue views (the writes are in tickets.services.queue)."""

from django.db.models import Q, QuerySet

from accounts.models import Team, User
from tickets.models import SavedView


def own_teams(user: User) -> QuerySet[Team]:
    """The teams an agent belongs to or manages: whose saved views they see, and (managers)
    the teams they may save a view for."""
    return Team.objects.filter(Q(members__user=user) | Q(manager=user)).distinct()


def saved_views_for(user: User) -> QuerySet[SavedView]:
    """An agent's own saved views and those of the teams they belong to or manage."""
    if not (user.is_authenticated and user.is_agent):
        return SavedView.objects.none()
    return SavedView.objects.filter(Q(owner=user) | Q(team__in=own_teams(user).values("pk")))
