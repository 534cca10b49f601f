"""The factories the tests share with `seed_demo`, in one import."""

from accounts.factories import AgentFactory, AgentProfileFactory, TeamFactory, UserFactory
from customers.factories import (
    CustomerFactory,
    OrganizationFactory,
    TagFactory,
    TierFactory,
    standard_tiers,
)
from tickets.factories import MessageFactory, TicketEventFactory, TicketFactory

__all__ = [
    "AgentFactory",
    "AgentProfileFactory",
    "CustomerFactory",
    "MessageFactory",
    "OrganizationFactory",
    "TagFactory",
    "TeamFactory",
    "TicketEventFactory",
    "TicketFactory",
    "TierFactory",
    "UserFactory",
    "standard_tiers",
]
