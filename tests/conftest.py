"""Personas every test can ask for by name, each with a signed-in API client."""

from uuid import uuid4

import pytest
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import Role
from tests.factories import AgentFactory, CustomerFactory, TeamFactory


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`@pytest.mark.postgres` tests prove what only PostgreSQL does (triggers, say). They run
    whenever the suite runs on PostgreSQL and are deselected (not skipped) on SQLite."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    deselected = [item for item in items if item.get_closest_marker("postgres")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("postgres")]


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    # Attachments written by a test land in its own folder, not in var/media.
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _locmem_email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(autouse=True, scope="session")
def _private_celery_queue(tmp_path_factory):
    """Jobs the tests queue on the filesystem broker go to a folder of their own, never to
    var/celery, where a developer's running worker would take them (and look their ids up in
    the wrong database). On Redis the run's own REDIS_URL database keeps them apart."""
    from helpdesk.celery import app

    if not app.conf.broker_url.startswith("filesystem"):
        yield
        return
    folder = str(tmp_path_factory.mktemp("celery-queue"))
    saved = app.conf.broker_transport_options
    app.conf.broker_transport_options = {
        **saved,
        "data_folder_in": folder,
        "data_folder_out": folder,
        "processed_folder": folder,
        "control_folder": folder,
    }
    yield  # (set before any test publishes, so no pooled connection knows the old folders)
    app.conf.broker_transport_options = saved


@pytest.fixture(scope="session", autouse=True)
def _test_database_can_be_dropped(django_db_setup, django_db_blocker):
    """Let the test database be dropped at the end of a PostgreSQL run.

    Worker threads (Celery's in-thread worker, Channels' sync executors) can leave a pooled
    connection checked out, and PostgreSQL refuses to drop a database anyone is still using.
    This runs after the last test and before pytest-django drops the database.
    """
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def _fresh_sla_versions():
    # SLA calendar and policy versions are cached per (id, version) in the process; a test's
    # rolled-back rows can hand their ids to the next test's (different) calendar.
    from slas.services import forget_cached_versions

    forget_cached_versions()


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    # Throttle counters live in the cache: each test starts with none, in its own process
    # memory, so one test's requests never push another (or the suite on Redis) into a 429.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
async def private_channel_layer(settings):
    """On Redis, give this test its own key prefix: pub/sub channels are shared by every
    database number, so another test run on the same server would otherwise talk to ours."""
    layer = dict(django_settings.CHANNEL_LAYERS["default"])
    if "CONFIG" in layer:
        layer["CONFIG"] = {**layer["CONFIG"], "prefix": f"test{uuid4().hex[:12]}"}
        settings.CHANNEL_LAYERS = {"default": layer}
    yield
    await get_channel_layer().flush()  # closes this event loop's Redis connections


@pytest.fixture
def team(db):
    return TeamFactory(name="Orders")


@pytest.fixture
def agent(db, team):
    return AgentFactory(username="alice", first_name="Alice", profile__teams=[team])


@pytest.fixture
def other_agent(db, team):
    return AgentFactory(username="bob", first_name="Bob", profile__teams=[team])


@pytest.fixture
def manager(db, team):
    return AgentFactory(username="maria", first_name="Maria", profile__role=Role.MANAGER)


@pytest.fixture
def customer(db):
    """A customer with a login (`customer.user` signs in)."""
    return CustomerFactory(with_login=True, name="Carol Customer", email="carol@shop.example")


@pytest.fixture
def other_customer(db):
    return CustomerFactory(with_login=True, name="Oscar Other", email="oscar@shop.example")


def _client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


@pytest.fixture
def agent_client(agent) -> APIClient:
    return _client_for(agent)


@pytest.fixture
def manager_client(manager) -> APIClient:
    return _client_for(manager)


@pytest.fixture
def customer_client(customer) -> APIClient:
    return _client_for(customer.user)


@pytest.fixture
def other_customer_client(other_customer) -> APIClient:
    return _client_for(other_customer.user)
