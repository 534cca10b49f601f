"""Background jobs for tickets: the emails owed in the notification outbox, and the sweep of
attachment files that no row references (see `remove_orphan_attachment_files`).

How an owed email leaves the building:
1. The service that owes it (`open_ticket`, `assign_ticket`) writes a `Notification` row in
   its own transaction, so a rolled-back change owes nothing.
2. After commit, `queue_notification` hands the row's id to the worker. It never fails or
   holds the request for long: with the broker down it logs and returns (publishing gives up
   within seconds, see CELERY_TASK_PUBLISH_RETRY_POLICY and the broker timeouts in settings).
3. The worker's `send_notification` sends it, retrying with backoff when sending fails, and
   never twice: however many copies of the job run, one finds the row unsent and locks it.
4. Every minute beat runs `send_pending_notifications`, which re-queues whatever is still
   unsent (a job lost with the broker, a worker killed mid-send), backing off per failure.
"""

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.files.storage import Storage
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from tickets.models import Attachment, Notification

logger = logging.getLogger(__name__)

# Sending attempts before a notification is given up on (its row keeps the last error).
MAX_ATTEMPTS = 8
# A notification younger than this is still in its first job's hands; the sweep leaves it.
SWEEP_GRACE = timedelta(minutes=2)
SWEEP_BATCH = 500
# Attachment files live under this folder of the storage (see tickets.models.attachment_path).
ATTACHMENTS_FOLDER = "attachments"


def queue_notification(notification_id: int) -> None:
    """Hand one owed email to the worker. Called after commit; never fails the request: if the
    broker is unreachable, the outbox row waits for the sweep."""
    try:
        send_notification.delay(notification_id)
    except Exception:
        logger.exception("Could not queue notification %s; the sweep will send it", notification_id)


@shared_task(
    bind=True,
    autoretry_for=(OSError,),  # smtplib's errors and socket timeouts are all OSErrors
    retry_backoff=True,  # 1 s, 2 s, 4 s ... (with jitter), at most 10 minutes apart
    retry_backoff_max=600,
    max_retries=MAX_ATTEMPTS - 1,  # the first try plus the retries make MAX_ATTEMPTS
)
def send_notification(self, notification_id: int) -> str:
    """Send one owed email exactly once, however many workers run it: the row stays locked
    while the mail goes out, and a sent row is never sent again."""
    try:
        with transaction.atomic():
            notification = (
                # Lock only the outbox row: an agent editing the ticket meanwhile must neither
                # wait for the mail server nor make this job skip the email.
                Notification.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("ticket__customer", "ticket__assignee")
                .filter(pk=notification_id, sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS)
                .first()
            )
            if notification is None:
                return "nothing to send"  # sent, being sent by another worker, or given up
            subject, body = render_notification(notification)
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [notification.recipient])
            Notification.objects.filter(pk=notification_id).update(
                sent_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
            )
    except OSError as error:
        # The lock is released; count the attempt so the sweep knows when to give up.
        Notification.objects.filter(pk=notification_id).update(
            attempts=F("attempts") + 1, last_error=str(error)[:2000] or type(error).__name__
        )
        logger.warning("Sending notification %s failed: %r", notification_id, error)
        raise
    logger.info("Sent %s", notification)
    return "sent"


def render_notification(notification: Notification) -> tuple[str, str]:
    ticket = notification.ticket
    context: dict[str, Any] = {
        "ticket": ticket,
        "customer": ticket.customer,
        "notification": notification,
    }
    if notification.kind == Notification.Kind.TICKET_OPENED:
        subject = f"[{ticket.reference}] We have your request: {ticket.subject}"
        body = render_to_string("tickets/email/ticket_opened.txt", context)
    elif notification.kind == Notification.Kind.ESCALATION:
        # An escalation rule's notice (slas.rules.actions): its context says which rule and
        # why. Plain text, so nothing in it is markup.
        notice = notification.context or {}
        rule_name = str((notice.get("rule") or {}).get("name", "Escalation"))
        reasons = notice.get("reasons")
        context.update(
            rule_name=rule_name,
            message=str(notice.get("message") or ""),
            reasons=[str(r) for r in reasons] if isinstance(reasons, list) else [],
        )
        subject = f"[{ticket.reference}] Escalation ({rule_name}): {ticket.subject}"
        body = render_to_string("tickets/email/escalation.txt", context)
    else:
        assignee = ticket.assignee
        # Greet by name only if the ticket is still with the person this email was owed to.
        if assignee is not None and assignee.email.lower() == notification.recipient.lower():
            context["assignee_name"] = assignee.display_name
        subject = f"[{ticket.reference}] Assigned to you: {ticket.subject}"
        body = render_to_string("tickets/email/ticket_assigned.txt", context)
    return subject, body


def due_for_sending(now: datetime) -> Q:
    """Unsent rows whose job should have finished by now: a row that has failed n times waits
    SWEEP_GRACE * 2**n from when it was written, so the sweep does not pile new jobs onto one
    that Celery is still retrying with backoff."""
    due = Q()
    for attempts in range(MAX_ATTEMPTS):
        due |= Q(attempts=attempts, created_at__lt=now - SWEEP_GRACE * 2**attempts)
    return Q(sent_at__isnull=True) & due


@shared_task
def send_pending_notifications() -> int:
    """Queue every email still owed (see `due_for_sending`); returns how many were queued."""
    pending = list(
        Notification.objects.filter(due_for_sending(timezone.now()))
        .order_by("created_at", "id")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for notification_id in pending:
        queue_notification(notification_id)
    return len(pending)


# --- attachment files no row references -----------------------------------------------------------


def _batches(names: Iterator[str], size: int) -> Iterator[list[str]]:
    while batch := list(islice(names, size)):
        yield batch


def _files_older_than(storage: Storage, folder: str, cutoff: datetime) -> Iterator[str]:
    """Names (as the rows store them) of the files under `folder` last written before
    `cutoff`. A folder or file removed meanwhile (another worker's sweep) is skipped."""
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in files:
        path = f"{folder}/{name}"
        try:
            if storage.get_modified_time(path) < cutoff:
                yield path
        except FileNotFoundError:
            continue
    for sub in folders:
        yield from _files_older_than(storage, f"{folder}/{sub}", cutoff)


@shared_task
def remove_orphan_attachment_files() -> int:
    """Delete attachment files that no Attachment row references, once they are older than
    ATTACHMENT_ORPHAN_GRACE_HOURS; returns how many were deleted.

    A file is stored while its message is being posted, before the transaction commits; if the
    transaction then rolls back (a broken rule after the upload, a crash), the file stays with
    no row. The grace period is far longer than any transaction, so a file whose row is about
    to commit is never taken. A referenced file is never deleted. Safe with any number of
    workers: deleting a file another sweep already removed is a no-op, and a row never comes
    to reference an old file (stored names are fresh random tokens)."""
    storage = Attachment._meta.get_field("file").storage
    cutoff = timezone.now() - timedelta(hours=settings.ATTACHMENT_ORPHAN_GRACE_HOURS)
    removed = 0
    for batch in _batches(_files_older_than(storage, ATTACHMENTS_FOLDER, cutoff), SWEEP_BATCH):
        referenced = set(Attachment.objects.filter(file__in=batch).values_list("file", flat=True))
        for name in batch:
            if name not in referenced:
                storage.delete(name)
                removed += 1
    if removed:
        logger.info("Removed %s attachment file(s) no row references", removed)
    return removed


# --- scheduled replies (the undo window; see tickets.replies) ----------------------------------


def queue_reply_delivery(reply_id: int, countdown: int) -> None:
    """Ask the worker to post a scheduled reply when its undo window ends. Never fails the
    request: if the broker is down, the beat sweep posts it."""
    try:
        deliver_reply.apply_async(args=(reply_id,), countdown=countdown)
    except Exception:
        logger.exception("Could not queue scheduled reply %s; the sweep will post it", reply_id)


@shared_task
def deliver_reply(reply_id: int) -> str:
    from tickets.replies import deliver_scheduled_reply

    message = deliver_scheduled_reply(reply_id)
    return "posted" if message is not None else "nothing to post"


@shared_task
def deliver_due_replies() -> int:
    """Post every scheduled reply that is due (a lost job, a worker that was down)."""
    from tickets.replies import deliver_scheduled_reply, due_reply_ids

    posted = 0
    for reply_id in due_reply_ids(timezone.now()):
        posted += deliver_scheduled_reply(reply_id) is not None
    return posted
