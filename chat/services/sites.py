"""Setting up a shop for the widget: create and change a Site, rotate its identity secret.
Managers do this from /chat/sites/ and the admin; both call these (access checked there)."""

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction

from accounts.models import AuditAction, Team, User
from accounts.services import audit_changes, audit_created, record_audit
from chat.models import PrechatField, Site, new_identity_secret
from core.errors import RuleBroken
from slas.models import BusinessCalendar

SITE_FIELDS = {
    "name",
    "allowed_origins",
    "team",
    "calendar",
    "offer_timeout_seconds",
    "missed_after_seconds",
    "prechat_fields",
    "greeting",
    "colour",
    "require_identity",
    "is_active",
}
MIN_OFFER_TIMEOUT, MAX_OFFER_TIMEOUT = 5, 600
MAX_MISSED_AFTER = 86400  # a day: longer than that, "live" chat means nothing to the customer
MAX_ORIGINS = 20
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOST = re.compile(rf"^(?:{LABEL}\.)*{LABEL}$")


def clean_origin(text: str) -> str:
    """`scheme://host[:port]` exactly as a browser sends it in the Origin header."""
    text = text.strip()
    problem = f"{text[:80]!r} is not an origin like https://shop.example or http://localhost:8001."
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise RuleBroken("allowed_origins", problem) from None
    host = parts.hostname or ""
    if (
        parts.scheme not in {"http", "https"}
        or not HOST.match(host)
        or parts.path not in {"", "/"}
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise RuleBroken("allowed_origins", problem)
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def clean_origins(origins: Any) -> list[str]:
    if isinstance(origins, str):
        origins = origins.split()
    if not isinstance(origins, list | tuple):
        raise RuleBroken("allowed_origins", "List the origins, one a line.")
    cleaned: list[str] = []
    for origin in origins:
        if not isinstance(origin, str):
            raise RuleBroken("allowed_origins", "Each origin is text.")
        value = clean_origin(origin)
        if value not in cleaned:
            cleaned.append(value)
    if not cleaned:
        raise RuleBroken("allowed_origins", "Name at least one origin the widget runs on.")
    if len(cleaned) > MAX_ORIGINS:
        raise RuleBroken("allowed_origins", f"At most {MAX_ORIGINS} origins.")
    return cleaned


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    values = dict(values)
    if "name" in values:
        values["name"] = " ".join(str(values["name"] or "").split())
        if not values["name"]:
            raise RuleBroken("name", "A site needs a name.")
        if len(values["name"]) > 200:
            raise RuleBroken("name", "A site name is at most 200 characters.")
    if "allowed_origins" in values:
        values["allowed_origins"] = clean_origins(values["allowed_origins"])
    if "team" in values:
        team = values["team"]
        if not isinstance(team, Team):
            raise RuleBroken("team", "Choose the team that answers this site's chats.")
        if not team.is_active:
            raise RuleBroken("team", f"{team.name} is archived.")
    calendar = values.get("calendar")
    if calendar is not None and not isinstance(calendar, BusinessCalendar):
        raise RuleBroken("calendar", "Choose a business calendar, or none.")
    if "offer_timeout_seconds" in values:
        seconds = values["offer_timeout_seconds"]
        if type(seconds) is not int or not MIN_OFFER_TIMEOUT <= seconds <= MAX_OFFER_TIMEOUT:
            raise RuleBroken(
                "offer_timeout_seconds",
                f"The offer time-out is {MIN_OFFER_TIMEOUT} to {MAX_OFFER_TIMEOUT} seconds.",
            )
    if "missed_after_seconds" in values:
        seconds = values["missed_after_seconds"]
        if type(seconds) is not int or not 0 <= seconds <= MAX_MISSED_AFTER:
            raise RuleBroken(
                "missed_after_seconds",
                f"Give up after 0 (never) to {MAX_MISSED_AFTER} seconds (a day).",
            )
    if "prechat_fields" in values:
        fields = values["prechat_fields"]
        if not isinstance(fields, list | tuple) or not all(
            field in PrechatField.values for field in fields
        ):
            raise RuleBroken("prechat_fields", "Pre-chat fields are name, email, topic, order.")
        values["prechat_fields"] = [f for f in PrechatField.values if f in fields]
    if "greeting" in values:
        values["greeting"] = str(values["greeting"] or "").strip()
        if len(values["greeting"]) > 300:
            raise RuleBroken("greeting", "A greeting is at most 300 characters.")
    if "colour" in values:
        if not isinstance(values["colour"], str) or not COLOUR.match(values["colour"]):
            raise RuleBroken("colour", "A colour is #rrggbb, like #1f6feb.")
        values["colour"] = values["colour"].lower()
    for flag in ("require_identity", "is_active"):
        if flag in values and not isinstance(values[flag], bool):
            raise RuleBroken(flag, "Yes or no.")
    return values


@transaction.atomic
def create_site(*, actor: User | None, **fields: Any) -> Site:
    unknown = set(fields) - SITE_FIELDS
    if unknown:
        raise ValueError(f"create_site cannot set {sorted(unknown)}")
    for required in ("name", "allowed_origins", "team"):
        if required not in fields:
            raise RuleBroken(required, "This field is required.")
    values = _clean(fields)
    site = Site.objects.create(**values)
    record_audit(
        actor=actor, target=site, action=AuditAction.CREATED, changes=audit_created(values)
    )
    return site


@transaction.atomic
def update_site(*, site: Site, actor: User | None, changes: dict[str, Any]) -> Site:
    unknown = set(changes) - SITE_FIELDS
    if unknown:
        raise ValueError(f"update_site cannot change {sorted(unknown)}")
    site = Site.objects.select_for_update().get(pk=site.pk)
    values = _clean(changes)
    before = {field: getattr(site, field) for field in values}
    changed = [field for field, value in values.items() if getattr(site, field) != value]
    for field in changed:
        setattr(site, field, values[field])
    if changed:
        site.save(update_fields=changed)
    recorded = audit_changes(before, {field: values[field] for field in changed})
    if recorded:
        record_audit(actor=actor, target=site, action=AuditAction.CHANGED, changes=recorded)
    return site


@transaction.atomic
def rotate_identity_secret(*, site: Site, actor: User | None) -> Site:
    """A new identity secret: identities the shop signed with the old one are refused from now
    on (the shop's backend must switch to the new one). The audit says when, never the value."""
    site = Site.objects.select_for_update().get(pk=site.pk)
    site.identity_secret = new_identity_secret()
    site.save(update_fields=["identity_secret"])
    record_audit(
        actor=actor,
        target=site,
        action=AuditAction.CHANGED,
        changes={"identity_secret": {"from": "(hidden)", "to": "(rotated)"}},
    )
    return site


def sites_of(teams: Iterable[Team] | None = None) -> Any:
    sites = Site.objects.select_related("team", "calendar").order_by("name", "id")
    return sites if teams is None else sites.filter(team__in=list(teams))
