"""Whether a session still signs someone in: asked for one socket (`signed_in_user`) or for
every socket of a process at once (`signed_in_users`), the answer is the same."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from accounts.live import signed_in_user, signed_in_users
from accounts.models import User


def session_of(user) -> str:
    client = Client()
    client.force_login(user)
    return client.session.session_key


@pytest.mark.django_db
def test_many_sessions_get_the_same_answers_as_one_by_one(
    agent, other_agent, manager, customer, django_assert_num_queries
):
    valid = (session_of(agent), agent.pk)
    claims = [
        valid,
        (session_of(agent), agent.pk),  # the same agent in a second browser
        (session_of(customer.user), customer.user.pk),  # signed in, not an agent: still a user
        (valid[0], other_agent.pk),  # a session of someone else than claimed
        ("no-such-session-key", agent.pk),
    ]
    expired = session_of(other_agent)
    Session.objects.filter(pk=expired).update(expire_date=timezone.now() - timedelta(seconds=1))
    password_changed = session_of(manager)
    manager.set_password("a-new-long-passphrase")
    manager.save()
    deleted = User.objects.create_user(username="gone", password="x-long-passphrase")
    gone = session_of(deleted)
    deleted.delete()
    claims += [(expired, other_agent.pk), (password_changed, manager.pk), (gone, deleted.pk)]

    with django_assert_num_queries(2):  # the session rows, the users with their profiles
        answers = signed_in_users(claims)

    assert answers == {(key, user_id): signed_in_user(key, user_id) for key, user_id in claims}
    assert [answers[claim] for claim in claims[:3]] == [agent, agent, customer.user]
    assert User.agent_profile.is_cached(answers[valid])  # loaded with the user: is_agent is free
    assert set(claims[3:]) == {claim for claim, user in answers.items() if user is None}


@pytest.mark.django_db
def test_many_sessions_are_read_500_to_a_query(agent, django_assert_num_queries):
    key = session_of(agent)
    claims = [(key, agent.pk)] + [(f"missing{n}", agent.pk) for n in range(600)]
    with django_assert_num_queries(3):  # sessions in two chunks of 500; one user
        answers = signed_in_users(claims)
    assert answers[key, agent.pk] == agent
    assert sum(user is not None for user in answers.values()) == 1
