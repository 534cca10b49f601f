"""Every write in `slas`: calendars, policies, the clocks on each ticket, escalation rules.
Each module re-exports its public functions here; callers import from `slas.services`."""

# --- sla-core: calendars, policies, the clocks on each ticket, the breach sweep -------------
from slas.services.breaches import breach_due_clocks
from slas.services.calendars import (
    calendar_at,
    calendar_for_spec,
    calendar_spec_of,
    save_calendar,
    set_team_calendar,
)
from slas.services.policies import policy_snapshot, save_policy, targets_of

# --- escalation rules (rules helper) ---
from slas.services.rules import (
    RULE_ACTIONS,
    RULE_CONDITION_FIELDS,
    DryRun,
    DryRunMatch,
    dry_run_rule,
    save_rule,
)
from slas.services.ticket_clocks import recompute_customer_clocks, recompute_ticket_clocks

__all__ = [
    "RULE_ACTIONS",
    "RULE_CONDITION_FIELDS",
    "DryRun",
    "DryRunMatch",
    "breach_due_clocks",
    "calendar_at",
    "calendar_for_spec",
    "calendar_spec_of",
    "dry_run_rule",
    "policy_snapshot",
    "recompute_customer_clocks",
    "recompute_ticket_clocks",
    "save_calendar",
    "save_policy",
    "save_rule",
    "set_team_calendar",
    "targets_of",
]
