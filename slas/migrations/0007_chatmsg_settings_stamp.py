"""The SLA settings stamp (slas.models.SettingsStamp), with its one row."""

import uuid

from django.db import migrations, models


def create_the_row(apps, schema_editor):
    apps.get_model("slas", "SettingsStamp").objects.create(pk=1, stamp=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [
        ("slas", "0006_rollup_backlog_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="SettingsStamp",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("stamp", models.UUIDField()),
            ],
        ),
        migrations.RunPython(create_the_row, migrations.RunPython.noop),
    ]
