"""Background jobs for SLAs. Each sweep is idempotent in the database, so any number of
workers may run it at once and a sweep killed midway loses nothing (the next one redoes it)."""

from celery import shared_task

from slas.services import breach_due_clocks

# --- sla-core: the breach sweep ---------------------------------------------------------------


@shared_task(ignore_result=True)
def sweep_breaches() -> int:
    """Mark running targets whose due instant has passed (beat: every 30 seconds)."""
    return breach_due_clocks()
