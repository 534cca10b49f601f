"""Background jobs for SLAs. Each sweep is idempotent in the database, so any number of
workers may run it at once and a sweep killed midway loses nothing (the next one redoes it)."""

import logging

from celery import shared_task

from slas.services import breach_due_clocks
from slas.services.rollup import recent_days, refresh_sla_rollup

logger = logging.getLogger(__name__)

# --- sla-core: the breach sweep ---------------------------------------------------------------


@shared_task(ignore_result=True)
def sweep_breaches() -> int:
    """Mark running targets whose due instant has passed (beat: every 30 seconds)."""
    return breach_due_clocks()


# --- escalation rules (rules helper) ---------------------------------------------------------


@shared_task
def sweep_time_rules() -> dict[str, int]:
    """Fire the time rules whose alarms are due (beat: every 15 s, see helpdesk/celery.py).
    Idempotent and safe with any number of workers (docs/escalation.md, "Exactly once")."""
    from dataclasses import asdict

    from slas.rules.engine import sweep_time_rules as sweep

    total = {"due": 0, "fired": 0, "failed": 0, "skipped": 0}
    # Drain: a backlog (the worker was down) is caught up in one job, a batch at a time.
    for _ in range(20):
        result = asdict(sweep())
        for key, value in result.items():
            total[key] += value
        if result["due"] < 1000:
            break
    if total["fired"] or total["failed"]:
        logger.info("Time rules: %s", total)
    return total


@shared_task
def recompute_rule_alarms(rule_id: int) -> int:
    """A saved time rule's alarms, when it has too many candidate tickets to do in the
    request (slas.services.rules.ALARMS_INLINE_LIMIT)."""
    from slas.models import EscalationRule
    from slas.rules.alarms import recompute_rule_alarms as recompute

    rule = EscalationRule.objects.filter(pk=rule_id).first()
    return 0 if rule is None else recompute(rule=rule)


def queue_alarm_recompute(rule_id: int) -> None:
    try:
        recompute_rule_alarms.delay(rule_id)
    except Exception:
        logger.exception("Could not queue the alarm recompute of rule %s", rule_id)


# --- dashboard: the daily rollup ------------------------------------------------------------


@shared_task
def refresh_recent_sla_rollup() -> int:
    """Today and yesterday (the breach sweep may write yesterday's last breaches just after
    midnight). Idempotent: every beat may run it; refreshes of one day queue on its lock."""
    return refresh_sla_rollup(days=recent_days(count=2))
