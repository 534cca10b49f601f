"""A shop's signed-in customer, proven by the shop's backend (docs/chat-protocol.md).

The shop computes, on its server, with the site's identity secret:

    signature = hex(HMAC-SHA256(key=identity_secret, msg=f"{id}:{email}".encode("utf-8")))

`id` is the shop's own customer id ("" if it has none) and `email` the address exactly as
sent; the hex is lowercase. A claimed identity without a signature, or with a wrong one, is
refused: otherwise anyone could type someone's email into the widget and read their chats.

Customers are global in this desk (one record per person, whatever shop they bought from):
an identity is matched by external id first, then by email (case-insensitive), and created if
new. A customer found by email keeps an external id they already have (another shop's); one
without gets this one.
"""

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from chat.models import Site
from core.errors import RuleBroken
from customers.models import Customer
from customers.selectors import customers_with_email
from customers.services import create_customer, update_customer

MAX_ID_LENGTH = 100
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class Identity:
    external_id: str
    email: str
    name: str


def canonical_identity(*, external_id: str, email: str) -> bytes:
    return f"{external_id}:{email}".encode()


def identity_signature(*, secret: str, external_id: str, email: str) -> str:
    """What the shop's backend computes (and what tests and the demo shop use)."""
    message = canonical_identity(external_id=external_id, email=email)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _text(identity: dict[str, Any], key: str, limit: int) -> str:
    value = identity.get(key, "")
    if value is None:
        value = ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # shops often number their customers
    if not isinstance(value, str):
        raise RuleBroken(f"identity.{key}", f"The identity's {key} is text.")
    if len(value) > limit:
        raise RuleBroken(f"identity.{key}", f"The identity's {key} is at most {limit} characters.")
    return value


def verified_identity(*, site: Site, identity: Any) -> Identity:
    """The identity if the shop's signature is right, else RuleBroken naming the field."""
    if not isinstance(identity, dict):
        raise RuleBroken("identity", "An identity is an object with id, email, name, signature.")
    external_id = _text(identity, "id", MAX_ID_LENGTH)
    email = _text(identity, "email", MAX_EMAIL_LENGTH)
    name = _text(identity, "name", MAX_NAME_LENGTH)
    signature = _text(identity, "signature", 128)
    if not email.strip():
        raise RuleBroken("identity.email", "A signed identity needs the customer's email.")
    if not signature:
        raise RuleBroken("identity.signature", "A claimed identity must be signed by the shop.")
    expected = identity_signature(secret=site.identity_secret, external_id=external_id, email=email)
    # Constant time: a byte-by-byte comparison would leak how much of a guess was right.
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise RuleBroken("identity.signature", "The identity's signature does not match.")
    return Identity(
        external_id=external_id.strip(), email=email.strip(), name=" ".join(name.split())
    )


@transaction.atomic
def customer_for_identity(identity: Identity) -> Customer:
    """The customer this signed identity names: by external id, then email, else a new one."""
    customer = None
    if identity.external_id:
        customer = (
            Customer.objects.select_for_update().filter(external_id=identity.external_id).first()
        )
    if customer is None:
        customer = customers_with_email(
            Customer.objects.select_for_update(), identity.email
        ).first()
        if customer is not None and identity.external_id and not customer.external_id:
            customer = update_customer(
                customer=customer, actor=None, changes={"external_id": identity.external_id}
            )
    if customer is None:
        customer = create_customer(
            name=identity.name or identity.email.split("@")[0],
            email=identity.email,
            external_id=identity.external_id or None,
            actor=None,
        )
    return customer
