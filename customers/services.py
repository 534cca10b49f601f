"""Every write to customers and organizations. Callers (API views, admin, commands, the shop
sync) have already checked that the actor is an agent; the rules about *what* may be written
live here: unique emails in any case, unique shop ids, tag names, a tier for everyone.

Each function validates everything before it writes anything, inside one transaction, so a
refused request leaves no half-made customer or stray tag behind.
"""

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from accounts.models import AuditAction, User
from accounts.services import audit_changes, audit_created, record_audit
from core.errors import RuleBroken
from customers.models import Customer, Organization, Tag, Tier
from customers.signals import ANNOUNCED_FIELDS, customer_changed

MAX_TAGS_PER_CUSTOMER = 20
TAG_MAX_LENGTH = 50

# The fields update_customer may change; anything else in `changes` is a programming error.
CUSTOMER_FIELDS = {
    "name",
    "email",
    "phone",
    "external_id",
    "organization",
    "tier",
    "lifetime_value",
    "notes",
    "tags",
}
ORGANIZATION_FIELDS = {"name", "domain", "notes"}


# --- tags -------------------------------------------------------------------------------------


def tags_named(
    names: Iterable[str], *, field: str = "tags", limit: int = MAX_TAGS_PER_CUSTOMER
) -> list[Tag]:
    """The tags with these names, creating the new ones. Names are lower-cased; a tag is
    letters, digits, `-` and `_`, at most 50 characters."""
    clean = sorted({name.strip().lower() for name in names if name and name.strip()})
    if len(clean) > limit:
        raise RuleBroken(field, f"At most {limit} tags.")
    for name in clean:
        if len(name) > TAG_MAX_LENGTH or not all(ch.isalnum() or ch in "-_" for ch in name):
            raise RuleBroken(
                field, f"{name!r}: tags are letters, digits, - and _ (at most {TAG_MAX_LENGTH})."
            )
    existing = {tag.name: tag for tag in Tag.objects.filter(name__in=clean)}
    missing = [Tag(name=name) for name in clean if name not in existing]
    if missing:
        # Two requests may create the same new tag at once; the loser just reads it back.
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {tag.name: tag for tag in Tag.objects.filter(name__in=clean)}
    return [existing[name] for name in clean]


# --- customers --------------------------------------------------------------------------------


def _clean_name(name: str, field: str = "name") -> str:
    name = " ".join((name or "").split())
    if not name:
        raise RuleBroken(field, "A name is required.")
    return name


def _clean_email(email: str) -> str:
    email = (email or "").strip()
    if not email:
        raise RuleBroken("email", "An email address is required.")
    return email


def _clean_external_id(external_id: str | None) -> str | None:
    # Blank means "not linked to the shop"; NULLs never collide in the unique index.
    external_id = (external_id or "").strip()
    return external_id or None


def _refuse_taken_email(email: str, *, other_than: Customer | None = None) -> None:
    # Same expression as the unique constraint (Lower("email")), so the check uses its index.
    taken = Customer.objects.alias(email_lower=Lower("email")).filter(email_lower=email.lower())
    if other_than is not None:
        taken = taken.exclude(pk=other_than.pk)
    if taken.exists():
        raise RuleBroken("email", "A customer with this email already exists.")


def _refuse_taken_external_id(
    external_id: str | None, *, other_than: Customer | None = None
) -> None:
    if external_id is None:
        return
    taken = Customer.objects.filter(external_id=external_id)
    if other_than is not None:
        taken = taken.exclude(pk=other_than.pk)
    if taken.exists():
        raise RuleBroken("external_id", "A customer with this shop id already exists.")


def _base_tier() -> Tier:
    tier = Tier.objects.order_by("rank").first()
    if tier is None:
        raise RuleBroken("tier", "No loyalty tiers exist yet; create one first.")
    return tier


def _save_customer(customer: Customer, *, update_fields: list[str] | None = None) -> None:
    """Validate the fields' formats (lengths, email syntax, decimals), then save. A unique
    clash that slipped past the checks (a concurrent insert) is still a 400, never a 500."""
    customer.full_clean(exclude=["user"], validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():  # a savepoint: the outer transaction survives the clash
            customer.save(update_fields=update_fields)
    except IntegrityError:
        _refuse_taken_email(customer.email, other_than=customer if customer.pk else None)
        _refuse_taken_external_id(
            customer.external_id, other_than=customer if customer.pk else None
        )
        raise


@transaction.atomic
def create_customer(
    *,
    name: str,
    email: str,
    actor: User | None,
    phone: str = "",
    external_id: str | None = None,
    organization: Organization | None = None,
    tier: Tier | None = None,
    lifetime_value: Decimal = Decimal("0"),
    notes: str = "",
    tags: Iterable[str] = (),
) -> Customer:
    """A new customer (without a login). Without a tier they start on the base tier."""
    email = _clean_email(email)
    external_id = _clean_external_id(external_id)
    customer = Customer(
        name=_clean_name(name),
        email=email,
        phone=(phone or "").strip(),
        external_id=external_id,
        organization=organization,
        tier=tier or _base_tier(),
        lifetime_value=lifetime_value,
        notes=notes or "",
    )
    _refuse_taken_email(email)
    _refuse_taken_external_id(external_id)
    tag_rows = tags_named(tags)
    _save_customer(customer)
    customer.tags.set(tag_rows)
    after = {field: getattr(customer, field) for field in CUSTOMER_FIELDS - {"tags"}}
    after["tags"] = [tag.name for tag in tag_rows]
    record_audit(
        actor=actor,
        target=customer,
        action=AuditAction.CREATED,
        changes=audit_created(after),
    )
    return customer


@transaction.atomic
def update_customer(*, customer: Customer, actor: User | None, changes: dict[str, Any]) -> Customer:
    """Change any of CUSTOMER_FIELDS; fields not in `changes` stay as they are."""
    unknown = set(changes) - CUSTOMER_FIELDS
    if unknown:
        raise ValueError(f"update_customer cannot change {sorted(unknown)}")
    customer = Customer.objects.select_for_update().get(pk=customer.pk)

    changes = dict(changes)
    if "name" in changes:
        changes["name"] = _clean_name(changes["name"])
    if "email" in changes:
        changes["email"] = _clean_email(changes["email"])
        _refuse_taken_email(changes["email"], other_than=customer)
    if "external_id" in changes:
        changes["external_id"] = _clean_external_id(changes["external_id"])
        _refuse_taken_external_id(changes["external_id"], other_than=customer)
    if "tier" in changes and changes["tier"] is None:
        raise RuleBroken("tier", "Every customer has a tier.")
    if "phone" in changes:
        changes["phone"] = (changes["phone"] or "").strip()
    if "notes" in changes:
        changes["notes"] = changes["notes"] or ""
    tag_rows = tags_named(changes.pop("tags")) if "tags" in changes else None

    before: dict[str, Any] = {field: getattr(customer, field) for field in changes}
    after: dict[str, Any] = dict(changes)
    for field, value in changes.items():
        setattr(customer, field, value)
    if changes:
        _save_customer(customer, update_fields=[*changes, "updated_at"])
    if tag_rows is not None:
        before["tags"] = list(customer.tags.values_list("name", flat=True))
        after["tags"] = [tag.name for tag in tag_rows]
        customer.tags.set(tag_rows)
    recorded = audit_changes(before, after)
    if recorded:
        record_audit(actor=actor, target=customer, action=AuditAction.CHANGED, changes=recorded)
    announced = sorted(
        field for field in ANNOUNCED_FIELDS if field in before and before[field] != after[field]
    )
    if announced:
        # Inside this transaction: SLA clocks follow the new tier or organization, or neither.
        customer_changed.send(sender=Customer, customer=customer, fields=announced, actor=actor)
    return customer


# --- organizations ----------------------------------------------------------------------------


def _refuse_taken_organization_name(name: str, *, other_than: Organization | None = None) -> None:
    taken = Organization.objects.filter(name__iexact=name)
    if other_than is not None:
        taken = taken.exclude(pk=other_than.pk)
    if taken.exists():
        raise RuleBroken("name", "An organization with this name already exists.")


def _save_organization(
    organization: Organization, *, update_fields: list[str] | None = None
) -> None:
    organization.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            organization.save(update_fields=update_fields)
    except IntegrityError:
        _refuse_taken_organization_name(
            organization.name, other_than=organization if organization.pk else None
        )
        raise


@transaction.atomic
def create_organization(
    *, name: str, actor: User | None, domain: str = "", notes: str = ""
) -> Organization:
    name = _clean_name(name)
    _refuse_taken_organization_name(name)
    organization = Organization(name=name, domain=(domain or "").strip().lower(), notes=notes or "")
    _save_organization(organization)
    after = {field: getattr(organization, field) for field in ORGANIZATION_FIELDS}
    record_audit(
        actor=actor,
        target=organization,
        action=AuditAction.CREATED,
        changes=audit_created(after),
    )
    return organization


@transaction.atomic
def update_organization(
    *, organization: Organization, actor: User | None, changes: dict[str, Any]
) -> Organization:
    unknown = set(changes) - ORGANIZATION_FIELDS
    if unknown:
        raise ValueError(f"update_organization cannot change {sorted(unknown)}")
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    changes = dict(changes)
    if "name" in changes:
        changes["name"] = _clean_name(changes["name"])
        _refuse_taken_organization_name(changes["name"], other_than=organization)
    if "domain" in changes:
        changes["domain"] = (changes["domain"] or "").strip().lower()
    if "notes" in changes:
        changes["notes"] = changes["notes"] or ""
    before = {field: getattr(organization, field) for field in changes}
    for field, value in changes.items():
        setattr(organization, field, value)
    if changes:
        _save_organization(organization, update_fields=list(changes))
    recorded = audit_changes(before, changes)
    if recorded:
        record_audit(actor=actor, target=organization, action=AuditAction.CHANGED, changes=recorded)
    return organization
