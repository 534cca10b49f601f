"""What the customer services tell higher layers, which they may not import.

`customer_changed` is sent by `customers.services.update_customer` inside its transaction when
a customer's tier or organization changed (what SLA policies look at), after the change is
written and with the customer row locked. Keyword arguments: `customer` (the updated Customer),
`fields` (the names of the fields that changed), `actor` (User or None).
"""

from django.dispatch import Signal

customer_changed = Signal()

# The fields whose change is announced.
ANNOUNCED_FIELDS = frozenset({"tier", "organization"})
