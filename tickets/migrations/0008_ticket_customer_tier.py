"""Ticket.customer_tier: the customer's tier copied onto the ticket (issue 9), so the SLA
dashboard and the queue find a tier's tickets by an indexed column instead of a join through
customers. Filled here for the existing tickets in one UPDATE ... FROM (PostgreSQL and SQLite
3.33+ both have it), before the indexes are built, so they are built once over filled rows.
The indexes serve the dashboard's tier and agent filters (docs/reports.md, "Performance")."""

import django.db.models.deletion
from django.db import migrations, models

FILL = (
    "UPDATE tickets_ticket SET customer_tier_id = customers_customer.tier_id "
    "FROM customers_customer WHERE customers_customer.id = tickets_ticket.customer_id"
)


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0002_customer_name_index"),
        ("tickets", "0007_sla_summary_and_escalation"),
    ]

    operations = [
        migrations.AddField(
            model_name="ticket",
            name="customer_tier",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="customers.tier",
            ),
        ),
        migrations.RunSQL(sql=FILL, reverse_sql=migrations.RunSQL.noop, elidable=False),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                condition=models.Q(("status__in", ["new", "open", "pending", "on_hold"])),
                fields=["customer_tier", "team", "assignee", "status", "priority"],
                name="ticket_tier_open_backlog",
            ),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(fields=["customer_tier", "-created_at"], name="ticket_tier_created"),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(fields=["customer_tier", "id"], name="ticket_tier_id"),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(fields=["assignee", "id"], name="ticket_assignee_id"),
        ),
    ]
