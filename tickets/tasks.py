"""Background jobs for tickets: the emails owed in the notification outbox."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from tickets.models import Notification

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# A notification younger than this is still in its first job's hands; the sweep leaves it.
SWEEP_GRACE = timedelta(minutes=2)


def queue_notification(notification_id: int) -> None:
    """Hand one owed email to the worker. Called after commit; never fails the request: if the
    broker is unreachable, the outbox row waits for the sweep."""
    try:
        send_notification.delay(notification_id)
    except Exception:
        logger.exception("Could not queue notification %s; the sweep will send it", notification_id)


@shared_task(
    bind=True,
    autoretry_for=(OSError,),  # SMTP and socket errors
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=MAX_ATTEMPTS,
)
def send_notification(self, notification_id: int) -> str:
    """Send one owed email exactly once, however many workers run it: the row stays locked
    while the mail goes out, and a sent row is never sent again."""
    try:
        with transaction.atomic():
            notification = (
                Notification.objects.select_for_update(skip_locked=True)
                .select_related("ticket__customer", "ticket__assignee")
                .filter(pk=notification_id, sent_at__isnull=True)
                .first()
            )
            if notification is None:
                return "already sent or being sent"
            subject, body = render_notification(notification)
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [notification.recipient])
            Notification.objects.filter(pk=notification_id).update(
                sent_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
            )
    except OSError as error:
        # The lock is released; count the attempt so the sweep knows when to give up.
        Notification.objects.filter(pk=notification_id).update(
            attempts=F("attempts") + 1, last_error=str(error)[:2000]
        )
        raise
    return "sent"


def render_notification(notification: Notification) -> tuple[str, str]:
    ticket = notification.ticket
    context = {"ticket": ticket, "customer": ticket.customer, "notification": notification}
    if notification.kind == Notification.Kind.TICKET_OPENED:
        subject = f"[{ticket.reference}] We have your request: {ticket.subject}"
        body = render_to_string("tickets/email/ticket_opened.txt", context)
    else:
        subject = f"[{ticket.reference}] Assigned to you: {ticket.subject}"
        body = render_to_string("tickets/email/ticket_assigned.txt", context)
    return subject, body


@shared_task
def send_pending_notifications() -> int:
    """Queue every unsent email older than the grace period (and not given up on)."""
    cutoff = timezone.now() - SWEEP_GRACE
    pending = list(
        Notification.objects.filter(
            sent_at__isnull=True, created_at__lt=cutoff, attempts__lt=MAX_ATTEMPTS
        ).values_list("pk", flat=True)[:500]
    )
    for notification_id in pending:
        queue_notification(notification_id)
    return len(pending)
