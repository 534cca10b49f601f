"""The SLA app's admin (sla-core's). Escalation rules live in slas/admin_rules.py."""

from slas import admin_rules  # noqa: F401 - registers the escalation rule admins
