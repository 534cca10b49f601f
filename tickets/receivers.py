"""Where `tickets` hears about customer changes (customers.signals.customer_changed), inside
update_customer's transaction, so a ticket's copy of its customer's tier never disagrees with
the customer once the change commits."""

from typing import Any

from django.dispatch import receiver

from customers.signals import customer_changed
from tickets.services import follow_customer_tier


@receiver(customer_changed, dispatch_uid="tickets.customer_changed")
def on_customer_changed(sender: Any, *, customer: Any, fields: Any, **_: Any) -> None:
    if "tier" in fields:
        follow_customer_tier(customer=customer)
