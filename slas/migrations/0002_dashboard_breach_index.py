"""The dashboard counts breached targets by the instant they breached (slas.reports.outcome_in):
a partial index on breached_at, next to the existing clock_stopped (stopped_at, target) that
serves the met ones. Raw SQL (valid on PostgreSQL and SQLite) so slas/models.py stays as it is
for the other helpers; the autodetector does not see it, and makemigrations stays clean."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("slas", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql="CREATE INDEX clock_breached_at ON slas_ticketclock (breached_at, target) "
            "WHERE state = 'breached'",
            reverse_sql="DROP INDEX clock_breached_at",
        )
    ]
