"""The escalation rule engine: the catalog of conditions and actions (catalog), how a rule's
conditions become one SQL query (conditions), what its actions do (actions), when a time rule
should next look at a ticket (alarms) and how a rule fires exactly once (engine).

Doors and other apps go through `slas.services.rules` (save_rule, dry_run_rule) and the
worker's `slas.tasks.sweep_time_rules`; docs/escalation.md describes it all.
"""
