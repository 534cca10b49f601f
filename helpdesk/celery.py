"""The background worker. On Redis when REDIS_URL is set; on kombu's filesystem transport
otherwise, so the embedded default needs no server."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

app = Celery("helpdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # The outbox sweep: delivers any email whose queued job was lost (broker down at commit
    # time, worker killed mid-send). Idempotent, so every beat may run it.
    "send-pending-notifications": {
        "task": "tickets.tasks.send_pending_notifications",
        "schedule": 60.0,
    },
}
