"""On PostgreSQL the database itself refuses to rewrite or delete a ticket event, whatever the
code path: a bulk `.update()` or `.delete()`, a raw query, a cascade from a deleted ticket or
user. TRUNCATE still works (row-level triggers do not fire for it): that is how the test
database is flushed and how `seed_demo --reset` wipes a demo desk. On SQLite the model's own
refusal (core.append_only.AppendOnly) is the guard. The trigger's SQL is written once, in
core.append_only."""

from django.db import migrations

from core.append_only import AppendOnlyOnPostgresql


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0005_macros_drafts_scheduled_replies"),
    ]

    operations = [AppendOnlyOnPostgresql("tickets_ticketevent")]
