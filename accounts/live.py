"""A person's live sockets follow their sign-in: where to reach them, when to tell them, and the
one check that decides whether a session still carries a user.

Every live socket of a signed-in user (today the agent event stream, `tickets.consumers`) joins
two channel-layer groups: one for the user and one for the session it was opened with. Accounts
does not know what the sockets carry; it only tells them, after the change committed:

- `{"type": "stream.session_ended"}` to a session's sockets when that session signs out
  (Django's `user_logged_out`): the socket closes at once.
- `{"type": "stream.recheck"}` to a user's sockets when the user or their agent profile is saved
  or deleted (deactivated, role changed, retired, password changed, removed): each socket runs
  its own access check again (`signed_in_user` plus whatever the socket requires) and closes if
  it no longer passes. Sending "look again" rather than a verdict keeps the rule in one place,
  so a new way to stop being an agent needs no change here.

Paths that bypass signals (`QuerySet.update`, a session that simply expires, a row deleted by
hand) are caught by the periodic re-check of every live socket of a process, in one batch
(`signed_in_users`, asked by tickets.rechecks).
"""

import hashlib
import logging
from collections.abc import Iterable, Iterator, Mapping
from importlib import import_module
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.models import User

logger = logging.getLogger(__name__)

SESSION_ENDED = "stream.session_ended"
RECHECK = "stream.recheck"
BATCH_SIZE = 500  # keys or ids in one IN (...): far below any database's parameter limit


def user_streams_group(user_id: int) -> str:
    """The channel-layer group every live socket of this user joins."""
    return f"accounts.user.{int(user_id)}"


def session_streams_group(session_key: str) -> str:
    """The group of the sockets opened with this session. The key itself never leaves the
    process (group names travel through Redis as channel names): only a digest of it does."""
    digest = hashlib.sha256(session_key.encode()).hexdigest()[:40]
    return f"accounts.session.{digest}"


def _publish(group: str, message_type: str) -> None:
    try:
        layer = get_channel_layer()
        if layer is None:
            raise RuntimeError("CHANNEL_LAYERS is not configured")
        async_to_sync(layer.group_send)(group, {"type": message_type})
    except Exception:
        # The change itself committed; a broken channel layer must not turn it into a 500.
        # The sockets' periodic re-check closes them a little later instead.
        logger.exception("Could not tell %s: %s", group, message_type)


def end_session_streams(session_key: str) -> None:
    """Close the sockets of a session that is ending now (sign-out). Sent at once, not after
    commit: the session is flushed right after the signal, outside any transaction."""
    _publish(session_streams_group(session_key), SESSION_ENDED)


def recheck_user_streams_on_commit(user_id: int) -> None:
    """Ask every socket of this user to run its access check again, once this transaction's
    change is visible to the check (i.e. after commit)."""
    transaction.on_commit(lambda: _publish(user_streams_group(user_id), RECHECK))


def _session_store(session_key: str) -> Any:
    engine = import_module(settings.SESSION_ENGINE)
    return engine.SessionStore(session_key=session_key)


def signed_in_user(session_key: str | None, user_id: int | None = None) -> User | None:
    """The user this session is still signed in as, read fresh from the database (with the
    agent profile), or None when the session ended: signed out, flushed, expired, deleted, its
    user gone, or the user's password changed since (Django's session hash). With `user_id`,
    a session now signed in as someone else also counts as ended.

    Unlike `django.contrib.auth.get_user`, a deactivated user is still returned: "your session
    ended" and "you may no longer be here" are different answers for the caller."""
    if not session_key:
        return None
    session = _session_store(session_key)
    stored_id = _claimed_id(session, user_id)  # an ended or expired session reads as empty
    if stored_id is None:
        return None
    try:
        user = User._default_manager.select_related("agent_profile").filter(pk=stored_id).first()
    except Exception:  # an id the database cannot hold: treat the session as ended
        logger.warning("Session holds an unreadable user id")
        return None
    return user if user is not None and _hash_holds(session, user) else None


def signed_in_users(claims: Iterable[tuple[str, int]]) -> dict[tuple[str, int], User | None]:
    """`signed_in_user(session_key, user_id)` for many (session key, user id) claims at once,
    the same answer for each, in a fixed number of queries whatever their number: the
    session rows by key and the users (with agent profiles) by id, `BATCH_SIZE` to a query.
    The periodic re-check of every live socket of a process asks this (tickets.rechecks).

    Sessions stored elsewhere than in the database (a cache or cookie engine) are read one
    by one, as `signed_in_user` reads them."""
    claims = list(dict.fromkeys(claims))
    answers: dict[tuple[str, int], User | None] = dict.fromkeys(claims)
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(store, "get_model_class"):
        for key, user_id in claims:
            answers[key, user_id] = signed_in_user(key, user_id)
        return answers

    # What Django's database session store reads: a row by key that has not expired yet.
    model = store.get_model_class()
    now = timezone.now()
    sessions: dict[str, Any] = {}
    keys = sorted({key for key, _ in claims if key})
    for chunk in _chunks(keys):
        for key, data in model.objects.filter(
            session_key__in=chunk, expire_date__gt=now
        ).values_list("session_key", "session_data"):
            sessions[key] = store().decode(data)
    claimed = {
        (key, user_id): stored_id
        for key, user_id in claims
        if key in sessions and (stored_id := _claimed_id(sessions[key], user_id)) is not None
    }
    users: dict[Any, User] = {}
    for chunk in _chunks(sorted(set(claimed.values()))):
        for user in User._default_manager.select_related("agent_profile").filter(pk__in=chunk):
            users[user.pk] = user
    for (key, user_id), stored_id in claimed.items():
        found = users.get(stored_id)
        if found is not None and _hash_holds(sessions[key], found):
            answers[key, user_id] = found
    return answers


def _claimed_id(session: Mapping[str, Any], user_id: int | None) -> Any:
    """The user id a session is signed in as, in the primary key's own type, or None when it
    is signed in as no one (or, given `user_id`, as someone else)."""
    stored_id = session.get(SESSION_KEY)
    if stored_id is None or (user_id is not None and str(stored_id) != str(user_id)):
        return None
    try:
        return User._meta.pk.to_python(stored_id)
    except ValidationError:  # a malformed id in the session row: treat the session as ended
        logger.warning("Session holds an unreadable user id")
        return None


def _hash_holds(session: Mapping[str, Any], user: User) -> bool:
    """Was the session signed in with the user's current password (Django's session hash)?"""
    session_hash = session.get(HASH_SESSION_KEY) or ""
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return bool(session_hash) and any(constant_time_compare(session_hash, h) for h in hashes)


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), BATCH_SIZE):
        yield items[start : start + BATCH_SIZE]
