"""Every write in `slas`: calendars, policies, the clocks on each ticket, escalation rules.
Each module re-exports its public functions here; callers import from `slas.services`."""
