"""Where `slas` hears about ticket changes (tickets.signals.ticket_changed), inside the change's
transaction: the clocks are recomputed and the event rules run before it commits."""

from typing import Any

from django.dispatch import receiver

from customers.signals import customer_changed
from tickets.signals import ticket_changed


@receiver(ticket_changed, dispatch_uid="slas.ticket_changed")
def on_ticket_changed(sender: Any, *, ticket: Any, event: Any, actor: Any, **_: Any) -> None:
    recompute_clocks_on_change(ticket=ticket)
    run_escalation_rules(ticket=ticket, event=event)


def run_escalation_rules(*, ticket: Any, event: Any) -> None:
    """Escalation rules (rules helper): after the clocks, the event rules in position order,
    then the ticket's time-rule alarms (docs/escalation.md). The changes a rule's actions make
    run no event rules themselves (slas.rules.engine.rules_acting)."""
    from slas.rules.engine import on_ticket_changed as rules_on_ticket_changed

    rules_on_ticket_changed(ticket=ticket, event=event)


# --- sla-core: the clocks -----------------------------------------------------------------------


def recompute_clocks_on_change(*, ticket: Any) -> None:
    """Every recorded change (message, status, priority, team, tags, details) may start, stop,
    pause, resume or re-target a clock (slas.services.ticket_clocks)."""
    from slas.services import recompute_ticket_clocks  # services import tickets; load late

    recompute_ticket_clocks(ticket=ticket)


@receiver(customer_changed, dispatch_uid="slas.customer_changed")
def on_customer_changed(sender: Any, *, customer: Any, fields: Any, **_: Any) -> None:
    """A tier or organization change: the customer's unfinished tickets get new targets under
    the policy that now matches (running targets keep theirs)."""
    if {"tier", "organization"} & set(fields):
        from slas.services import recompute_customer_clocks

        recompute_customer_clocks(customer_id=customer.pk)
