"""Small filters of the SLA manager pages."""

from typing import Any

from django import template

from slas.forms import minutes_text

register = template.Library()

CONDITION_LABELS = {
    "tiers": "tier",
    "organizations": "organization",
    "teams": "team",
    "channels": "channel",
    "types": "type",
    "tags": "tag",
}


@register.filter
def conditions_summary(conditions: dict[str, list[Any]] | None) -> str:
    """'tier: gold, platinum; channel: chat', or 'Every ticket'."""
    parts = [
        f"{CONDITION_LABELS.get(key, key)}: {', '.join(str(v) for v in values)}"
        for key, values in (conditions or {}).items()
        if values
    ]
    return "; ".join(parts) or "Every ticket"


@register.filter
def first_reply(policy: Any, priority: str) -> str:
    """The policy's first-reply target at `priority` ("1h 30m"), from prefetched targets."""
    for target in policy.targets.all():
        if target.priority == priority:
            return minutes_text(target.first_reply_minutes) or "—"
    return "—"


@register.filter
def minutes(value: int | None) -> str:
    return minutes_text(value) or "—"
