"""SLA policies: which tickets they apply to, their targets per priority, and their versions.

A policy change applies to targets that start after it; running and finished clocks keep the
version they started under (docs/slas.md), so every save writes a PolicyVersion snapshot the
clock engine and the ledger read.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import Team, User
from core.errors import RuleBroken
from customers.models import Organization, Tag, Tier
from slas.models import BusinessCalendar, PolicyTarget, PolicyVersion, SlaPolicy
from tickets.models import Channel, Priority, TicketType

POLICY_FIELDS = frozenset(
    {
        "name",
        "description",
        "position",
        "is_default",
        "is_active",
        "conditions",
        "calendar",
        "pause_on_hold",
        "targets",
    }
)
CONDITION_KEYS = ("tiers", "organizations", "teams", "channels", "types", "tags")
TARGET_KEYS = ("first_reply_minutes", "next_reply_minutes", "resolution_minutes")
# A year of business minutes around the clock: beyond that a typo, not a promise.
MAX_TARGET_MINUTES = 525_600
NAME_MAX_LENGTH = 100

# Snapshots by (policy id, version); immutable once written, primed by save_policy (see the
# calendars' cache for why).
_SNAPSHOTS: dict[tuple[int, int], dict[str, Any]] = {}


def _text(value: Any, field: str, *, max_length: int | None = None) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RuleBroken(field, "Expected text.")
    text: str = value.strip()
    if max_length is not None and len(text) > max_length:
        raise RuleBroken(field, f"At most {max_length} characters.")
    return text


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise RuleBroken(field, "Expected true or false.")
    return value


def _int_list(values: list[Any], field: str) -> list[int]:
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        raise RuleBroken(field, "Expected a list of ids.")
    return sorted(set(values))


def clean_conditions(conditions: Any) -> dict[str, list[Any]]:
    """Validate and normalize a policy's conditions; whatever names something missing is an
    error on that key ("conditions.tiers")."""
    if conditions is None:
        return {}
    if not isinstance(conditions, dict):
        raise RuleBroken("conditions", "Conditions are an object (tiers, teams, tags...).")
    cleaned: dict[str, list[Any]] = {}
    for key, values in conditions.items():
        field = f"conditions.{key}"
        if key not in CONDITION_KEYS:
            raise RuleBroken("conditions", f"{key!r} is not a condition: use {CONDITION_KEYS}.")
        if values is None:
            continue
        if not isinstance(values, list):
            raise RuleBroken(field, "Expected a list.")
        if not values:
            continue
        if key in {"tiers", "channels", "types", "tags"}:
            if not all(isinstance(value, str) for value in values):
                raise RuleBroken(field, "Expected a list of names.")
            names = sorted({value.strip().lower() for value in values})
            if key == "tiers":
                known = set(Tier.objects.filter(slug__in=names).values_list("slug", flat=True))
            elif key == "tags":
                known = set(Tag.objects.filter(name__in=names).values_list("name", flat=True))
            else:
                known = set((Channel if key == "channels" else TicketType).values)
            missing = [name for name in names if name not in known]
            if missing:
                raise RuleBroken(field, f"Unknown {key[:-1]} {missing[0]!r}.")
            cleaned[key] = names
        else:
            ids = _int_list(values, field)
            model = Organization if key == "organizations" else Team
            known_ids = set(model.objects.filter(pk__in=ids).values_list("pk", flat=True))
            missing_ids = [pk for pk in ids if pk not in known_ids]
            if missing_ids:
                raise RuleBroken(field, f"No {key[:-1]} has id {missing_ids[0]}.")
            cleaned[key] = ids
    return cleaned


def clean_targets(targets: Any) -> dict[str, dict[str, int | None]]:
    """{"urgent": {"first_reply_minutes": 30, ...}, ...}: positive whole minutes or null; a
    missing priority (or key) has no such target."""
    if not isinstance(targets, dict):
        raise RuleBroken("targets", "Targets are an object keyed by priority.")
    cleaned: dict[str, dict[str, int | None]] = {}
    for priority, minutes in targets.items():
        field = f"targets.{priority}"
        if priority not in Priority.values:
            raise RuleBroken("targets", f"{priority!r} is not a priority.")
        if minutes is None:
            continue
        if not isinstance(minutes, dict):
            raise RuleBroken(field, "Expected an object of minutes per target.")
        unknown = set(minutes) - set(TARGET_KEYS)
        if unknown:
            raise RuleBroken(field, f"{sorted(unknown)[0]!r} is not a target.")
        row: dict[str, int | None] = {}
        for key in TARGET_KEYS:
            value = minutes.get(key)
            if value is not None and (
                not isinstance(value, int)
                or isinstance(value, bool)
                or not 0 < value <= MAX_TARGET_MINUTES
            ):
                raise RuleBroken(
                    f"{field}.{key}",
                    f"A target is a whole number of minutes from 1 to {MAX_TARGET_MINUTES}.",
                )
            row[key] = value
        if any(value is not None for value in row.values()):
            cleaned[priority] = row
    if not cleaned:
        raise RuleBroken("targets", "A policy needs at least one target.")
    return cleaned


def targets_of(policy: SlaPolicy) -> dict[str, dict[str, int | None]]:
    """The policy's targets as `save_policy` takes them (reads `policy.targets.all()`, so a
    prefetch serves it)."""
    return {
        target.priority: {key: getattr(target, key) for key in TARGET_KEYS}
        for target in policy.targets.all()
    }


def _snapshot(policy: SlaPolicy, targets: dict[str, dict[str, int | None]]) -> dict[str, Any]:
    return {
        "name": policy.name,
        "position": policy.position,
        "is_default": policy.is_default,
        "is_active": policy.is_active,
        "conditions": policy.conditions,
        "calendar": policy.calendar_id,
        "calendar_version": policy.calendar.version,
        "pause_on_hold": policy.pause_on_hold,
        "targets": targets,
    }


@transaction.atomic
def save_policy(*, actor: User | None, policy: SlaPolicy | None, data: dict[str, Any]) -> SlaPolicy:
    """Create (policy=None) or change a policy; keys of `data` not given keep their value.

    Exactly one active default policy exists once any policy does: the first policy must be
    the default; making another policy the default takes it off the old one; the default can
    be neither un-defaulted nor archived (make another the default first). The default has no
    conditions: it applies to whatever no other policy matches."""
    unknown = set(data) - POLICY_FIELDS
    if unknown:
        field = sorted(unknown)[0]
        raise RuleBroken(field, f"{field!r} is not a policy field.")
    creating = policy is None
    if policy is None:
        policy = SlaPolicy()
        for required in ("name", "calendar", "targets"):
            if data.get(required) in (None, "", {}):
                raise RuleBroken(required, "This field is required.")
        old_targets: dict[str, dict[str, int | None]] = {}
    else:
        policy = SlaPolicy.objects.select_for_update().select_related("calendar").get(pk=policy.pk)
        old_targets = targets_of(policy)
    was_default = policy.is_default and not creating
    before = None if creating else _snapshot(policy, old_targets)

    if "name" in data:
        name = _text(data["name"], "name", max_length=NAME_MAX_LENGTH)
        if not name:
            raise RuleBroken("name", "A policy needs a name.")
        taken = SlaPolicy.objects.filter(name__iexact=name)
        if not creating:
            taken = taken.exclude(pk=policy.pk)
        if taken.exists():
            raise RuleBroken("name", "A policy with this name already exists.")
        policy.name = name
    if "description" in data:
        policy.description = _text(data["description"], "description")
    if "position" in data:
        position = data["position"]
        if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position < 2**31:
            raise RuleBroken("position", "A position is a whole number, 0 or more.")
        policy.position = position
    if "is_default" in data:
        policy.is_default = _bool(data["is_default"], "is_default")
    if "is_active" in data:
        policy.is_active = _bool(data["is_active"], "is_active")
    if "pause_on_hold" in data:
        policy.pause_on_hold = _bool(data["pause_on_hold"], "pause_on_hold")
    if "conditions" in data:
        policy.conditions = clean_conditions(data["conditions"])
    if "calendar" in data:
        policy.calendar = _calendar(data["calendar"])
    targets = clean_targets(data["targets"]) if "targets" in data else old_targets

    if policy.is_default and policy.conditions:
        raise RuleBroken(
            "conditions", "The default policy applies to what no other matches: no conditions."
        )
    if policy.is_default and not policy.is_active:
        raise RuleBroken("is_active", "The default policy cannot be archived.")
    if was_default and not policy.is_default:
        raise RuleBroken("is_default", "Make another policy the default instead.")
    current_default = SlaPolicy.objects.select_for_update().filter(is_default=True)
    if not creating:
        current_default = current_default.exclude(pk=policy.pk)
    other_default = current_default.first()
    if not policy.is_default and other_default is None:
        raise RuleBroken(
            "is_default",
            "The first policy is the default (it applies to every ticket no other matches).",
        )

    if not creating and _snapshot(policy, targets) == before:
        return policy  # nothing changed
    if other_default is not None and policy.is_default:
        # The old default becomes an ordinary policy, recorded as its own new version.
        other_default.is_default = False
        other_default.version += 1
        other_default.save(update_fields=["is_default", "version", "updated_at"])
        _write_version(other_default, targets_of(other_default), actor)
    if not creating:
        policy.version += 1
    policy.save()
    PolicyTarget.objects.filter(policy=policy).delete()
    PolicyTarget.objects.bulk_create(
        PolicyTarget(policy=policy, priority=priority, **minutes)
        for priority, minutes in sorted(targets.items())
    )
    _write_version(policy, targets, actor)
    return policy


def _write_version(
    policy: SlaPolicy, targets: dict[str, dict[str, int | None]], actor: User | None
) -> None:
    snapshot = _snapshot(policy, targets)
    PolicyVersion.objects.create(
        policy=policy, version=policy.version, snapshot=snapshot, created_by=actor
    )
    _SNAPSHOTS[(policy.pk, policy.version)] = snapshot


def _calendar(value: Any) -> BusinessCalendar:
    if isinstance(value, BusinessCalendar):
        calendar: BusinessCalendar | None = value
    elif isinstance(value, int) and not isinstance(value, bool):
        calendar = BusinessCalendar.objects.filter(pk=value).first()
    else:
        raise RuleBroken("calendar", "Expected a calendar id.")
    if calendar is None:
        raise RuleBroken("calendar", f"No calendar has id {value}.")
    if not calendar.is_active:
        raise RuleBroken("calendar", f"{calendar.name} is archived.")
    return calendar


def policy_snapshot(policy_id: int, version: int) -> dict[str, Any]:
    """What the policy was at `version` (cached; a query on a miss)."""
    key = (policy_id, version)
    snapshot = _SNAPSHOTS.get(key)
    if snapshot is None:
        row = PolicyVersion.objects.filter(policy_id=policy_id, version=version).first()
        if row is None:
            # Written directly (bulk demo data) without a version: today's policy.
            policy = SlaPolicy.objects.select_related("calendar").get(pk=policy_id)
            snapshot = _snapshot(policy, targets_of(policy))
        else:
            snapshot = row.snapshot
        _SNAPSHOTS[key] = snapshot
    return snapshot
