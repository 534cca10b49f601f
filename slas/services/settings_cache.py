"""Per-process caches of what does not change per message: the active SLA policies (with their
targets and calendar) and the active escalation rules.

Each entry is kept under the settings stamp (slas.models.SettingsStamp) it was loaded with, and
used only while the stamp read by the caller, in its own transaction, is the same. Every write
of a policy, its targets, a calendar or a rule changes the stamp (slas.receivers), so a process
never serves settings older than the stamp it has just read: a save is seen by every process
from its commit on. The stamp is read in the clock engine's query of a ticket's clocks
(slas.services.ticket_clocks), so a hit costs no query at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import Subquery

from slas.models import EscalationRule, SettingsStamp, SlaPolicy
from slas.services._common import active_policies

STAMP_ROW = 1
T = TypeVar("T")

# name -> (stamp it was loaded under, value). Plain dict operations are atomic under the GIL;
# two threads missing at once both load, and either result is right for that stamp.
_ENTRIES: dict[str, tuple[uuid.UUID | None, Any]] = {}


def stamp_subquery() -> Subquery:
    """The current stamp, as an annotation for a query the caller makes anyway."""
    return Subquery(SettingsStamp.objects.filter(pk=STAMP_ROW).values("stamp")[:1])


def current_stamp() -> uuid.UUID | None:
    """The stamp on its own (one query), for callers with no query to carry it."""
    return SettingsStamp.objects.filter(pk=STAMP_ROW).values_list("stamp", flat=True).first()


def bump_stamp() -> None:
    """Mark the SLA settings changed, inside the writing transaction: other processes see the
    new stamp (and reload) from its commit; a rollback restores the old one, whose entries are
    still right."""
    fresh = uuid.uuid4()
    if not SettingsStamp.objects.filter(pk=STAMP_ROW).update(stamp=fresh):
        # The migration creates the row; only a flushed test database lacks it.
        SettingsStamp.objects.create(pk=STAMP_ROW, stamp=fresh)


def _cached(name: str, stamp: uuid.UUID | None, load: Callable[[], T]) -> T:
    entry = _ENTRIES.get(name)
    if entry is not None and stamp is not None and entry[0] == stamp:
        value: T = entry[1]
        return value
    value = load()
    _ENTRIES[name] = (stamp, value)
    return value


def cached_active_policies(stamp: uuid.UUID | None) -> list[SlaPolicy]:
    """`active_policies()` as of `stamp`. The instances are shared: read them, never change
    them."""
    return _cached("policies", stamp, active_policies)


def cached_active_rules(stamp: uuid.UUID | None) -> list[EscalationRule]:
    """The active escalation rules in position order, as of `stamp` (shared: read only)."""
    return _cached(
        "rules",
        stamp,
        lambda: list(EscalationRule.objects.filter(is_active=True).order_by("position", "id")),
    )


def forget_cached_settings() -> None:
    _ENTRIES.clear()
