"""Factories for people; shared by the tests and `seed_demo`."""

from collections.abc import Iterable
from functools import cache
from typing import Any

import factory
from django.contrib.auth.hashers import make_password

from accounts.models import AgentProfile, Availability, Role, Team, User

DEFAULT_PASSWORD = "helpdesk-demo"  # noqa: S105 - demo and test logins only


@cache
def hashed_default_password() -> str:
    # Hashing once keeps thousands of demo users, and every test, fast.
    return make_password(DEFAULT_PASSWORD)


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True  # post-generation hooks save what they change

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.LazyFunction(hashed_default_password)


class TeamFactory(factory.django.DjangoModelFactory[Team]):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


class AgentProfileFactory(factory.django.DjangoModelFactory[AgentProfile]):
    class Meta:
        model = AgentProfile
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    role = Role.AGENT
    availability = Availability.ONLINE

    @factory.post_generation
    def teams(
        profile: AgentProfile, create: bool, extracted: Iterable[Team] | None, **kwargs: Any
    ) -> None:
        if create and extracted:
            profile.teams.set(extracted)


class AgentFactory(UserFactory):
    """A user who works tickets: `AgentFactory(profile__role=Role.MANAGER,
    profile__teams=[team])`. Admins also get Django admin access."""

    username = factory.Sequence(lambda n: f"agent{n}")
    profile = factory.RelatedFactory(AgentProfileFactory, factory_related_name="user")

    @classmethod
    def _after_postgeneration(
        cls, instance: User, create: bool, results: dict[str, Any] | None = None
    ) -> None:
        super()._after_postgeneration(instance, create, results)
        if create and instance.agent_profile.role == Role.ADMIN and not instance.is_staff:
            instance.is_staff = instance.is_superuser = True
            instance.save(update_fields=["is_staff", "is_superuser"])
