"""Where `slas` hears about ticket changes (tickets.signals.ticket_changed), inside the change's
transaction: the clocks are recomputed and the event rules run before it commits."""

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from customers.signals import customer_changed
from slas.models import BusinessCalendar, EscalationRule, SlaPolicy
from tickets.signals import demo_seeded, ticket_changed


@receiver(ticket_changed, dispatch_uid="slas.ticket_changed")
def on_ticket_changed(sender: Any, *, ticket: Any, event: Any, actor: Any, **_: Any) -> None:
    # The clocks first: the event rules read them (SLA conditions). The clock engine reads the
    # settings stamp with the ticket's clocks; the rules use it for their cached list.
    stamp = recompute_clocks_on_change(ticket=ticket)
    run_escalation_rules(ticket=ticket, event=event, stamp=stamp)


# --- the settings stamp: per-process caches of policies and rules -------------------------------


@receiver(post_save, sender=SlaPolicy, dispatch_uid="slas.stamp.policy_saved")
@receiver(post_delete, sender=SlaPolicy, dispatch_uid="slas.stamp.policy_deleted")
@receiver(post_save, sender=BusinessCalendar, dispatch_uid="slas.stamp.calendar_saved")
@receiver(post_delete, sender=BusinessCalendar, dispatch_uid="slas.stamp.calendar_deleted")
@receiver(post_save, sender=EscalationRule, dispatch_uid="slas.stamp.rule_saved")
@receiver(post_delete, sender=EscalationRule, dispatch_uid="slas.stamp.rule_deleted")
def on_settings_written(sender: Any, **kwargs: Any) -> None:
    """Whatever writes a policy, a calendar or a rule (the services, the admin, a fixture)
    changes the stamp, so no process keeps serving what it cached before
    (slas.services.settings_cache). Targets are written only with a save of their policy
    (save_policy, the admin's inline), which bumps it; listening to them too would turn
    save_policy's one-statement delete of the old targets into a query per row."""
    from slas.services.settings_cache import bump_stamp

    bump_stamp()


# --- sla-core: the clocks -----------------------------------------------------------------------


def recompute_clocks_on_change(*, ticket: Any) -> Any:
    """Every recorded change (message, status, priority, team, tags, details) may start, stop,
    pause, resume or re-target a clock (slas.services.ticket_clocks). Returns the settings
    stamp the engine read."""
    from slas.services import recompute_ticket_clocks  # services import tickets; load late

    return recompute_ticket_clocks(ticket=ticket)


@receiver(customer_changed, dispatch_uid="slas.customer_changed")
def on_customer_changed(sender: Any, *, customer: Any, fields: Any, **_: Any) -> None:
    """A tier or organization change: the customer's unfinished tickets get new targets under
    the policy that now matches (running targets keep theirs)."""
    if {"tier", "organization"} & set(fields):
        from slas.services import recompute_customer_clocks

        recompute_customer_clocks(customer_id=customer.pk)


# --- dashboard: SLA demo data (calendars, policies, rules, a past of clocks) -----------------


@receiver(demo_seeded, dispatch_uid="slas.demo_seeded")
def on_demo_seeded(sender: Any, *, rng: Any, log: Any, **_: Any) -> None:
    from slas.demo import seed_sla_demo  # demo code loads only when seeding
    from slas.services.settings_cache import bump_stamp

    seed_sla_demo(rng=rng, log=log)
    # The demo bulk-writes policy targets after their policy's save (which bumped the stamp):
    # bump again, so a process that cached the policies in between reloads them.
    bump_stamp()


# --- rules: escalation rules -------------------------------------------------------------------


def run_escalation_rules(*, ticket: Any, event: Any, stamp: Any) -> None:
    """Escalation rules (rules helper): after the clocks, the event rules in position order,
    then the ticket's time-rule alarms (docs/escalation.md). The changes a rule's actions make
    run no event rules themselves (slas.rules.engine.rules_acting). The active rules come from
    the process's cache as of `stamp` (no query when they have not changed)."""
    from slas.rules.engine import on_ticket_changed as rules_on_ticket_changed
    from slas.rules.engine import rules_acting
    from slas.services.settings_cache import cached_active_rules

    if rules_acting():
        return  # the firing rule's caller refreshes the alarms once it is done
    rules_on_ticket_changed(ticket=ticket, event=event, active=cached_active_rules(stamp))
