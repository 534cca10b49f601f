"""Every write to a ticket. One function per kind of change: lock, validate, write, record the
event, and publish (and queue any email) only after the transaction commits.

Callers (API views, admin, commands, consumers, tasks) have already checked that the actor
may touch the ticket; the rules about *what* may change live here.
"""

from tickets.services._shared import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_TAGS,
    MAX_TAGS_PER_TICKET,
    NEXT_STATUSES,
    REOPENED_BY_CUSTOMER_REPLY,
    UNCHANGED,
    plain_text,
    sanitize_body,
    sender_kind_of,
)
from tickets.services.changes import (
    UPDATABLE_FIELDS,
    assign_ticket,
    change_ticket_details,
    change_ticket_priority,
    change_ticket_status,
    change_ticket_team,
    follow_customer_tier,
    retire_tag,
    set_ticket_tags,
    update_ticket,
)
from tickets.services.conversation import post_message
from tickets.services.opening import open_ticket
from tickets.services.sla import (
    owe_escalation_email,
    owe_escalation_emails,
    record_sla_summary,
    record_ticket_event,
    record_ticket_events,
    set_escalation_level,
    set_escalation_levels,
    sla_summary_of,
)

__all__ = [
    "ALLOWED_ATTRIBUTES",
    "ALLOWED_TAGS",
    "MAX_TAGS_PER_TICKET",
    "NEXT_STATUSES",
    "REOPENED_BY_CUSTOMER_REPLY",
    "UNCHANGED",
    "UPDATABLE_FIELDS",
    "assign_ticket",
    "change_ticket_details",
    "change_ticket_priority",
    "change_ticket_status",
    "change_ticket_team",
    "follow_customer_tier",
    "open_ticket",
    "owe_escalation_email",
    "owe_escalation_emails",
    "plain_text",
    "post_message",
    "record_sla_summary",
    "record_ticket_event",
    "record_ticket_events",
    "retire_tag",
    "sanitize_body",
    "sender_kind_of",
    "set_escalation_level",
    "set_escalation_levels",
    "set_ticket_tags",
    "sla_summary_of",
    "update_ticket",
]
