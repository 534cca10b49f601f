"""Opening a ticket."""

from __future__ import annotations  # UploadedFile[...] is a type only, not subscriptable at runtime

from collections.abc import Iterable, Sequence
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from accounts.models import Team, User
from accounts.selectors import is_agent
from core.errors import RuleBroken
from customers.models import Customer
from tickets import events
from tickets.models import (
    Channel,
    EventKind,
    Notification,
    Priority,
    SenderKind,
    Status,
    Ticket,
    TicketType,
)
from tickets.services._shared import (
    _announce,
    _check_attachments,
    _clean_body,
    _clean_subject,
    _owe_email,
    _record,
    _require_active_team,
    _require_agent,
    _require_choice,
    _tags_named,
    plain_text,
)
from tickets.services.conversation import _create_message


@transaction.atomic
def open_ticket(
    *,
    customer: Customer,
    subject: str,
    body: str,
    actor: User | None,
    channel: str = Channel.WEB,
    priority: str = Priority.NORMAL,
    type: str = TicketType.QUESTION,
    team: Team | None = None,
    assignee: User | None = None,
    tags: Iterable[str] = (),
    parent: Ticket | None = None,
    attachments: Sequence[UploadedFile[Any]] = (),
) -> Ticket:
    """Open a ticket with its first message, and owe the customer an email with its reference.

    `actor` is the customer's own login, an agent opening it on their behalf, or None for a
    system door (an inbound email without a login).
    """
    subject = _clean_subject(subject)
    body = _clean_body(body)
    _check_attachments(attachments)
    _require_choice("channel", channel, Channel)
    _require_choice("priority", priority, Priority)
    _require_choice("type", type, TicketType)
    if assignee is not None:
        _require_agent(assignee, "assignee")
    _require_active_team(team)
    if parent is not None and parent.status == Status.CLOSED:
        raise RuleBroken("parent", "A closed ticket cannot be a parent.")
    if actor is not None and not is_agent(actor) and actor.pk != customer.user_id:
        # Otherwise their words would be filed as this customer's.
        raise RuleBroken("customer", "Only agents open tickets for someone else.")

    ticket = Ticket.objects.create(
        subject=subject,
        customer=customer,
        customer_tier_id=customer.tier_id,  # the dashboard's and queue's tier filter
        channel=channel,
        priority=priority,
        type=type,
        team=team,
        assignee=assignee,
        parent=parent,
        search_document=subject,
    )
    tag_objects = _tags_named(tags)
    if tag_objects:
        ticket.tags.set(tag_objects)
    # The description records who typed it (an agent taking a phone call shows as the agent),
    # but it is the customer's request, not an answer: it never sets the first-reply time.
    message = _create_message(
        ticket=ticket,
        author=actor,
        sender=SenderKind.AGENT if is_agent(actor) else SenderKind.CUSTOMER,
        body=body,
        is_internal=False,
        attachments=attachments,
    )
    # The opening message is the customer's request (even when an agent typed it for them):
    # the customer is waiting from now on.
    ticket.last_customer_message_at = message.created_at
    Ticket.objects.filter(pk=ticket.pk).update(
        search_document=f"{subject}\n{plain_text(message.body)}",
        last_customer_message_at=message.created_at,
    )
    _record(
        ticket,
        actor,
        EventKind.CREATED,
        {
            "status": ticket.status,
            "priority": ticket.priority,
            "channel": ticket.channel,
            "team": ticket.team_id,
            "assignee": ticket.assignee_id,
            "tags": [tag.name for tag in tag_objects],
            "message": message.pk,
        },
    )
    _announce(ticket, events.TICKET_CREATED, {}, actor=actor)
    _owe_email(ticket, Notification.Kind.TICKET_OPENED, customer.email)
    if assignee is not None and assignee != actor:
        _owe_email(ticket, Notification.Kind.TICKET_ASSIGNED, assignee.email)
    return ticket
