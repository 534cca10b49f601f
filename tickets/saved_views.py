"""Reads of saved queue views (the writes are in tickets.services.queue)."""

from django.db.models import Q, QuerySet

from accounts.models import User
from tickets.models import SavedView


def saved_views_for(user: User) -> QuerySet[SavedView]:
    """An agent's own saved views and those of the teams they belong to or manage."""
    if not (user.is_authenticated and user.is_agent):
        return SavedView.objects.none()
    return SavedView.objects.filter(
        Q(owner=user) | Q(team__in=user.agent_profile.teams.values("pk")) | Q(team__manager=user)
    ).distinct()
