"""Reads that several doors share. Access rules for tickets live here and nowhere else."""

from django.conf import settings
from django.db.models import BooleanField, Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL

from accounts.selectors import AnyUser, is_agent
from customers.models import Customer
from tickets.models import Attachment, Message, Status, Ticket, TicketEvent

# Where a ticket stands, as a customer's history counts it.
UNRESOLVED_STATUSES = [Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD]
RESOLVED_STATUSES = [Status.SOLVED, Status.CLOSED]
RECENT_TICKETS = 5


def tickets_visible_to(user: AnyUser) -> QuerySet[Ticket]:
    """Agents and managers see every ticket; a customer their own; anyone else none."""
    if not user.is_authenticated:
        return Ticket.objects.none()
    if is_agent(user):
        return Ticket.objects.all()
    customer = getattr(user, "customer", None)
    if customer is None:
        return Ticket.objects.none()
    return Ticket.objects.filter(customer=customer)


def sees_internal_notes(user: AnyUser) -> bool:
    """The one rule for internal notes: agents read them; customers never do, by any path."""
    return is_agent(user)


def _messages_readable_by(user: AnyUser) -> QuerySet[Message]:
    messages = Message.objects.select_related("author").prefetch_related("attachments")
    return messages if sees_internal_notes(user) else messages.filter(is_internal=False)


def messages_visible_to(user: AnyUser, ticket: Ticket) -> QuerySet[Message]:
    """The conversation on one ticket as this person may see it."""
    return _messages_readable_by(user).filter(ticket=ticket)


def message_prefetch_for(user: AnyUser) -> "Prefetch[str]":
    """The same conversation, prefetched for a page of tickets."""
    return Prefetch("messages", queryset=_messages_readable_by(user))


def attachments_visible_to(user: AnyUser) -> QuerySet[Attachment]:
    """Files on the messages this person may see, on the tickets they may see."""
    attachments = Attachment.objects.filter(message__ticket__in=tickets_visible_to(user))
    if not sees_internal_notes(user):
        attachments = attachments.filter(message__is_internal=False)
    return attachments.select_related("message")


def ticket_timeline(ticket: Ticket) -> QuerySet[TicketEvent]:
    """The audit trail, oldest first (agents only; the caller checks)."""
    return ticket.events.select_related("actor")


def customers_with_ticket_history(customers: QuerySet[Customer]) -> QuerySet[Customer]:
    """Customers with their ticket counts (counted in SQL) and their five latest tickets in
    `recent_tickets`: three queries whatever the number of tickets. The caller has chosen the
    customers (`customers.selectors.customers_visible_to`)."""
    return customers.annotate(
        open_ticket_count=Count("tickets", filter=Q(tickets__status__in=UNRESOLVED_STATUSES)),
        solved_ticket_count=Count("tickets", filter=Q(tickets__status__in=RESOLVED_STATUSES)),
    ).prefetch_related(
        Prefetch(
            "tickets",
            # A sliced prefetch: Django ranks each customer's tickets in SQL (a window function).
            queryset=Ticket.objects.order_by("-created_at", "-id")[:RECENT_TICKETS],
            to_attr="recent_tickets",
        )
    )


def search_tickets(tickets: QuerySet[Ticket], text: str, *, user: AnyUser) -> QuerySet[Ticket]:
    """Tickets whose subject or message text matches `text`.

    Agents search everything (notes included) through the full-text index on PostgreSQL, a
    plain substring match elsewhere. Customers search their own few tickets by subject and
    public messages only, so a search can never reveal what an internal note says.
    """
    text = text.strip()
    if not text:
        return tickets
    if not sees_internal_notes(user):
        public_match = Message.objects.filter(
            ticket=OuterRef("pk"), is_internal=False, body__icontains=text
        )
        return tickets.filter(Q(subject__icontains=text) | Exists(public_match))
    reference_pk = Ticket.pk_from_reference(text) if text.upper().startswith("HD-") else None
    if reference_pk is not None:
        return tickets.filter(pk=reference_pk)
    if settings.IS_POSTGRES:
        # `search_vector` is a generated column PostgreSQL keeps from search_document, with a
        # GIN index (migration 0003); the model does not declare it, hence the raw condition.
        matches = RawSQL(
            "tickets_ticket.search_vector @@ websearch_to_tsquery('english', %s)",
            (text,),
            output_field=BooleanField(),
        )
        return tickets.filter(matches)
    query = Q()
    for word in text.split()[:8]:
        query &= Q(search_document__icontains=word)
    return tickets.filter(query)
