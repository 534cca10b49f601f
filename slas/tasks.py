"""Background jobs for SLAs: keeping the dashboard's daily rollup fresh."""

from celery import shared_task

from slas.services.rollup import recent_days, refresh_sla_rollup


@shared_task
def refresh_recent_sla_rollup() -> int:
    """Today and yesterday (the breach sweep may write yesterday's last breaches just after
    midnight). Idempotent: every beat may run it; refreshes of one day queue on its lock."""
    return refresh_sla_rollup(days=recent_days(count=2))
