"""Where `slas` hears about ticket changes (tickets.signals.ticket_changed), inside the change's
transaction: the clocks are recomputed and the event rules run before it commits."""

from typing import Any

from django.dispatch import receiver

from tickets.signals import ticket_changed


@receiver(ticket_changed, dispatch_uid="slas.ticket_changed")
def on_ticket_changed(sender: Any, *, ticket: Any, event: Any, actor: Any, **_: Any) -> None:
    # Filled in by the SLA clocks and escalation rules (slas.services).
    return None
