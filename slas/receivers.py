"""Where `slas` hears about ticket changes (tickets.signals.ticket_changed), inside the change's
transaction: the clocks are recomputed and the event rules run before it commits."""

from typing import Any

from django.dispatch import receiver

from tickets.signals import ticket_changed


@receiver(ticket_changed, dispatch_uid="slas.ticket_changed")
def on_ticket_changed(sender: Any, *, ticket: Any, event: Any, actor: Any, **_: Any) -> None:
    # Filled in by the SLA clocks and escalation rules (slas.services).
    # (sla-core: the clocks are recomputed here, first.)
    run_escalation_rules(ticket=ticket, event=event)


def run_escalation_rules(*, ticket: Any, event: Any) -> None:
    """Escalation rules (rules helper): after the clocks, the event rules in position order,
    then the ticket's time-rule alarms (docs/escalation.md). The changes a rule's actions make
    run no event rules themselves (slas.rules.engine.rules_acting)."""
    from slas.rules.engine import on_ticket_changed as rules_on_ticket_changed

    rules_on_ticket_changed(ticket=ticket, event=event)
