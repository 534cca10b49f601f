"""Factories for customers; shared by the tests and `seed_demo`."""

import factory
from factory import fuzzy

from accounts.factories import UserFactory
from customers.models import Customer, Organization, Tag, Tier

TIERS = [  # rank, name, slug
    (0, "Standard", "standard"),
    (1, "Silver", "silver"),
    (2, "Gold", "gold"),
    (3, "VIP", "vip"),
]


def standard_tiers() -> list[Tier]:
    """The four loyalty tiers every desk starts with (idempotent)."""
    return [
        Tier.objects.get_or_create(slug=slug, defaults={"name": name, "rank": rank})[0]
        for rank, name, slug in TIERS
    ]


class TagFactory(factory.django.DjangoModelFactory[Tag]):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag-{n}")


class TierFactory(factory.django.DjangoModelFactory[Tier]):
    class Meta:
        model = Tier
        django_get_or_create = ("slug",)

    name = "Standard"
    slug = "standard"
    rank = 0


class OrganizationFactory(factory.django.DjangoModelFactory[Organization]):
    class Meta:
        model = Organization
        django_get_or_create = ("name",)

    class Params:
        company = factory.Faker("company")

    # Faker repeats company names; with get_or_create a repeat would silently be one row.
    name = factory.LazyAttributeSequence(lambda o, n: f"{o.company} #{n}")
    domain = factory.Faker("domain_name")


class CustomerFactory(factory.django.DjangoModelFactory[Customer]):
    """A customer without a login; `CustomerFactory(with_login=True)` gives them one."""

    class Meta:
        model = Customer

    class Params:
        with_login = False

    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"customer{n}@shop.example")
    phone = factory.Faker("phone_number")
    external_id = factory.Sequence(lambda n: f"shop-{n}")
    tier = factory.SubFactory(TierFactory)
    lifetime_value = fuzzy.FuzzyDecimal(0, 5000)
    user = factory.Maybe(
        "with_login",
        yes_declaration=factory.SubFactory(
            UserFactory,
            username=factory.SelfAttribute("..email"),
            email=factory.SelfAttribute("..email"),
        ),
        no_declaration=None,
    )
