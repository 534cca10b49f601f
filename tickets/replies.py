"""The reply box's safety net: drafts saved as the agent types, and the undo window after Send.

How a reply is never lost, and never posted twice:
1. Typing saves a `ReplyDraft` (one per agent and ticket; only its author reads it).
2. Send calls `schedule_reply`: in one transaction the checks `post_message` would make run
   now (so a bad reply is refused while the text is still in the box), a `ScheduledReply` row
   takes the text, files and the status to set after, and the draft is deleted. Nothing is
   visible to the customer or to other agents yet: it is not a message.
3. After commit, a Celery job is queued with `countdown` = the undo window. When it runs,
   `deliver_scheduled_reply` locks the row and, only if it is still `scheduled` and due, posts
   it through `post_message` (and the status change, in the same transaction), then marks it
   `sent`. The beat sweep (`deliver_due_replies`, every 15 s) does the same for any row whose
   job was lost; the author's page also asks for delivery when its countdown ends, so the reply
   appears on time without waiting for a worker. All three paths meet on the same row lock and
   the same state check, so exactly one posts.
4. Undo calls `cancel_scheduled_reply`: under the same lock, a still-scheduled row becomes
   `cancelled` and its text goes back to the draft (and so back into the box). A row already
   sent cannot be undone, and says so.
5. A reply that breaks a rule when it comes due (the ticket was closed meanwhile) is marked
   `failed` with the reason and its text goes back to the author's draft.
"""

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.errors import RuleBroken
from tickets.markup import markup_to_html
from tickets.models import (
    Message,
    ReplyDraft,
    ScheduledAttachment,
    ScheduledReply,
    Status,
    Ticket,
)
from tickets.services import NEXT_STATUSES, change_ticket_status, post_message
from tickets.services._shared import _check_attachments, _clean_body

DRAFT_MAX_CHARS = 50_000


# --- drafts -------------------------------------------------------------------------------------


def draft_for(*, ticket: Ticket, author: User) -> ReplyDraft | None:
    """The author's own draft on this ticket (never anyone else's)."""
    return ReplyDraft.objects.filter(ticket=ticket, author=author).first()


def save_draft(*, ticket: Ticket, author: User, body: str, is_internal: bool) -> ReplyDraft | None:
    """Keep what is in the box; an empty box deletes the draft."""
    if not author.is_agent:
        raise RuleBroken("body", "Only agents keep reply drafts.")
    body = (body or "").replace("\r\n", "\n")
    if len(body) > DRAFT_MAX_CHARS:
        raise RuleBroken("body", f"A draft is at most {DRAFT_MAX_CHARS} characters.")
    if not body.strip():
        ReplyDraft.objects.filter(ticket=ticket, author=author).delete()
        return None
    draft, _created = ReplyDraft.objects.update_or_create(
        ticket=ticket, author=author, defaults={"body": body, "is_internal": is_internal}
    )
    return draft


def _restore_draft(reply: ScheduledReply) -> None:
    """Put a reply's text back in its author's box. If they have typed something new since,
    the old text goes first, so neither is lost."""
    draft = (
        ReplyDraft.objects.select_for_update()
        .filter(ticket_id=reply.ticket_id, author_id=reply.author_id)
        .first()
    )
    if draft is None:
        ReplyDraft.objects.create(
            ticket_id=reply.ticket_id,
            author_id=reply.author_id,
            body=reply.body,
            is_internal=reply.is_internal,
        )
    elif reply.body not in draft.body:
        draft.body = f"{reply.body}\n\n{draft.body}"
        draft.is_internal = reply.is_internal
        draft.save(update_fields=["body", "is_internal", "updated_at"])


# --- the undo window ----------------------------------------------------------------------------


def undo_seconds() -> int:
    return max(0, settings.UNDO_SEND_SECONDS)


@transaction.atomic
def schedule_reply(
    *,
    ticket: Ticket,
    author: User,
    body: str,
    is_internal: bool = False,
    status_after: str = "",
    attachments: Sequence[UploadedFile] = (),
    now: datetime | None = None,
) -> ScheduledReply:
    """Send, with an undo window: check now, post later (see the module's docstring)."""
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if not author.is_agent:
        raise RuleBroken("body", "Only agents send from the reply box.")
    if ticket.status == Status.CLOSED:
        raise RuleBroken("body", "This ticket is closed; open a new ticket to follow up.")
    if len(body or "") > settings.MESSAGE_BODY_MAX_CHARS:
        raise RuleBroken("body", f"A message is at most {settings.MESSAGE_BODY_MAX_CHARS} "
                         "characters.")  # fmt: skip
    _clean_body(markup_to_html(body))  # empty after sanitizing → "A message cannot be empty."
    _check_attachments(attachments)
    if status_after:
        if status_after not in Status.values:
            raise RuleBroken("status", f"{status_after!r} is not a status.")
        # A public reply takes a new ticket to open first; check from where it will be.
        start = Status.OPEN if ticket.status == Status.NEW and not is_internal else ticket.status
        if status_after != start and status_after not in NEXT_STATUSES[start]:
            label = Status(start).label
            article = "An" if label[0] in "AEIOU" else "A"
            raise RuleBroken("status", f"{article} {label} ticket cannot become "
                             f"{Status(status_after).label}.")  # fmt: skip

    reply = ScheduledReply.objects.create(
        ticket=ticket,
        author=author,
        body=body.replace("\r\n", "\n").strip(),
        is_internal=is_internal,
        status_after=status_after,
        send_at=(now or timezone.now()) + timedelta(seconds=undo_seconds()),
    )
    for upload in attachments:
        stored = ScheduledAttachment(
            reply=reply,
            token=secrets.token_hex(16),
            filename=(upload.name or "attachment")[-255:],
            content_type=(upload.content_type or "").split(";")[0].strip().lower(),
            size=upload.size or 0,
        )
        stored.file.save(stored.token, upload, save=False)
        stored.save()
    ReplyDraft.objects.filter(ticket=ticket, author=author).delete()

    from tickets.tasks import queue_reply_delivery  # tasks import this module; avoid a cycle

    transaction.on_commit(lambda: queue_reply_delivery(reply.pk, undo_seconds()))
    return reply


@transaction.atomic
def cancel_scheduled_reply(*, reply: ScheduledReply, actor: User) -> ScheduledReply:
    """Undo: only the author, only while it is still scheduled; the text goes back to the box."""
    reply = ScheduledReply.objects.select_for_update().get(pk=reply.pk)
    if reply.author_id != actor.pk:
        raise RuleBroken("undo", "Only the agent who sent a reply can undo it.")
    if reply.state == ScheduledReply.State.CANCELLED:
        return reply
    if reply.state != ScheduledReply.State.SCHEDULED:
        raise RuleBroken("undo", "Too late to undo: the reply has been sent.")
    reply.state = ScheduledReply.State.CANCELLED
    reply.save(update_fields=["state"])
    _restore_draft(reply)
    _discard_files(reply)
    return reply


def _discard_files(reply: ScheduledReply) -> None:
    """The waiting files of a reply that was posted (they are attachments now) or undone; the
    stored files go only after commit, so a rollback keeps them."""
    stored = list(reply.files.all())
    reply.files.all().delete()

    def delete_stored_files() -> None:
        for item in stored:
            item.file.delete(save=False)

    transaction.on_commit(delete_stored_files)


def _uploads(reply: ScheduledReply) -> list[UploadedFile]:
    uploads: list[UploadedFile] = []
    for stored in reply.files.all():
        with stored.file.open("rb") as handle:
            uploads.append(SimpleUploadedFile(stored.filename, handle.read(), stored.content_type))
    return uploads


@transaction.atomic
def deliver_scheduled_reply(reply_id: int, *, now: datetime | None = None) -> Message | None:
    """Post a scheduled reply that is due, exactly once. Returns the message it posted, or
    None (not due yet, already sent, cancelled, failed, or being posted by another worker)."""
    reply = (
        ScheduledReply.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("ticket", "author")
        .filter(pk=reply_id, state=ScheduledReply.State.SCHEDULED)
        .first()
    )
    if reply is None or reply.send_at > (now or timezone.now()):
        return None
    try:
        with transaction.atomic():  # a broken rule undoes the message and the status together
            message = post_message(
                ticket=reply.ticket,
                author=reply.author,
                body=markup_to_html(reply.body),
                is_internal=reply.is_internal,
                attachments=_uploads(reply),
            )
            if reply.status_after:
                change_ticket_status(
                    ticket=reply.ticket, new_status=reply.status_after, actor=reply.author
                )
    except RuleBroken as broken:
        reply.state, reply.error = ScheduledReply.State.FAILED, broken.message
        reply.save(update_fields=["state", "error"])
        _restore_draft(reply)
        return None
    reply.state, reply.message = ScheduledReply.State.SENT, message
    reply.save(update_fields=["state", "message"])
    _discard_files(reply)
    return message


def due_reply_ids(now: datetime, limit: int = 500) -> list[int]:
    return list(
        ScheduledReply.objects.filter(state=ScheduledReply.State.SCHEDULED, send_at__lte=now)
        .order_by("send_at", "id")
        .values_list("pk", flat=True)[:limit]
    )


def pending_replies_of(*, ticket: Ticket, author: User) -> list[ScheduledReply]:
    """The author's replies still in their undo window on this ticket (for their page)."""
    return list(
        ScheduledReply.objects.filter(
            ticket=ticket, author=author, state=ScheduledReply.State.SCHEDULED
        ).order_by("send_at", "id")
    )
