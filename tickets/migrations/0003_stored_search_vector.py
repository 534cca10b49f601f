"""Full-text search on PostgreSQL reads a stored tsvector instead of recomputing one.

With only an expression index, a query for a common word that PostgreSQL answers by walking the
newest tickets first had to run to_tsvector() on every row it looked at (80 ms for one word at
a million tickets). A generated column is computed once, when search_document is written, so
the services keep writing search_document and nothing else changes. The column is PostgreSQL's
own (the model does not declare it); `tickets.selectors.search_tickets` filters on it.
"""

from django.db import migrations

FORWARD = [
    "ALTER TABLE tickets_ticket ADD COLUMN IF NOT EXISTS search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english'::regconfig, COALESCE(search_document, ''))) "
    "STORED",
    "CREATE INDEX IF NOT EXISTS ticket_search_vector_gin ON tickets_ticket USING gin "
    "(search_vector)",
    "DROP INDEX IF EXISTS ticket_search_gin",
]
BACKWARD = [
    "CREATE INDEX IF NOT EXISTS ticket_search_gin ON tickets_ticket USING gin "
    "(to_tsvector('english'::regconfig, COALESCE(search_document, '')))",
    "DROP INDEX IF EXISTS ticket_search_vector_gin",
    "ALTER TABLE tickets_ticket DROP COLUMN IF EXISTS search_vector",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("tickets", "0002_search_index")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
