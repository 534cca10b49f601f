"""Factories for tickets; shared by the tests and `seed_demo`.

They write rows directly, to set up a state quickly. Changes under test go through
`tickets.services`, never through a factory.
"""

from collections.abc import Iterable
from typing import Any

import factory

from customers.factories import CustomerFactory
from customers.models import Tag
from tickets.models import Message, SenderKind, Ticket, TicketEvent


class TicketFactory(factory.django.DjangoModelFactory[Ticket]):
    class Meta:
        model = Ticket
        skip_postgeneration_save = True

    subject = factory.Faker("sentence", nb_words=6)
    customer = factory.SubFactory(CustomerFactory)
    # As open_ticket sets it: the customer's tier, copied for the tier filters.
    customer_tier = factory.LazyAttribute(lambda t: t.customer.tier)
    search_document = factory.LazyAttribute(lambda t: t.subject)

    @factory.post_generation
    def tags(ticket: Ticket, create: bool, extracted: Iterable[Tag] | None, **kwargs: Any) -> None:
        if create and extracted:
            ticket.tags.set(extracted)


class MessageFactory(factory.django.DjangoModelFactory[Message]):
    class Meta:
        model = Message

    ticket = factory.SubFactory(TicketFactory)
    sender = SenderKind.CUSTOMER
    body = factory.Faker("paragraph")


class TicketEventFactory(factory.django.DjangoModelFactory[TicketEvent]):
    class Meta:
        model = TicketEvent

    ticket = factory.SubFactory(TicketFactory)
    kind = "created"
    data = factory.Dict({})
