"""The append-only guard, written once in core.append_only, on both tables that are history: the
model refuses on every database; on PostgreSQL a trigger named `<table>_append_only` refuses too.
(What each table refuses is pinned in tests/tickets and tests/accounts.)"""

import pytest
from django.db import connection

from accounts.models import AuditEntry
from accounts.services import set_team_active
from core.append_only import AppendOnlyError, AppendOnlyOnPostgresql
from tests.factories import TeamFactory, TicketEventFactory

pytestmark = pytest.mark.django_db

TABLES = ["tickets_ticketevent", "accounts_auditentry"]


def test_the_refusal_names_what_is_refused(manager):
    event = TicketEventFactory()
    set_team_active(team=TeamFactory(), active=False, actor=manager)
    entry = AuditEntry.objects.get()

    with pytest.raises(AppendOnlyError, match=r"^Ticket events are never rewritten\.$"):
        event.save()
    with pytest.raises(AppendOnlyError, match=r"^Audit entries are never deleted\.$"):
        entry.delete()


def triggers() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger JOIN pg_proc ON pg_proc.oid = tgfoid "
            "WHERE NOT tgisinternal AND tgname = proname"
        )
        return {name for (name,) in cursor.fetchall()}


@pytest.mark.postgres
def test_postgresql_has_each_tables_trigger_under_its_old_name():
    assert {f"{table}_append_only" for table in TABLES} <= triggers()


@pytest.mark.postgres
@pytest.mark.parametrize("table", TABLES)
def test_the_migration_operation_removes_and_reinstalls_the_trigger(table):
    operation = AppendOnlyOnPostgresql(table)

    with connection.schema_editor() as editor:
        operation.database_backwards("app", editor, None, None)
    removed = triggers()
    with connection.schema_editor() as editor:
        operation.database_forwards("app", editor, None, None)

    assert f"{table}_append_only" not in removed
    assert f"{table}_append_only" in triggers()
