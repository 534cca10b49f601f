"""The two questions every door asks about people, answered in one place each."""

from django.contrib.auth.models import AnonymousUser

from accounts.selectors import active_agents, is_agent
from tests.factories import AgentFactory, UserFactory


def test_agents_managers_and_admins_are_agents(agent, manager):
    assert is_agent(agent)
    assert is_agent(manager)


def test_anyone_else_is_not_an_agent(db, customer):
    superuser_without_profile = UserFactory(is_staff=True, is_superuser=True)
    deactivated = AgentFactory(is_active=False)

    assert not is_agent(None)
    assert not is_agent(AnonymousUser())
    assert not is_agent(customer.user)
    assert not is_agent(superuser_without_profile)
    assert not is_agent(deactivated)


def test_the_active_agents_are_exactly_those_is_agent_accepts(agent, manager, customer):
    deactivated = AgentFactory(is_active=False)
    UserFactory(is_staff=True, is_superuser=True)

    assert set(active_agents()) == {agent, manager}
    assert not is_agent(deactivated)
