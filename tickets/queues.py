"""The queue's reads: which tickets each view holds, their counts, sorting and keyset pages.

Both the queue page and the left navigation's counts read from here, so a view's count and
its rows cannot disagree. Every view starts from `tickets_visible_to`.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import (
    DateTimeField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import User
from tickets.models import PRIORITY_RANK, Message, SenderKind, Status, Ticket, TicketSeen
from tickets.saved_views import own_teams
from tickets.selectors import tickets_visible_to

UNSOLVED = (Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD)
RECENTLY_SOLVED_DAYS = 7
# Counts stop at this many rows: a cheap, bounded query however large the desk ("999+").
COUNT_CAP = 1000
PAGE_SIZE = 50


@dataclass(frozen=True)
class QueueView:
    key: str
    label: str
    empty: str  # what the page says when the view holds nothing


VIEWS = [
    QueueView("mine", "My open", "Nothing assigned to you is open. Pick one from Unassigned."),
    QueueView("unassigned", "Unassigned", "No unassigned tickets. Nice."),
    QueueView("teams", "My teams", "Your teams have no open tickets."),
    QueueView("pending", "Pending", "No ticket is waiting on a customer."),
    QueueView(
        "at_risk",
        "At risk / breaching",
        "No open ticket is due within the hour. Every promise is on track.",
    ),
    QueueView("solved", "Recently solved", "Nothing solved in the last 7 days."),
    QueueView("all", "All", "No tickets yet."),
]
VIEW_KEYS = {view.key: view for view in VIEWS}
DEFAULT_VIEW = "mine"
# "At risk": an unsolved ticket whose next SLA target is due within this window or already
# past (the ticket's SLA summary, sla_due_at, is kept by `slas`). The badge's "At risk" level
# (tickets/templatetags/sla.py) uses the same window.
AT_RISK_WINDOW = timedelta(hours=1)
# The view each key sorts by when the URL names no sort.
VIEW_SORTS = {"at_risk": "due"}


def view_condition(key: str, user: User) -> Q:
    """What puts a ticket in view `key` for `user` (an agent)."""
    if key == "mine":
        return Q(assignee=user, status__in=UNSOLVED)
    if key == "unassigned":
        return Q(assignee__isnull=True, status__in=UNSOLVED)
    if key == "teams":
        # The teams they are in or manage. A subquery, not a list: no extra round trip, and
        # the counts stay one query.
        return Q(team__in=own_teams(user).values("pk"), status__in=UNSOLVED)
    if key == "pending":
        return Q(status=Status.PENDING)
    if key == "at_risk":
        # A range on sla_due_at: the partial index ticket_sla_due answers it (rows without a
        # running target have no due instant and are not in the index).
        horizon = timezone.now() + AT_RISK_WINDOW
        return Q(sla_due_at__isnull=False, sla_due_at__lte=horizon, status__in=UNSOLVED)
    if key == "solved":
        # `solved_at` is set when a ticket is solved, kept when it is closed and cleared when
        # it reopens (tickets.services), so it alone says "solved lately": the partial index
        # on it then answers the view and its capped count without reading the tickets.
        since = timezone.now() - timedelta(days=RECENTLY_SOLVED_DAYS)
        return Q(solved_at__gte=since)
    if key == "all":
        return Q()
    raise KeyError(key)


def view_tickets(user: User, key: str) -> QuerySet[Ticket]:
    return tickets_visible_to(user).filter(view_condition(key, user))


def view_counts(user: User) -> dict[str, int]:
    """Every view's count, capped at COUNT_CAP, in one query of index-friendly subqueries
    (a conditional aggregate would read every ticket on the desk)."""
    parts: list[str] = []
    params: list[Any] = []
    for view in VIEWS:
        capped = view_tickets(user, view.key).order_by().values("pk")[:COUNT_CAP]
        sql, sub_params = capped.query.sql_with_params()
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS {view.key}_rows)")  # noqa: S608
        params.extend(sub_params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        row = cursor.fetchone()
    return {view.key: int(count) for view, count in zip(VIEWS, row, strict=True)}


def count_label(count: int) -> str:
    return f"{COUNT_CAP - 1}+" if count >= COUNT_CAP else str(count)


# --- Sorting and keyset pages -------------------------------------------------------------
# Each sort is a list of (annotation or field, kind) compared descending, ending in the id;
# the sorts in ASCENDING compare ascending instead (soonest due first).
SORTS: dict[str, list[tuple[str, str]]] = {
    "updated": [("updated_at", "datetime"), ("id", "int")],
    "created": [("created_at", "datetime"), ("id", "int")],
    "priority": [("priority_rank", "int"), ("updated_at", "datetime"), ("id", "int")],
    "due": [("sla_due_at", "datetime"), ("id", "int")],
}
ASCENDING = {"due"}
SORT_LABELS = {
    "updated": "Last update",
    "created": "Created",
    "priority": "Priority",
    "due": "SLA due (soonest first)",
}
DEFAULT_SORT = "updated"


class BadCursor(ValueError):
    pass


def sorted_tickets(tickets: QuerySet[Ticket], sort: str) -> QuerySet[Ticket]:
    if sort == "priority":
        tickets = tickets.annotate(priority_rank=PRIORITY_RANK)
    if sort == "due":
        # Only tickets with a running target have a due instant; a keyset needs a value.
        tickets = tickets.filter(sla_due_at__isnull=False)
    sign = "" if sort in ASCENDING else "-"
    return tickets.order_by(*(f"{sign}{field}" for field, _kind in SORTS[sort]))


def encode_cursor(ticket: Ticket, sort: str) -> str:
    values = []
    for field, kind in SORTS[sort]:
        value = getattr(ticket, field)
        values.append(value.isoformat() if kind == "datetime" else value)
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise BadCursor from error
    keys = SORTS[sort]
    if not isinstance(values, list) or len(values) != len(keys):
        raise BadCursor
    decoded: list[Any] = []
    for value, (_field, kind) in zip(values, keys, strict=True):
        if kind == "int":
            if not isinstance(value, int) or isinstance(value, bool) or abs(value) > 2**63 - 1:
                raise BadCursor
            decoded.append(value)
        else:
            moment: datetime | None = parse_datetime(value) if isinstance(value, str) else None
            if moment is None or moment.tzinfo is None:
                raise BadCursor
            decoded.append(moment)
    return decoded


def _beyond(sort: str, values: list[Any], *, older: bool) -> Q:
    """Rows after (older) or before (newer) the row with these sort values, all descending:
    (a < x) or (a = x and b < y) or ... (the other way round for an ascending sort)."""
    lookup = "lt" if older != (sort in ASCENDING) else "gt"
    condition = Q()
    equal: dict[str, Any] = {}
    for (field, _kind), value in zip(SORTS[sort], values, strict=True):
        condition |= Q(**equal, **{f"{field}__{lookup}": value})
        equal[field] = value
    # The same bound on the first key alone, which an index range can use: without it the
    # database walks the index from the top and filters its way down to the cursor.
    first, first_value = SORTS[sort][0][0], values[0]
    return Q(**{f"{first}__{lookup}e": first_value}) & condition


@dataclass
class Page:
    rows: list[Ticket]
    newer: str | None  # cursor for the page before (towards the top), if any
    older: str | None  # cursor for the page after, if any


def keyset_page(
    tickets: QuerySet[Ticket],
    *,
    sort: str,
    after: str = "",
    before: str = "",
    size: int = PAGE_SIZE,
) -> Page:
    """One page of `tickets` (already filtered) by keyset: never an OFFSET.

    `after` walks towards older rows, `before` back towards newer ones."""
    ordered = sorted_tickets(tickets, sort)
    if before:
        values = decode_cursor(before, sort)
        ascending = ordered.filter(_beyond(sort, values, older=False)).reverse()
        rows = list(ascending[: size + 1])
        has_newer = len(rows) > size
        rows = list(reversed(rows[:size]))
        has_older = True
    else:
        if after:
            ordered = ordered.filter(_beyond(sort, decode_cursor(after, sort), older=True))
        rows = list(ordered[: size + 1])
        has_older = len(rows) > size
        rows = rows[:size]
        has_newer = bool(after)
    return Page(
        rows=rows,
        newer=encode_cursor(rows[0], sort) if rows and has_newer else None,
        older=encode_cursor(rows[-1], sort) if rows and has_older else None,
    )


def with_row_details(tickets: QuerySet[Ticket], user: User) -> QuerySet[Ticket]:
    """What a queue row shows, in the same query: customer and tier, assignee, team, and when
    the customer last wrote against when this agent last opened the ticket (the unread dot)."""
    last_customer_message = (
        Message.objects.filter(ticket=OuterRef("pk"), sender=SenderKind.CUSTOMER)
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    seen = TicketSeen.objects.filter(ticket=OuterRef("pk"), agent=user).values("seen_at")[:1]
    return (
        tickets.defer("search_document")
        .select_related("customer", "customer__tier", "assignee", "team")
        .annotate(
            customer_wrote_at=Subquery(last_customer_message, output_field=DateTimeField()),
            seen_at=Subquery(seen, output_field=DateTimeField()),
        )
    )


def is_unread(ticket: Ticket) -> bool:
    wrote = getattr(ticket, "customer_wrote_at", None)
    seen = getattr(ticket, "seen_at", None)
    return wrote is not None and (seen is None or wrote > seen)
