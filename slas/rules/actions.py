"""What a rule's actions do, each through the ticket service that makes that change (so each
change is recorded, announced and clock-recomputed like an agent's).

The time-rule sweep fires one rule on a batch of tickets; the actions that change nothing a
clock reads (the escalation level, a notice) have bulk forms (`run_actions_in_bulk`), the
others run ticket by ticket (`run_actions`)."""

from collections.abc import Callable
from html import escape
from typing import Any

from accounts.live import user_streams_group
from accounts.models import Team, User
from accounts.selectors import is_agent
from customers.models import Tag
from slas.models import EscalationRule
from tickets import events
from tickets.models import Priority, Ticket
from tickets.services import (
    assign_ticket,
    change_ticket_priority,
    change_ticket_team,
    owe_escalation_email,
    owe_escalation_emails,
    post_message,
    set_escalation_level,
    set_escalation_levels,
    set_ticket_tags,
)

RULE_NOTIFIED = "rule.notified"


class ActionFailed(Exception):
    """An action could not be done (what it names is gone, say): the rule is recorded as
    failed on the ticket's timeline and the other rules still run."""


def _fresh(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_related("team", "assignee").get(pk=ticket.pk)


def run_actions(
    *, rule: EscalationRule, ticket: Ticket, reasons: list[str]
) -> list[dict[str, Any]]:
    """Do every action of the rule in order; returns what each did. Raises on the first that
    fails (the caller rolls the rule's savepoint back)."""
    done: list[dict[str, Any]] = []
    for action in rule.actions:
        ticket = _fresh(ticket)  # an earlier action may have changed it
        done.append(_ACTIONS[action["type"]](rule, ticket, action, reasons))
    return done


def _set_priority(
    rule: EscalationRule, ticket: Ticket, action: dict[str, Any], reasons: list[str]
) -> dict[str, Any]:
    wanted, current = action["priority"], ticket.priority
    if Priority.values.index(wanted) <= Priority.values.index(current):
        return {"type": "set_priority", "kept": current}  # never lowers
    change_ticket_priority(ticket=ticket, priority=wanted, actor=None)
    return {"type": "set_priority", "from": current, "to": wanted}


def _assign_team(
    rule: EscalationRule, ticket: Ticket, action: dict[str, Any], reasons: list[str]
) -> dict[str, Any]:
    team = Team.objects.filter(pk=action["team"]).first()
    if team is None:
        raise ActionFailed(f"Team {action['team']} no longer exists.")
    old = ticket.team_id
    change_ticket_team(ticket=ticket, team=team, actor=None)  # RuleBroken if archived
    return {"type": "assign_team", "from": old, "to": team.pk}


def _assign_agent(
    rule: EscalationRule, ticket: Ticket, action: dict[str, Any], reasons: list[str]
) -> dict[str, Any]:
    agent = User.objects.filter(pk=action["agent"]).first()
    if agent is None:
        raise ActionFailed(f"Agent {action['agent']} no longer exists.")
    old = ticket.assignee_id
    assign_ticket(ticket=ticket, assignee=agent, actor=None)  # RuleBroken if not an agent now
    return {"type": "assign_agent", "from": old, "to": agent.pk}


def _add_tag(
    rule: EscalationRule, ticket: Ticket, action: dict[str, Any], reasons: list[str]
) -> dict[str, Any]:
    name = action["tag"]
    if not Tag.objects.filter(name=name).exists():
        raise ActionFailed(f"The tag {name!r} no longer exists.")
    current = list(ticket.tags.values_list("name", flat=True))
    if name in current:
        return {"type": "add_tag", "tag": name, "kept": True}
    set_ticket_tags(ticket=ticket, tags=[*current, name], actor=None)
    return {"type": "add_tag", "tag": name}


def _add_note(
    rule: EscalationRule, ticket: Ticket, action: dict[str, Any], reasons: list[str]
) -> dict[str, Any]:
    # The manager's text is text, not HTML: escaped, then sanitized by post_message as usual.
    body = f"<p><strong>{escape(rule.name)}</strong></p><p>{escape(action['body'])}</p>"
    message = post_message(ticket=ticket, author=None, body=body, is_internal=True)
    return {"type": "add_note", "message": message.pk}


def _set_escalation(
    rule: EscalationRule, ticket: Ticket, action: dict[str, Any], reasons: list[str]
) -> dict[str, Any]:
    level, current = action["level"], ticket.escalation_level
    if level <= current:
        return {"type": "set_escalation_level", "kept": current}  # never lowers
    set_escalation_level(ticket=ticket, level=level, actor=None)
    return {"type": "set_escalation_level", "from": current, "to": level}


def _notify(
    rule: EscalationRule, ticket: Ticket, action: dict[str, Any], reasons: list[str]
) -> dict[str, Any]:
    to = action["to"]
    recipient: User | None
    if to == "assignee":
        recipient = ticket.assignee
    elif to == "team_manager":
        recipient = ticket.team.manager if ticket.team else None
    else:
        recipient = User.objects.filter(pk=action["user"]).first()
        if recipient is None:
            raise ActionFailed(f"User {action['user']} no longer exists.")
    if recipient is None or not is_agent(recipient):
        # Nobody to tell (no assignee yet, a team without a manager): not a failure.
        return {"type": "notify", "to": to, "skipped": "nobody to notify"}
    message = action.get("message", "")
    notice = {
        "rule": {"id": rule.pk, "name": rule.name},
        "reasons": reasons,
        "message": message,
    }
    # Live: only the recipient's own sockets (every socket of a user joins this group).
    events.broadcast_on_commit(
        user_streams_group(recipient.pk),
        RULE_NOTIFIED,
        {"ticket": events.ticket_snapshot(ticket), "recipient": recipient.pk, **notice},
    )
    owe_escalation_email(ticket=ticket, recipient=recipient.email, context=notice)
    return {"type": "notify", "to": to, "user": recipient.pk}


_ACTIONS = {
    "set_priority": _set_priority,
    "assign_team": _assign_team,
    "assign_agent": _assign_agent,
    "add_tag": _add_tag,
    "add_note": _add_note,
    "set_escalation_level": _set_escalation,
    "notify": _notify,
}


# --- in bulk, for the time-rule sweep --------------------------------------------------------
# Only actions that write no ticket_changed event: the escalation level (a quiet event) and a
# notice (no ticket write at all). A tag or a note is a recorded change whose receivers (the
# clocks, the chat transcript) run per ticket, so those go through their services one by one.

BulkAction = Callable[
    [EscalationRule, list[Ticket], dict[str, Any], dict[int, list[str]]], dict[int, dict[str, Any]]
]


def run_actions_in_bulk(
    *, rule: EscalationRule, tickets: list[Ticket], reasons_of: dict[int, list[str]]
) -> dict[int, list[dict[str, Any]]]:
    """run_actions for many tickets (locked by the caller, loaded with team__manager,
    assignee and their agent profiles) when every action of the rule is in BULK_ACTIONS;
    ticket id -> what each action did, as run_actions says it. Raises on the first failure;
    the caller then rolls back and runs them ticket by ticket, which tells whose it was."""
    done: dict[int, list[dict[str, Any]]] = {ticket.pk: [] for ticket in tickets}
    for action in rule.actions:
        for pk, entry in _BULK_ACTIONS[action["type"]](rule, tickets, action, reasons_of).items():
            done[pk].append(entry)
    return done


def _set_escalation_in_bulk(
    rule: EscalationRule,
    tickets: list[Ticket],
    action: dict[str, Any],
    reasons_of: dict[int, list[str]],
) -> dict[int, dict[str, Any]]:
    level = action["level"]
    done: dict[int, dict[str, Any]] = {}
    raising = []
    for ticket in tickets:
        if level <= ticket.escalation_level:
            done[ticket.pk] = {"type": "set_escalation_level", "kept": ticket.escalation_level}
        else:
            done[ticket.pk] = {
                "type": "set_escalation_level",
                "from": ticket.escalation_level,
                "to": level,
            }
            raising.append(ticket)
    set_escalation_levels(tickets=raising, level=level, actor=None)
    return done


def _notify_in_bulk(
    rule: EscalationRule,
    tickets: list[Ticket],
    action: dict[str, Any],
    reasons_of: dict[int, list[str]],
) -> dict[int, dict[str, Any]]:
    to = action["to"]
    named: User | None = None
    if to not in ("assignee", "team_manager"):
        named = User.objects.select_related("agent_profile").filter(pk=action["user"]).first()
        if named is None:
            raise ActionFailed(f"User {action['user']} no longer exists.")
    done: dict[int, dict[str, Any]] = {}
    messages, owed = [], []
    for ticket in tickets:
        recipient = named
        if to == "assignee":
            recipient = ticket.assignee
        elif to == "team_manager":
            recipient = ticket.team.manager if ticket.team else None
        if recipient is None or not is_agent(recipient):
            done[ticket.pk] = {"type": "notify", "to": to, "skipped": "nobody to notify"}
            continue
        notice = {
            "rule": {"id": rule.pk, "name": rule.name},
            "reasons": reasons_of[ticket.pk],
            "message": action.get("message", ""),
        }
        messages.append(
            (
                user_streams_group(recipient.pk),
                RULE_NOTIFIED,
                {"ticket": events.ticket_snapshot(ticket), "recipient": recipient.pk, **notice},
            )
        )
        owed.append((ticket, recipient.email, notice))
        done[ticket.pk] = {"type": "notify", "to": to, "user": recipient.pk}
    events.broadcast_many_on_commit(messages)
    owe_escalation_emails(owed=owed)
    return done


_BULK_ACTIONS: dict[str, BulkAction] = {
    "set_escalation_level": _set_escalation_in_bulk,
    "notify": _notify_in_bulk,
}
BULK_ACTIONS = frozenset(_BULK_ACTIONS)
