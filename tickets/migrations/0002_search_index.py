"""Full-text search over tickets on PostgreSQL: a GIN index on the same expression
`tickets.selectors.search_tickets` filters by. Other databases search by substring."""

from django.db import migrations

INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS ticket_search_gin ON tickets_ticket "
    "USING gin (to_tsvector('english'::regconfig, COALESCE(search_document, '')))"
)


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INDEX_SQL)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS ticket_search_gin")


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
