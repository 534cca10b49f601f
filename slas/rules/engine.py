"""How a rule fires: exactly once per (rule, ticket, occasion), its actions in a savepoint of
their own, the outcome on the ticket's timeline; event rules inside the ticket change's
transaction; time rules from the worker's sweep over due alarms.

Exactly once: the RuleFiring row is inserted first, in the same transaction as the actions.
Its unique constraint (rule, ticket, occasion) makes a second insert fail, whoever tries it
(a second worker, a retried job), and a worker killed before commit leaves neither the firing
nor the actions, so the alarm is still there for the next sweep.

No loops: while a rule's actions run, `rules_acting()` is set (a context variable, so per
thread and per task), and the ticket changes those actions make do not run event rules again
(their clocks are still recomputed). Firings themselves are quiet timeline events
(tickets.services.record_ticket_event), which never send ticket_changed at all.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from slas.models import EscalationRule, FiringOutcome, RuleAlarm, RuleFiring, RuleTrigger
from slas.rules import alarms
from slas.rules.actions import run_actions
from slas.rules.catalog import OPEN_STATUSES
from slas.rules.conditions import reasons_for, ticket_matches
from tickets.models import EventKind, Status, Ticket
from tickets.services import record_ticket_event

logger = logging.getLogger(__name__)

_acting: ContextVar[bool] = ContextVar("slas_rules_acting", default=False)


def rules_acting() -> bool:
    """True while a rule's actions are changing a ticket (their changes run no event rules)."""
    return _acting.get()


@contextmanager
def _acting_now() -> Iterator[None]:
    token = _acting.set(True)
    try:
        yield
    finally:
        _acting.reset(token)


def fire(
    *, rule: EscalationRule, ticket: Ticket, occasion: str, now: datetime
) -> RuleFiring | None:
    """Fire `rule` on `ticket` for `occasion` unless it already has; inside the caller's
    transaction. A failing action rolls back this rule's actions only and is recorded as a
    failed firing. Returns None when the occasion had already fired."""
    firing = _claim(rule=rule, ticket=ticket, occasion=occasion[:100])
    if firing is None:
        return None  # fired before, or by another worker right now
    reasons = reasons_for(ticket, rule.conditions, now=now)
    summary = {"rule": rule.pk, "name": rule.name, "occasion": firing.occasion, "reasons": reasons}
    try:
        with transaction.atomic(), _acting_now():
            firing.done = run_actions(rule=rule, ticket=ticket, reasons=reasons)
            record_ticket_event(
                ticket=ticket, kind=EventKind.RULE_FIRED, data={**summary, "done": firing.done}
            )
    except Exception as error:  # any action's failure: recorded, never fatal to the change
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        logger.warning("Rule %s failed on ticket %s: %s", rule.pk, ticket.pk, message)
        firing.outcome, firing.error, firing.done = FiringOutcome.FAILED, message[:2000], []
        record_ticket_event(
            ticket=ticket, kind=EventKind.RULE_FAILED, data={**summary, "error": message[:500]}
        )
    firing.save(update_fields=["outcome", "error", "done"])
    return firing


def _claim(*, rule: EscalationRule, ticket: Ticket, occasion: str) -> RuleFiring | None:
    """Insert the firing row, or learn that it exists: `INSERT ... ON CONFLICT DO NOTHING` on
    the (rule, ticket, occasion) constraint, one statement (no savepoint round trips). On
    PostgreSQL a concurrent insert of the same key waits for the other transaction and then
    does nothing if it committed."""
    firing = RuleFiring(
        rule=rule,
        rule_version=rule.version,
        ticket=ticket,
        occasion=occasion,
        outcome=FiringOutcome.FIRED,
        fired_at=timezone.now(),
    )
    table = connection.ops.quote_name(RuleFiring._meta.db_table)
    sql = (
        f"INSERT INTO {table} (rule_id, rule_version, ticket_id, occasion, outcome, done, "  # noqa: S608 - the table name is the model's
        "error, fired_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (rule_id, ticket_id, occasion) DO NOTHING RETURNING id"
    )
    fired_at = connection.ops.adapt_datetimefield_value(firing.fired_at)
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [rule.pk, rule.version, ticket.pk, occasion, firing.outcome, "[]", "", fired_at]
        )
        row = cursor.fetchone()
    if row is None:
        return None
    firing.pk = row[0]
    firing._state.adding = False
    return firing


def run_event_rules(
    *,
    ticket: Ticket,
    event: Any,
    now: datetime | None = None,
    rules: list[EscalationRule] | None = None,
) -> list[RuleFiring]:
    """Every active event rule, in position order, at most once for this change (occasion
    "event:<TicketEvent id>"). Called inside the change's transaction, after the clocks."""
    if rules_acting():
        return []
    now = now or timezone.now()
    fired: list[RuleFiring] = []
    if ticket.status == Status.CLOSED:
        return fired  # a closed ticket takes no changes, so no actions could apply
    if rules is None:
        rules = list(
            EscalationRule.objects.filter(trigger=RuleTrigger.EVENT, is_active=True).order_by(
                "position", "id"
            )
        )
    for rule in rules:
        if not ticket_matches(ticket, rule.conditions, now=now):
            continue
        firing = fire(rule=rule, ticket=ticket, occasion=f"event:{event.pk}", now=now)
        if firing is not None:
            fired.append(firing)
            ticket = Ticket.objects.get(pk=ticket.pk)  # its actions may have changed it
    return fired


def on_ticket_changed(
    *, ticket: Ticket, event: Any, active: list[EscalationRule] | None = None
) -> None:
    """The rules' part of the ticket_changed receiver: event rules, then the ticket's alarms
    for the time rules (its clocks and timestamps may have moved). `active`: the active rules
    in position order, when the caller has them (slas.receivers: the process's cache); else
    one query. No further query when no rule is active."""
    if rules_acting():
        return  # the firing rule's caller refreshes the alarms once it is done
    if active is None:
        active = list(EscalationRule.objects.filter(is_active=True).order_by("position", "id"))
    event_rules = [rule for rule in active if rule.trigger == RuleTrigger.EVENT]
    time_rules = [rule for rule in active if rule.trigger == RuleTrigger.TIME]
    if event_rules and run_event_rules(ticket=ticket, event=event, rules=event_rules):
        ticket = Ticket.objects.get(pk=ticket.pk)  # the rules' actions changed it
    if time_rules:
        alarms.refresh_ticket_alarms(ticket=ticket, rules=time_rules)


# --- the time-rule sweep ---------------------------------------------------------------------


@dataclass
class SweepResult:
    due: int = 0  # alarms found due
    fired: int = 0
    failed: int = 0
    skipped: int = 0  # no longer matching, already fired, or taken by another worker


SWEEP_BATCH = 1000
# Actions after which the ticket's clocks (so its alarms) may have moved. The others (a tag, a
# note, the escalation level, a notice) change nothing an alarm is computed from.
CLOCK_MOVING_ACTIONS = frozenset({"set_priority", "assign_team"})


def sweep_time_rules(*, now: datetime | None = None, batch: int = SWEEP_BATCH) -> SweepResult:
    """Fire the time rules whose alarms are due. Candidates come only from the indexed
    RuleAlarm.due_at column; each alarm is handled in its own transaction, so a worker killed
    mid-sweep loses at most the one it was on (rolled back: still due for the next sweep), and
    a failing rule never stops the sweep."""
    now = now or timezone.now()
    due = list(
        RuleAlarm.objects.filter(due_at__lte=now)
        .order_by("due_at")
        .values_list("pk", "ticket_id")[:batch]
    )
    result = SweepResult(due=len(due))
    for alarm_id, ticket_id in due:
        try:
            outcome = _handle_alarm(alarm_id, ticket_id, now)
        except Exception:
            logger.exception("Time rule alarm %s could not be handled", alarm_id)
            outcome = "skipped"
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result


@transaction.atomic
def _handle_alarm(alarm_id: int, ticket_id: int, now: datetime) -> str:
    # Lock the ticket first, as every ticket change does, so a sweep never deadlocks with an
    # agent's change; skip a ticket another worker (or a change) holds: its alarm is either
    # handled by that worker or still due next sweep.
    ticket = Ticket.objects.select_for_update(skip_locked=True).filter(pk=ticket_id).first()
    if ticket is None:
        return "skipped"
    alarm = (
        RuleAlarm.objects.select_for_update(skip_locked=True)
        .select_related("rule")
        .filter(pk=alarm_id, due_at__lte=now)
        .first()
    )
    if alarm is None:
        return "skipped"  # handled meanwhile, or moved later by a change
    rule, occasion = alarm.rule, alarm.occasion
    alarm.delete()
    if not rule.is_active or rule.trigger != RuleTrigger.TIME or ticket.status not in OPEN_STATUSES:
        return "skipped"
    if not ticket_matches(ticket, rule.conditions, now=now):
        # Not (or no longer) true: a pause moved the threshold, a reply reset the wait.
        alarms.refresh_ticket_alarms(ticket=ticket, rules=[rule], now=now)
        return "skipped"
    firing = fire(rule=rule, ticket=ticket, occasion=occasion, now=now)
    if firing is None:
        return "skipped"
    if any(entry.get("type") in CLOCK_MOVING_ACTIONS and "to" in entry for entry in firing.done):
        # A new priority or team may move its clocks: look again for every time rule.
        alarms.refresh_ticket_alarms(ticket=Ticket.objects.get(pk=ticket.pk), now=now)
    return "fired" if firing.outcome == FiringOutcome.FIRED else "failed"
