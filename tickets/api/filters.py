"""Query-string filters for the ticket list: `?status=new&status=open&team=3&search=refund`.

A bad value is a 400 naming the parameter. Filters on agent-only data (team, assignee,
customer, ...) are ignored for customers: they filter within their own tickets, and a filter
on something they cannot see must not tell them anything about it.
"""

import re
from typing import Any

import django_filters as filters
from django import forms
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema_field

from accounts.selectors import is_agent
from core.api import AGENTS_ONLY_FILTER as AGENTS_ONLY
from core.ids import MAX_ID, IdField
from core.times import UtcDateTimeFilter
from customers.models import Tier
from tickets.models import Channel, Priority, Status, Ticket, TicketType
from tickets.selectors import search_tickets

NONE = "none"
ID_OR_NONE_PATTERN = r"^([0-9]{1,19}|none)$"
REFERENCE_PATTERN = r"^([Hh][Dd]-)?[0-9]{1,19}$"


class CommaSeparatedMultipleChoiceField(forms.MultipleChoiceField):
    """`?status=new&status=open` and `?status=new,open` mean the same."""

    def to_python(self, value: Any) -> list[str]:
        values = super().to_python(value)
        return [part.strip() for item in values for part in item.split(",") if part.strip()]


class MultipleChoiceFilter(filters.MultipleChoiceFilter):
    field_class = CommaSeparatedMultipleChoiceField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # These filter plain columns of the ticket, so no row can match twice. django-filter's
        # default DISTINCT made PostgreSQL gather and sort every match before the LIMIT.
        kwargs.setdefault("distinct", False)
        super().__init__(*args, **kwargs)


class DocumentedFilter(filters.Filter):
    """A filter with its own parameter schema, keeping its help text as the description."""

    schema: dict[str, Any] = {"type": "string"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        description = self.extra.get("help_text", "")
        # drf-spectacular reads the mark off filters too; its stub allows fields only.
        extend_schema_field({**self.schema, "description": description})(self)  # type: ignore[type-var]


class IdFilter(DocumentedFilter):
    field_class = IdField
    schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def _text(field: forms.Field, value: Any) -> str:
    """What CharField.to_python makes of a query-string value: stripped text, "" if empty."""
    return "" if value in field.empty_values else str(value).strip()


class IdOrNoneField(forms.Field):
    """A row id, or `none` for "not set"."""

    def to_python(self, value: Any) -> int | str | None:
        text = _text(self, value).lower()
        if not text:
            return None
        if not re.fullmatch(ID_OR_NONE_PATTERN, text) or (text != NONE and int(text) > MAX_ID):
            raise forms.ValidationError("Enter an id or 'none'.")
        return NONE if text == NONE else int(text)


class IdOrNoneFilter(DocumentedFilter):
    field_class = IdOrNoneField
    schema = {"type": "string", "pattern": ID_OR_NONE_PATTERN}

    def filter(self, qs: QuerySet, value: int | str | None) -> QuerySet:
        if value is None:
            return qs
        if value == NONE:
            return qs.filter(**{f"{self.field_name}__isnull": True})
        return qs.filter(**{f"{self.field_name}": value})


class ReferenceField(forms.Field):
    def to_python(self, value: Any) -> int | None:
        text = _text(self, value)
        if not text:
            return None
        pk = Ticket.pk_from_reference(text) if re.fullmatch(REFERENCE_PATTERN, text) else None
        if pk is None or pk > MAX_ID:
            raise forms.ValidationError("Enter a ticket reference such as HD-1042.")
        return pk


class ReferenceFilter(DocumentedFilter):
    field_class = ReferenceField
    schema = {"type": "string", "pattern": REFERENCE_PATTERN}

    def filter(self, qs: QuerySet, value: int | None) -> QuerySet:
        return qs if value is None else qs.filter(pk=value)


class TicketFilter(filters.FilterSet):
    status = MultipleChoiceFilter(
        choices=Status.choices, help_text="One or more statuses (repeat, or separate by commas)."
    )
    priority = MultipleChoiceFilter(choices=Priority.choices, help_text="One or more priorities.")
    type = MultipleChoiceFilter(choices=TicketType.choices, help_text="One or more types.")
    channel = MultipleChoiceFilter(choices=Channel.choices, help_text="One or more channels.")
    team = IdOrNoneFilter(field_name="team", help_text=f"A team id, or `none`. {AGENTS_ONLY}")
    assignee = IdOrNoneFilter(
        field_name="assignee", help_text=f"An agent's user id, or `none`. {AGENTS_ONLY}"
    )
    unassigned = filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_unassigned",
        help_text=f"`true`: only tickets without an assignee; `false`: only with. {AGENTS_ONLY}",
    )
    customer = IdFilter(field_name="customer", help_text=f"A customer id. {AGENTS_ONLY}")
    organization = IdFilter(
        field_name="customer__organization", help_text=f"An organization id. {AGENTS_ONLY}"
    )
    tier = filters.CharFilter(
        method="filter_tier",
        max_length=50,
        help_text=f"The customer's tier: its slug (`gold`) or id. {AGENTS_ONLY}",
    )
    tag = filters.CharFilter(
        field_name="tags__name", max_length=50, help_text=f"A tag name. {AGENTS_ONLY}"
    )
    created_after = UtcDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after (ISO 8601)."
    )
    created_before = UtcDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Created before (ISO 8601)."
    )
    updated_after = UtcDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="Updated at or after (ISO 8601)."
    )
    updated_before = UtcDateTimeFilter(
        field_name="updated_at", lookup_expr="lt", help_text="Updated before (ISO 8601)."
    )
    reference = ReferenceFilter(help_text="A ticket reference such as HD-1042.")
    search = filters.CharFilter(
        method="filter_search",
        max_length=200,
        help_text="Words in the subject or the messages (full-text on PostgreSQL).",
    )

    AGENT_ONLY_FILTERS = frozenset(
        {"team", "assignee", "unassigned", "customer", "organization", "tier", "tag"}
    )

    class Meta:
        model = Ticket
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = getattr(self.request, "user", None)
        if user is not None and not is_agent(user):
            for name in self.AGENT_ONLY_FILTERS:
                self.filters.pop(name, None)

    def filter_unassigned(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(assignee__isnull=value == "true")

    def filter_tier(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        tiers = Q(slug=value)
        if value.isascii() and value.isdigit() and int(value) <= MAX_ID:  # not "²"
            tiers |= Q(pk=int(value))
        # The ticket's copy of its customer's tier (indexed: ticket_tier_created), matched
        # against the few tier rows in a subquery, so no join through customers.
        return queryset.filter(customer_tier__in=Tier.objects.filter(tiers).values("pk"))

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        user = self.request.user if self.request is not None else AnonymousUser()
        return search_tickets(queryset, value, user=user)
