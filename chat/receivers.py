"""Routing hears about agents from accounts without accounts knowing about chat (accounts sits
below chat): an agent going online, away or offline, raising their capacity or joining a team
changes who can take a waiting chat, whichever door made the change (the header's availability
control, the API, the admin)."""

from typing import Any

from django.db import transaction
from django.db.models.signals import m2m_changed, post_save
from django.dispatch import receiver

from accounts.models import AgentProfile
from chat.signals import conversation_ended

ROUTING_FIELDS = {"availability", "chat_capacity"}


def _after_commit(user_id: int) -> None:
    from accounts.models import User
    from chat import routing_engine  # models are ready by the time a signal fires

    def reroute() -> None:
        user = User.objects.filter(pk=user_id).first()
        if user is not None:
            routing_engine.availability_changed(agent=user)

    # robust: a routing hiccup after the profile change committed must not fail the request;
    # the worker's sweep back-fills within seconds.
    transaction.on_commit(reroute, robust=True)


@receiver(post_save, sender=AgentProfile, dispatch_uid="chat.routing.profile_saved")
def reroute_after_profile_change(sender: Any, instance: AgentProfile, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    fields = kwargs.get("update_fields")
    if fields is not None and not (set(fields) & ROUTING_FIELDS):
        return
    _after_commit(instance.user_id)


@receiver(m2m_changed, sender=AgentProfile.teams.through, dispatch_uid="chat.routing.teams")
def reroute_after_team_change(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    if isinstance(instance, AgentProfile):
        _after_commit(instance.user_id)


@receiver(conversation_ended, dispatch_uid="chat.routing.conversation_ended")
def free_capacity_after_a_chat_ends(sender: Any, conversation: Any, **kwargs: Any) -> None:
    # Sent inside end_conversation's transaction (which holds the ticket and conversation
    # locks): routing waits for the commit, then counts and back-fills (routing_engine).
    from chat import routing_engine

    routing_engine.capacity_freed(conversation=conversation)
