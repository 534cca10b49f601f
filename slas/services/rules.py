"""Escalation rules: saving one (validated), and the dry run that shows which open tickets it
would fire on now, and why. The engine (conditions in SQL, actions, alarms, exactly-once
firing) is `slas.rules`; docs/escalation.md describes every field, operator and action."""

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from core.errors import RuleBroken
from slas.models import EscalationRule
from slas.rules import alarms
from slas.rules.catalog import (
    OPEN_STATUSES,
    RULE_ACTIONS,
    RULE_CONDITION_FIELDS,
    catalog_as_json,
)
from slas.rules.conditions import (
    matching_tickets,
    needs_python_check,
    percent_reached,
    reasons_for,
)
from slas.rules.validation import clean_rule_data
from tickets.models import Ticket

logger = logging.getLogger(__name__)

__all__ = [
    "RULE_ACTIONS",
    "RULE_CONDITION_FIELDS",
    "DryRun",
    "DryRunMatch",
    "catalog_as_json",
    "dry_run_rule",
    "save_rule",
]

# A saved time rule's alarms are recomputed in the request when it has at most this many
# candidate tickets, else by the worker right after commit (slas.tasks.recompute_rule_alarms).
ALARMS_INLINE_LIMIT = 5000
# A dry run with a percent-of-target condition checks at most this many SQL candidates in
# Python (the calendar arithmetic); past it the total is a lower bound (`DryRun.capped`).
DRY_RUN_PERCENT_CANDIDATES = 5000
MAX_DRY_RUN_LIMIT = 200

DEFAULTS: dict[str, Any] = {
    "name": "",
    "description": "",
    "trigger": "event",
    "position": 0,
    "is_active": True,
    "conditions": [],
    "actions": [],
}


def _current(rule: EscalationRule | None) -> dict[str, Any]:
    if rule is None:
        return dict(DEFAULTS)
    return {key: getattr(rule, key) for key in DEFAULTS}


def save_rule(*, actor: User, rule: EscalationRule | None, data: dict[str, Any]) -> EscalationRule:
    """Create (rule None) or update a rule from `data` (missing keys keep their value). Every
    condition and action is checked against the catalog and the rows it names; a time rule's
    alarms are recomputed for the open tickets it may fire on."""
    with transaction.atomic():
        if rule is not None:
            rule = EscalationRule.objects.select_for_update().get(pk=rule.pk)
        cleaned = clean_rule_data(data, current=_current(rule))
        clash = EscalationRule.objects.filter(name__iexact=cleaned["name"])
        if rule is not None:
            clash = clash.exclude(pk=rule.pk)
        if clash.exists():
            raise RuleBroken("name", "Another rule has this name.")
        if rule is None:
            rule = EscalationRule(created_by=actor, **cleaned)
        else:
            changed = any(getattr(rule, key) != value for key, value in cleaned.items())
            for key, value in cleaned.items():
                setattr(rule, key, value)
            if changed:
                rule.version += 1
        try:
            with transaction.atomic():
                rule.save()
        except IntegrityError:
            raise RuleBroken("name", "Another rule has this name.") from None
        _schedule_alarms(rule)
    return rule


def _schedule_alarms(rule: EscalationRule) -> None:
    now = timezone.now()
    if not rule.is_active or rule.trigger != "time":
        alarms.recompute_rule_alarms(rule=rule, now=now)  # deletes its alarms
        return
    if alarms.candidate_count(rule, now=now) <= ALARMS_INLINE_LIMIT:
        alarms.recompute_rule_alarms(rule=rule, now=now)
        return
    from slas.tasks import queue_alarm_recompute  # tasks import services; avoid a cycle

    rule_id = rule.pk
    transaction.on_commit(lambda: queue_alarm_recompute(rule_id))


@dataclass
class DryRunMatch:
    ticket: Ticket
    reasons: list[str]


@dataclass
class DryRun:
    total: int
    matches: list[DryRunMatch] = field(default_factory=list)
    # True when a percent-of-target condition had more SQL candidates than were checked:
    # `total` is then a lower bound.
    capped: bool = False


def dry_run_rule(*, data: dict[str, Any], limit: int = 50) -> DryRun:
    """Which open tickets the rule in `data` (validated like save_rule) would fire on now, and
    why: one reason per condition. Bounded: the conditions are one SQL query, the matches
    listed are the `limit` most urgent (earliest SLA due, then oldest)."""
    cleaned = clean_rule_data(data, current=dict(DEFAULTS))
    limit = max(1, min(limit, MAX_DRY_RUN_LIMIT))
    now = timezone.now()
    conditions = cleaned["conditions"]
    tickets = (
        matching_tickets(conditions, now=now, base=Ticket.objects.filter(status__in=OPEN_STATUSES))
        .select_related("team", "assignee", "customer__tier", "customer__organization")
        .prefetch_related("tags")
        .order_by("sla_due_at", "created_at", "id")
    )
    percent = needs_python_check(conditions)
    capped = False
    if percent:
        candidates = list(tickets[: DRY_RUN_PERCENT_CANDIDATES + 1])
        capped = len(candidates) > DRY_RUN_PERCENT_CANDIDATES
        found = [
            ticket
            for ticket in candidates[:DRY_RUN_PERCENT_CANDIDATES]
            if all(percent_reached(ticket, c, now) for c in percent)
        ]
        total, shown = len(found), found[:limit]
    else:
        total, shown = tickets.count(), list(tickets[:limit])
    return DryRun(
        total=total,
        matches=[
            DryRunMatch(ticket=ticket, reasons=reasons_for(ticket, conditions, now=now))
            for ticket in shown
        ],
        capped=capped,
    )
