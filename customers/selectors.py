"""Reads of customers that several doors share. Who may see customers lives here: agents see
every customer; a customer sees only their own record (through /me/, not the directory)."""

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Lower

from accounts.selectors import AnyUser, is_agent
from customers.models import Customer, Organization, Tier


def customers_visible_to(user: AnyUser) -> QuerySet[Customer]:
    """The customer directory: agents only."""
    if not is_agent(user):
        return Customer.objects.none()
    return Customer.objects.select_related("tier", "organization").prefetch_related("tags")


def customers_with_email(customers: QuerySet[Customer], email: str) -> QuerySet[Customer]:
    # Lower(email) is the unique index's expression; `email__iexact` would not use it.
    return customers.alias(email_lower=Lower("email")).filter(email_lower=email.strip().lower())


def search_customers(customers: QuerySet[Customer], text: str) -> QuerySet[Customer]:
    """Customers whose name, email or shop id contains every word of `text`."""
    query = Q()
    for word in text.split()[:8]:
        query &= Q(name__icontains=word) | Q(email__icontains=word) | Q(external_id__icontains=word)
    return customers.filter(query)


def organizations_with_counts() -> QuerySet[Organization]:
    # A GROUP BY query drops Meta.ordering, so the order is spelled out.
    return Organization.objects.annotate(customer_count=Count("customers")).order_by("name")


def tiers_in_order() -> QuerySet[Tier]:
    return Tier.objects.order_by("rank")
