"""Query-string filters for the customer and organization lists."""

import django_filters
from django import forms
from django.db.models import QuerySet

from customers.models import Customer, Organization
from customers.selectors import customers_with_email, search_customers

# The largest id a 64-bit column holds; a bigger number in a query string would make the
# database driver fail (a 500) instead of matching nothing.
MAX_ID = 2**63 - 1


class IdField(forms.IntegerField):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=1, max_value=MAX_ID, **kwargs)


class IdFilter(django_filters.NumberFilter):
    # Whole positive numbers only: `?organization=1.5` is a 400, not a silent match on 1.
    field_class = IdField


class CustomerFilter(django_filters.FilterSet):
    tier = django_filters.CharFilter(
        method="filter_tier", help_text="A tier's slug (`gold`) or id."
    )
    organization = IdFilter(field_name="organization_id", help_text="An organization's id.")
    tag = django_filters.CharFilter(method="filter_tag", help_text="A tag's name.")
    email = django_filters.CharFilter(
        method="filter_email", help_text="An exact email address, in any case."
    )
    search = django_filters.CharFilter(
        method="filter_search", help_text="Words found in the name, email or shop id."
    )

    class Meta:
        model = Customer
        fields = ["tier", "organization", "tag", "email", "search"]

    def filter_tier(self, customers: QuerySet[Customer], name: str, value: str):
        value = value.strip()
        if value.isascii() and value.isdigit():  # "²" is a digit int() cannot read
            tier_id = int(value)
            return customers.filter(tier_id=tier_id) if tier_id <= MAX_ID else customers.none()
        return customers.filter(tier__slug=value)

    def filter_tag(self, customers: QuerySet[Customer], name: str, value: str):
        # Tag names are stored lower-cased (customers.services.tags_named).
        return customers.filter(tags__name=value.strip().lower())

    def filter_email(self, customers: QuerySet[Customer], name: str, value: str):
        return customers_with_email(customers, value)

    def filter_search(self, customers: QuerySet[Customer], name: str, value: str):
        return search_customers(customers, value)


class OrganizationFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        field_name="name", lookup_expr="icontains", help_text="Part of the name."
    )

    class Meta:
        model = Organization
        fields = ["search"]
