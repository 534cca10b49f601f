"""Live sockets follow the sign-in (see accounts.live): these receivers tell them when it
changes, whichever door changed it (a service, the admin, the API, a shell)."""

from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.live import end_session_streams, recheck_user_streams_on_commit
from accounts.models import AgentProfile, User


@receiver(user_logged_out, dispatch_uid="accounts.live.session_ended")
def close_streams_of_ended_session(
    sender: Any, request: HttpRequest, user: User | None, **kwargs: Any
) -> None:
    session_key = request.session.session_key if hasattr(request, "session") else None
    if session_key:
        end_session_streams(session_key)


@receiver(post_save, sender=User, dispatch_uid="accounts.live.user_saved")
@receiver(post_delete, sender=User, dispatch_uid="accounts.live.user_deleted")
def recheck_streams_of_user(sender: Any, instance: User, **kwargs: Any) -> None:
    # Deactivated, password changed (ends the user's other sessions), deleted. A save that
    # changes nothing that matters (last_login, a name) costs each of the user's sockets one
    # cheap check; new users have no sockets to ask.
    if kwargs.get("created") or kwargs.get("raw"):
        return
    if kwargs.get("update_fields") == frozenset({"last_login"}):
        return  # every sign-in saves this; it changes no one's access
    recheck_user_streams_on_commit(instance.pk)


@receiver(post_save, sender=AgentProfile, dispatch_uid="accounts.live.profile_saved")
@receiver(post_delete, sender=AgentProfile, dispatch_uid="accounts.live.profile_deleted")
def recheck_streams_of_agent(sender: Any, instance: AgentProfile, **kwargs: Any) -> None:
    # Role changed, retired, removed: whatever makes someone an agent, the socket asks again.
    if kwargs.get("raw"):
        return
    recheck_user_streams_on_commit(instance.user_id)
