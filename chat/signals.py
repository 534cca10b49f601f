"""What chat services tell the routing engine without importing it.

`conversation_ended` is sent inside the transaction that ended a conversation (keyword
arguments `conversation`, the locked row, and `previous_state`): routing frees the agent's
capacity and offers the next waiting chat there, so both commit together.
"""

from django.dispatch import Signal

conversation_ended = Signal()
