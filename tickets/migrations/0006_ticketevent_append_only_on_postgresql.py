"""On PostgreSQL the database itself refuses to rewrite or delete a ticket event, whatever the
code path: a bulk `.update()` or `.delete()`, a raw query, a cascade from a deleted ticket or
user. TRUNCATE still works (row-level triggers do not fire for it): that is how the test
database is flushed and how `seed_demo --reset` wipes a demo desk. On SQLite the model's own
refusal (TicketEvent.save/delete) is the guard."""

from django.db import migrations

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION tickets_ticketevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'tickets_ticketevent is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER tickets_ticketevent_append_only
    BEFORE UPDATE OR DELETE ON tickets_ticketevent
    FOR EACH ROW EXECUTE FUNCTION tickets_ticketevent_append_only();
"""
DROP_APPEND_ONLY = """
DROP TRIGGER IF EXISTS tickets_ticketevent_append_only ON tickets_ticketevent;
DROP FUNCTION IF EXISTS tickets_ticketevent_append_only();
"""


def install_append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY, params=None)


def remove_append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_APPEND_ONLY, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0005_macros_drafts_scheduled_replies"),
    ]

    operations = [migrations.RunPython(install_append_only, remove_append_only)]
