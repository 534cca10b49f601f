"""The background worker. On Redis when REDIS_URL is set; on kombu's filesystem transport
otherwise, so the embedded default needs no server.

Embedded default (what `make run` starts beside the web server): one process runs the queued
jobs and the beat schedule:

    celery -A helpdesk worker -B --pool=solo

Production: any number of `celery -A helpdesk worker` processes and exactly one
`celery -A helpdesk beat`. Every job is idempotent in the database, so a job delivered twice
(a worker killed mid-job, a sweep racing a queued job) does its work once.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

app = Celery("helpdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A worker started before Redis is up keeps trying instead of exiting.
app.conf.broker_connection_retry_on_startup = True

app.conf.beat_schedule = {
    # The outbox sweep: delivers any email whose queued job was lost (broker down at commit
    # time, worker killed mid-send). Idempotent, so every beat may run it; a sweep nobody ran
    # within its minute is dropped rather than piling up behind a stopped worker.
    "send-pending-notifications": {
        "task": "tickets.tasks.send_pending_notifications",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Attachment files left by rolled-back uploads (no row references them) are deleted once
    # older than ATTACHMENT_ORPHAN_GRACE_HOURS. Idempotent; never touches a referenced file.
    "remove-orphan-attachment-files": {
        "task": "tickets.tasks.remove_orphan_attachment_files",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
    # The safety net under the undo window: posts any scheduled reply whose own delayed job
    # was lost. Idempotent with that job (a row lock and the row's state).
    # Live chat routing (chat.routing_engine.sweep): offer time-outs, silent consoles, chats of
    # vanished agents, back-fill. Every 5 s; a sweep not started within 4 s is dropped (the next
    # one does the same work), and consoles' heartbeats run it too.
    "sweep-chat-routing": {
        "task": "chat.tasks.sweep_chat_routing",
        "schedule": 5.0,
        "options": {"expires": 4},
    },
    "deliver-due-replies": {
        "task": "tickets.tasks.deliver_due_replies",
        "schedule": 15.0,
        "options": {"expires": 14},
    },
    # SLA breaches (sla-core): running targets past their due instant are marked breached,
    # with a timeline event. Idempotent and safe with many workers (row locks, SKIP LOCKED);
    # a sweep not run within its period is dropped: the next one catches up.
    "sweep-sla-breaches": {
        "task": "slas.tasks.sweep_breaches",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    # --- escalation rules (rules helper) ---
    # Time rules: fires what the alarms say is due. Every 15 s so a warning fires within
    # 60 s of its threshold (docs/escalation.md); a sweep nobody ran in time is dropped.
    "sweep-time-rules": {
        "task": "slas.tasks.sweep_time_rules",
        "schedule": 15.0,
        "options": {"expires": 14},
    },
    # The SLA dashboard's daily rollup for today and yesterday (docs/reports.md): a finished
    # day is read from it, so the dashboard is as fresh as the last run for those days.
    "refresh-sla-rollup": {
        "task": "slas.tasks.refresh_recent_sla_rollup",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
}
