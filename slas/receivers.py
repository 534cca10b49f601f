"""Where `slas` hears about ticket changes (tickets.signals.ticket_changed), inside the change's
transaction: the clocks are recomputed and the event rules run before it commits."""

from typing import Any

from django.dispatch import receiver

from tickets.signals import demo_seeded, ticket_changed


@receiver(ticket_changed, dispatch_uid="slas.ticket_changed")
def on_ticket_changed(sender: Any, *, ticket: Any, event: Any, actor: Any, **_: Any) -> None:
    # Filled in by the SLA clocks and escalation rules (slas.services).
    return None


# --- dashboard: SLA demo data (calendars, policies, rules, a past of clocks) -----------------


@receiver(demo_seeded, dispatch_uid="slas.demo_seeded")
def on_demo_seeded(sender: Any, *, rng: Any, log: Any, **_: Any) -> None:
    from slas.demo import seed_sla_demo  # demo code loads only when seeding

    seed_sla_demo(rng=rng, log=log)
