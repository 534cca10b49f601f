"""Every write in `slas`: calendars, policies, the clocks on each ticket, escalation rules.
Each module re-exports its public functions here; callers import from `slas.services`."""

# --- escalation rules (rules helper) ---
from slas.services.rules import (
    RULE_ACTIONS,
    RULE_CONDITION_FIELDS,
    DryRun,
    DryRunMatch,
    dry_run_rule,
    save_rule,
)

__all__ = [
    "RULE_ACTIONS",
    "RULE_CONDITION_FIELDS",
    "DryRun",
    "DryRunMatch",
    "dry_run_rule",
    "save_rule",
]
