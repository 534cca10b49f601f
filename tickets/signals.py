"""What the ticket services tell higher layers, which they may not import.

`ticket_changed` is sent inside the transaction of every recorded ticket change (one per
TicketEvent written by `tickets.services`), after the change is written and with the ticket
row locked: `slas` recomputes the ticket's clocks and runs its event rules there, so both
commit or roll back with the change. Keyword arguments: `ticket` (the locked, updated Ticket),
`event` (the TicketEvent just written), `actor` (User or None), `message` (for a posted
message, the Message row in hand with its author and attachments, so a receiver that shows it
needs no query; None otherwise). Events higher layers write
themselves (SLA breaches, rule firings: `QUIET_EVENT_KINDS`) are not sent.
"""

from django.dispatch import Signal

ticket_changed = Signal()

# Sent by `seed_demo` after it has created the demo people, customers and tickets, so higher
# apps add their own demo data (SLA calendars and policies with a believable past, chat sites)
# without tickets importing them. Keyword arguments: `tickets` (how many were written this run),
# `rng` (the run's random.Random, for repeatable choices), `log` (a callable taking one line).
demo_seeded = Signal()
