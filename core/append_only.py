"""Tables that are history: a row, once written, is never rewritten or deleted.

Two guards, written once here and used by every such table (the ticket events, the audit):
- `AppendOnly`, an abstract model: the ORM's own `save()` of an existing row and `delete()`
  raise `AppendOnlyError`. It is the only guard on SQLite.
- `AppendOnlyOnPostgresql`, a migration operation: on PostgreSQL a trigger refuses every
  UPDATE and DELETE of a row, whatever the code path (a bulk `.update()` or `.delete()`, a raw
  query, a cascade from a deleted parent). TRUNCATE still works (row-level triggers do not fire
  for it): that is how the test database is flushed and how `seed_demo --reset` wipes a desk.
"""

from typing import Any, NoReturn

from django.db import models, router
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState
from django.utils.text import capfirst


class AppendOnlyError(Exception):
    pass


class AppendOnly(models.Model):
    """Base of a model whose rows are history. The refusal names the model ("Ticket events are
    never rewritten.") from its `verbose_name_plural`."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise AppendOnlyError(f"{self._rows()} are never rewritten.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(f"{self._rows()} are never deleted.")

    @classmethod
    def _rows(cls) -> str:
        return capfirst(str(cls._meta.verbose_name_plural))


def append_only_trigger_sql(table: str) -> tuple[str, str]:
    """The SQL that installs, and the SQL that removes, `table`'s refusal on PostgreSQL: a
    function and a trigger, both named `<table>_append_only`. The error says "append-only", which
    is what callers (and tests) match on."""
    name = f"{table}_append_only"
    install = f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{table} is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER {name}
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {name}();
"""
    remove = f"""
DROP TRIGGER IF EXISTS {name} ON {table};
DROP FUNCTION IF EXISTS {name}();
"""
    return install, remove


class AppendOnlyOnPostgresql(Operation):
    """Migration operation: install `table`'s append-only trigger on PostgreSQL (nothing on
    other databases, where the model's `AppendOnly` refusal is the guard); reversed, drop it."""

    reversible = True
    reduces_to_sql = True

    def __init__(self, table: str) -> None:
        self.table = table

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return self.__class__.__qualname__, [self.table], {}

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        pass  # a trigger is not part of Django's model state

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        install, _ = append_only_trigger_sql(self.table)
        self._execute(app_label, schema_editor, install)

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        _, remove = append_only_trigger_sql(self.table)
        self._execute(app_label, schema_editor, remove)

    def _execute(self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, sql: str) -> None:
        connection = schema_editor.connection
        if connection.vendor == "postgresql" and router.allow_migrate(connection.alias, app_label):
            # params=None: the body holds a literal `%`, which must not be read as a placeholder.
            schema_editor.execute(sql, params=None)

    def describe(self) -> str:
        return f"Refuse UPDATE and DELETE of {self.table} rows on PostgreSQL"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.table}_append_only"
