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

import json
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
from slas.rules.actions import BULK_ACTIONS, run_actions, run_actions_in_bulk
from slas.rules.catalog import OPEN_STATUSES
from slas.rules.conditions import (
    last_customer_body,
    live_clocks_by_ticket,
    matching_tickets,
    needs_python_check,
    percent_reached,
    preload_calendars,
    reasons_for,
    ticket_matches,
)
from tickets.models import EventKind, Status, Ticket
from tickets.services import record_ticket_event, record_ticket_events

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

    def add(self, other: "SweepResult") -> None:
        self.fired += other.fired
        self.failed += other.failed
        self.skipped += other.skipped


SWEEP_BATCH = 1000
# Alarms of one rule handled in one transaction: its locks, reads and writes are a fixed
# number of statements whatever its size, and a worker killed mid-batch loses at most that.
RULE_BATCH = 500
# Actions after which the ticket's clocks (so its alarms) may have moved. The others (a tag, a
# note, the escalation level, a notice) change nothing an alarm is computed from.
CLOCK_MOVING_ACTIONS = frozenset({"set_priority", "assign_team"})


def sweep_time_rules(*, now: datetime | None = None, batch: int = SWEEP_BATCH) -> SweepResult:
    """Fire the time rules whose alarms are due. Candidates come only from the indexed
    RuleAlarm.due_at column; they are handled per rule (in position order), up to RULE_BATCH
    alarms per transaction, so a worker killed mid-sweep loses at most that batch (rolled
    back: still due for the next sweep), and a failing rule never stops the sweep."""
    now = now or timezone.now()
    due = list(
        RuleAlarm.objects.filter(due_at__lte=now)
        .order_by("due_at")
        .values_list("pk", "rule_id", "ticket_id")[:batch]
    )
    result = SweepResult(due=len(due))
    by_rule: dict[int, list[tuple[int, int]]] = {}
    for alarm_id, rule_id, ticket_id in due:
        by_rule.setdefault(rule_id, []).append((alarm_id, ticket_id))
    handled = 0
    for rule in EscalationRule.objects.filter(pk__in=by_rule).order_by("position", "id"):
        for chunk in _batches(by_rule[rule.pk]):
            handled += len(chunk)
            try:
                result.add(_sweep_rule_batch(rule=rule, due=chunk, now=now))
            except Exception:  # the batch rolled back: its alarms are due again next sweep
                logger.exception(
                    "Time rule %s could not be swept on %d alarms", rule.pk, len(chunk)
                )
                result.skipped += len(chunk)
    result.skipped += len(due) - handled  # their rule was deleted meanwhile (and its alarms)
    return result


def _batches(due: list[tuple[int, int]]) -> Iterator[list[tuple[int, int]]]:
    """RULE_BATCH alarms at a time, a ticket at most once per batch: a rule with two due
    occasions on one ticket (two clocks of `target: any`) fires them one batch after the
    other, each seeing what the first did, as if one at a time."""
    rounds: list[list[tuple[int, int]]] = []
    seen: dict[int, int] = {}
    for alarm in due:
        n = seen.get(alarm[1], 0)
        seen[alarm[1]] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(alarm)
    for one_round in rounds:
        for start in range(0, len(one_round), RULE_BATCH):
            yield one_round[start : start + RULE_BATCH]


@transaction.atomic
def _sweep_rule_batch(
    *, rule: EscalationRule, due: list[tuple[int, int]], now: datetime
) -> SweepResult:
    result = SweepResult()
    tickets = _lock_tickets(rule, sorted({ticket_id for _, ticket_id in due}))
    # The alarms, once their tickets are ours: an alarm whose ticket another worker or an
    # agent's change holds is left for the next sweep (the ticket-then-alarm order is the one
    # ticket changes use, so a sweep never deadlocks with them).
    locked = list(
        RuleAlarm.objects.select_for_update(skip_locked=True)
        .filter(pk__in=[alarm_id for alarm_id, _ in due], ticket_id__in=list(tickets))
        .filter(due_at__lte=now)
        .order_by("pk")
        .values_list("pk", "ticket_id", "occasion")
    )
    result.skipped = len(due) - len(locked)  # taken, handled meanwhile, or moved later
    if not locked:
        return result
    RuleAlarm.objects.filter(pk__in=[pk for pk, _, _ in locked]).delete()
    fresh_rule = EscalationRule.objects.filter(pk=rule.pk).first()  # edited since the sweep began?
    if fresh_rule is None or not fresh_rule.is_active or fresh_rule.trigger != RuleTrigger.TIME:
        result.skipped += len(locked)
        return result
    rule = fresh_rule
    occasions = {ticket_id: occasion for _, ticket_id, occasion in locked}
    candidates = [tickets[pk] for pk in occasions if tickets[pk].status in OPEN_STATUSES]
    result.skipped += len(locked) - len(candidates)

    # Every condition again, on the batch: it may have been answered, solved or paused since.
    needs_clocks = any(c["field"].startswith("sla.") for c in rule.conditions)
    clocks_of = live_clocks_by_ticket([t.pk for t in candidates]) if needs_clocks else {}
    preload_calendars([clock for found in clocks_of.values() for clock in found])
    in_sql = set(
        matching_tickets(rule.conditions, now=now)
        .filter(pk__in=[t.pk for t in candidates])
        .values_list("pk", flat=True)
    )
    in_python = needs_python_check(rule.conditions)
    matching, moved_on = [], []
    for ticket in candidates:
        clocks_of_ticket = clocks_of.get(ticket.pk, [])
        if ticket.pk in in_sql and all(
            percent_reached(ticket, c, now, clocks_of_ticket) for c in in_python
        ):
            matching.append(ticket)
        else:
            moved_on.append(ticket)
    # Not (or no longer) true: a pause moved the threshold, a reply reset the wait.
    alarms.refresh_alarms_of_tickets(tickets=moved_on, rules=[rule], now=now, clocks_of=clocks_of)
    result.skipped += len(moved_on)

    claimed = _claim_many(rule=rule, wanted=[(t, occasions[t.pk]) for t in matching])
    result.skipped += len(matching) - len(claimed)  # fired before (a retried sweep)
    if not claimed:
        return result
    fired = [ticket for ticket in matching if ticket.pk in claimed]
    reasons_of = {
        t.pk: reasons_for(t, rule.conditions, now=now, clocks_of_ticket=clocks_of.get(t.pk, []))
        for t in fired
    }
    _run_actions_on_batch(rule=rule, tickets=fired, firings=claimed, reasons_of=reasons_of)

    entries = []
    for ticket in fired:
        firing = claimed[ticket.pk]
        summary = {
            "rule": rule.pk,
            "name": rule.name,
            "occasion": firing.occasion,
            "reasons": reasons_of[ticket.pk],
        }
        if firing.outcome == FiringOutcome.FIRED:
            result.fired += 1
            entries.append((ticket, EventKind.RULE_FIRED, {**summary, "done": firing.done}))
        else:
            result.failed += 1
            entries.append(
                (ticket, EventKind.RULE_FAILED, {**summary, "error": firing.error[:500]})
            )
    record_ticket_events(entries=entries)
    _record_outcomes(list(claimed.values()))

    moved = [
        ticket.pk
        for ticket in fired
        if any(e.get("type") in CLOCK_MOVING_ACTIONS and "to" in e for e in claimed[ticket.pk].done)
    ]
    if moved:
        # A new priority or team may move its clocks: look again for every time rule.
        alarms.refresh_alarms_of_tickets(tickets=list(Ticket.objects.filter(pk__in=moved)), now=now)
    return result


def _lock_tickets(rule: EscalationRule, ids: list[int]) -> dict[int, Ticket]:
    """Lock the batch's tickets first, as every ticket change does, in id order (two sweeps
    never wait on each other in a circle), skipping those another transaction holds; loaded
    with what this rule's conditions and bulk actions read (reasons_for, _notify_in_bulk)."""
    fields = {condition["field"] for condition in rule.conditions}
    notified = {action["to"] for action in rule.actions if action["type"] == "notify"}
    related = []
    if "team" in fields:
        related.append("team")
    if "team_manager" in notified:
        related.append("team__manager__agent_profile")
    if "assignee" in fields or "assignee" in notified:
        related.append("assignee__agent_profile")
    if fields & {"customer.tier", "customer.organization", "customer.lifetime_value"}:
        related += ["customer__tier", "customer__organization"]
    tickets = (
        Ticket.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related(*related)
        .defer("search_document")  # every message's text: long, and read by no rule
        .filter(pk__in=ids)
        .order_by("pk")
    )
    if "tags" in fields:
        tickets = tickets.prefetch_related("tags")
    if "message.keywords" in fields:
        tickets = tickets.annotate(last_customer_body=last_customer_body())
    return {ticket.pk: ticket for ticket in tickets}


def _claim_many(*, rule: EscalationRule, wanted: list[tuple[Ticket, str]]) -> dict[int, RuleFiring]:
    """_claim for a batch: one `INSERT ... ON CONFLICT DO NOTHING RETURNING`, so an occasion
    that fired before (or that another worker fires right now: PostgreSQL waits for it, then
    does nothing) comes back missing. Ticket id -> its firing."""
    if not wanted:
        return {}
    fired_at = timezone.now()
    table = connection.ops.quote_name(RuleFiring._meta.db_table)
    columns = "rule_id, rule_version, ticket_id, occasion, outcome, done, error, fired_at"
    constant = [rule.pk, rule.version, FiringOutcome.FIRED]
    at = connection.ops.adapt_datetimefield_value(fired_at)
    ticket_ids = [ticket.pk for ticket, _ in wanted]
    occasions = [occasion[:100] for _, occasion in wanted]
    if connection.vendor == "postgresql":
        # Two array parameters, not 8 per row: psycopg re-parses a long statement's
        # placeholders on every call, a few ms per thousand.
        rows_sql = (
            "SELECT %s, %s, v.ticket_id, v.occasion, %s, '[]', '', %s "
            "FROM unnest(%s::bigint[], %s::text[]) AS v(ticket_id, occasion)"
        )
        params: list[Any] = [*constant, at, ticket_ids, occasions]
    else:
        rows_sql = "VALUES " + ", ".join(["(%s, %s, %s, %s, %s, '[]', '', %s)"] * len(wanted))
        params = []
        for ticket_id, occasion in zip(ticket_ids, occasions, strict=True):
            params += [rule.pk, rule.version, ticket_id, occasion, FiringOutcome.FIRED, at]
    sql = (
        f"INSERT INTO {table} ({columns}) {rows_sql} "
        "ON CONFLICT (rule_id, ticket_id, occasion) DO NOTHING RETURNING id, ticket_id, occasion"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    tickets = {ticket.pk: ticket for ticket, _ in wanted}
    claimed = {}
    for pk, ticket_id, occasion in rows:
        firing = RuleFiring(
            pk=pk,
            rule=rule,
            rule_version=rule.version,
            ticket=tickets[ticket_id],
            occasion=occasion,
            outcome=FiringOutcome.FIRED,
            fired_at=fired_at,
        )
        firing._state.adding = False
        claimed[ticket_id] = firing
    return claimed


def _record_outcomes(firings: list[RuleFiring]) -> None:
    """Store what each firing did in one UPDATE from a list of rows: bulk_update's CASE per row
    and field costs more in building the SQL than the database spends running it."""
    table = connection.ops.quote_name(RuleFiring._meta.db_table)
    rows = [(f.pk, f.outcome, f.error, json.dumps(f.done)) for f in firings]
    params: list[Any]
    if connection.vendor == "postgresql":
        source = "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::jsonb[])"
        params = [list(column) for column in zip(*rows, strict=True)]
    else:  # SQLite (UPDATE ... FROM since 3.33)
        source = "VALUES " + ", ".join(["(%s, %s, %s, %s)"] * len(rows))
        params = [value for row in rows for value in row]
    sql = (
        f"WITH v(id, outcome, error, done) AS ({source}) "  # noqa: S608 - placeholders and the model's table
        f"UPDATE {table} SET outcome = v.outcome, error = v.error, done = v.done "
        f"FROM v WHERE {table}.id = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _run_actions_on_batch(
    *,
    rule: EscalationRule,
    tickets: list[Ticket],
    firings: dict[int, RuleFiring],
    reasons_of: dict[int, list[str]],
) -> None:
    """The rule's actions on every claimed ticket, their outcome on each firing. In bulk when
    every action has a bulk form; otherwise (or when the bulk attempt fails, rolled back) ticket
    by ticket, each in a savepoint of its own, so one ticket's failure is that ticket's failed
    firing and the others still go through."""
    if all(action["type"] in BULK_ACTIONS for action in rule.actions):
        try:
            with transaction.atomic(), _acting_now():
                done_of = run_actions_in_bulk(rule=rule, tickets=tickets, reasons_of=reasons_of)
        except Exception as error:
            logger.info("Rule %s in bulk failed (%s); ticket by ticket instead", rule.pk, error)
        else:
            for ticket in tickets:
                firings[ticket.pk].done = done_of[ticket.pk]
            return
    for ticket in tickets:
        firing = firings[ticket.pk]
        try:
            with transaction.atomic(), _acting_now():
                firing.done = run_actions(rule=rule, ticket=ticket, reasons=reasons_of[ticket.pk])
        except Exception as error:  # any action's failure: recorded, never fatal to the sweep
            message = getattr(error, "message", None) or str(error) or type(error).__name__
            logger.warning("Rule %s failed on ticket %s: %s", rule.pk, ticket.pk, message)
            firing.outcome, firing.error, firing.done = FiringOutcome.FAILED, message[:2000], []
