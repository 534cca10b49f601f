"""Small filters of the SLA manager pages."""

from typing import Any

from django import template

from slas.forms import minutes_text

register = template.Library()


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
