"""Macros (canned replies): the one place they are written, read for an agent, and rendered.

Rendering is a whitelist substitution, never a template engine: the body may contain only the
placeholders in PLACEHOLDERS (`{{ customer.first_name }}`); anything else that looks like
template code (`{{ customer.user.password }}`, `{% load %}`, `{# #}`) is refused when the macro
is saved, naming the field, and refused again if it ever reaches rendering. Values are plain
strings; the filled-in text is the reply box's light markup, whose HTML is escaped and then
sanitized (tickets.markup, tickets.services.sanitize_body) like any typed reply.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from accounts.models import Team, User
from core.errors import RuleBroken
from customers.services import tags_named
from tickets.markup import markup_to_html
from tickets.models import Macro, Priority, Status, Ticket
from tickets.services import MAX_TAGS_PER_TICKET, sanitize_body, update_ticket


def _first_name(full_name: str) -> str:
    return (full_name or "").strip().split(" ")[0] if full_name else ""


# Each placeholder and how its value is read. Nothing outside this table is reachable.
PLACEHOLDERS: dict[str, Callable[[Ticket, User], str]] = {
    "customer.name": lambda ticket, agent: ticket.customer.name,
    "customer.first_name": lambda ticket, agent: _first_name(ticket.customer.name),
    "customer.email": lambda ticket, agent: ticket.customer.email,
    "ticket.reference": lambda ticket, agent: ticket.reference,
    "ticket.subject": lambda ticket, agent: ticket.subject,
    "agent.name": lambda ticket, agent: agent.display_name,
    "agent.first_name": lambda ticket, agent: agent.first_name or agent.display_name,
}
_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.DOTALL)
_TEMPLATE_CODE = re.compile(r"\{%|%\}|\{#|#\}")
TITLE_MAX = 100
BODY_MAX = 20_000
MACRO_FIELDS = frozenset(
    {"title", "body", "set_status", "set_priority", "set_team", "add_tags", "owner", "is_active"}
)


def check_template(body: str, *, field: str = "body") -> None:
    """Refuse anything but known placeholders, naming the first offender."""
    code = _TEMPLATE_CODE.search(body)
    if code:
        raise RuleBroken(field, "Template tags are not allowed; use placeholders like "
                         "{{ customer.first_name }}.")  # fmt: skip
    for match in _PLACEHOLDER.finditer(body):
        if match.group(1) not in PLACEHOLDERS:
            known = ", ".join(f"{{{{ {name} }}}}" for name in PLACEHOLDERS)
            raise RuleBroken(field, f"Unknown placeholder {match.group(0)}. Use one of: {known}.")


def fill_placeholders(body: str, *, ticket: Ticket, agent: User) -> str:
    check_template(body)
    return _PLACEHOLDER.sub(lambda match: PLACEHOLDERS[match.group(1)](ticket, agent), body)


@dataclass(frozen=True)
class RenderedMacro:
    text: str  # for the reply box, to review and edit
    html: str  # the same, as the message would show it (escaped, then sanitized)
    actions: dict[str, Any] = field(default_factory=dict)


def macro_actions(macro: Macro) -> dict[str, Any]:
    actions: dict[str, Any] = {}
    if macro.set_status:
        actions["status"] = macro.set_status
    if macro.set_priority:
        actions["priority"] = macro.set_priority
    if macro.set_team_id:
        actions["team"] = macro.set_team_id
    if macro.add_tags:
        actions["add_tags"] = list(macro.add_tags)
    return actions


def render_macro(*, macro: Macro, ticket: Ticket, agent: User) -> RenderedMacro:
    """The macro filled in for this ticket and agent. Applies nothing."""
    text = fill_placeholders(macro.body, ticket=ticket, agent=agent)
    return RenderedMacro(
        text=text, html=sanitize_body(markup_to_html(text)), actions=macro_actions(macro)
    )


# --- reads --------------------------------------------------------------------------------------


def macros_visible_to(user: User) -> QuerySet[Macro]:
    """Agents: the shared macros and their own personal ones (retired ones too; callers
    narrow to `is_active`). Anyone else: none."""
    if not user.is_authenticated or not user.is_agent:
        return Macro.objects.none()
    return Macro.objects.filter(Q(owner__isnull=True) | Q(owner=user)).select_related("set_team")


def macros_to_apply(user: User, search: str = "") -> QuerySet[Macro]:
    macros = macros_visible_to(user).filter(is_active=True)
    for word in search.split()[:5]:
        macros = macros.filter(Q(title__icontains=word) | Q(body__icontains=word))
    return macros


def may_manage_macros(user: User) -> bool:
    return user.is_authenticated and user.is_manager and user.is_agent


# --- writes -------------------------------------------------------------------------------------


def _clean(changes: dict[str, Any], *, actor: User) -> dict[str, Any]:
    unknown = set(changes) - MACRO_FIELDS
    if unknown:
        raise ValueError(f"macros cannot change {sorted(unknown)}")
    cleaned = dict(changes)
    if "title" in cleaned:
        title = " ".join((cleaned["title"] or "").split())
        if not title:
            raise RuleBroken("title", "A macro needs a title.")
        if len(title) > TITLE_MAX:
            raise RuleBroken("title", f"A title is at most {TITLE_MAX} characters.")
        cleaned["title"] = title
    if "body" in cleaned:
        body = (cleaned["body"] or "").replace("\r\n", "\n").strip()
        if not body:
            raise RuleBroken("body", "A macro needs a body.")
        if len(body) > BODY_MAX:
            raise RuleBroken("body", f"A body is at most {BODY_MAX} characters.")
        check_template(body)
        cleaned["body"] = body
    if cleaned.get("set_status") and cleaned["set_status"] not in Status.values:
        raise RuleBroken("set_status", f"{cleaned['set_status']!r} is not a status.")
    if cleaned.get("set_priority") and cleaned["set_priority"] not in Priority.values:
        raise RuleBroken("set_priority", f"{cleaned['set_priority']!r} is not a priority.")
    for name in ("set_status", "set_priority"):
        if name in cleaned:
            cleaned[name] = cleaned[name] or ""
    if "set_team" in cleaned and not (cleaned["set_team"] is None or isinstance(
            cleaned["set_team"], Team)):  # fmt: skip
        raise RuleBroken("set_team", "Choose a team.")
    if "add_tags" in cleaned:
        names: Iterable[str] = cleaned["add_tags"] or []
        if isinstance(names, str):
            names = [name for name in names.split(",") if name.strip()]
        cleaned["add_tags"] = [
            tag.name for tag in tags_named(names, field="add_tags", limit=MAX_TAGS_PER_TICKET)
        ]
    if cleaned.get("owner") is not None and cleaned["owner"] != actor:
        raise RuleBroken("owner", "A personal macro belongs to the manager who writes it.")
    return cleaned


def _require_manager(actor: User) -> None:
    if not may_manage_macros(actor):
        raise RuleBroken("macro", "Only managers write macros.")


@transaction.atomic
def create_macro(*, actor: User, title: str, body: str, **options: Any) -> Macro:
    """A new macro: shared (owner None) or personal to the manager writing it."""
    _require_manager(actor)
    cleaned = _clean({"title": title, "body": body, **options}, actor=actor)
    return Macro.objects.create(created_by=actor, **cleaned)


@transaction.atomic
def update_macro(*, macro: Macro, actor: User, changes: dict[str, Any]) -> Macro:
    _require_manager(actor)
    macro = Macro.objects.select_for_update().get(pk=macro.pk)
    if macro.owner_id is not None and macro.owner_id != actor.pk:
        raise RuleBroken("owner", "This is another manager's personal macro.")
    cleaned = _clean(changes, actor=actor)
    for name, value in cleaned.items():
        setattr(macro, name, value)
    if cleaned:
        macro.save(update_fields=[*cleaned, "updated_at"])
    return macro


def retire_macro(*, macro: Macro, actor: User) -> Macro:
    """Retired macros leave the picker; the row stays (it may be brought back)."""
    return update_macro(macro=macro, actor=actor, changes={"is_active": False})


def apply_macro(*, macro: Macro, ticket: Ticket, agent: User) -> RenderedMacro:
    """What the workspace's picker does: fill the text in (for the reply box, where the agent
    reviews and sends it) and make the macro's routing changes now (priority, team, tags) through
    the ticket services. A status action is not applied here: it rides on the reply
    (`RenderedMacro.actions["status"]` becomes the reply's status-after), so a ticket is never
    marked solved before its answer is sent."""
    if not macro.is_active:
        raise RuleBroken("macro", "This macro has been retired.")
    rendered = render_macro(macro=macro, ticket=ticket, agent=agent)
    changes: dict[str, Any] = {}
    if macro.set_priority:
        changes["priority"] = macro.set_priority
    if macro.set_team_id:
        changes["team"] = macro.set_team
    if macro.add_tags:
        current = list(ticket.tags.values_list("name", flat=True))
        changes["tags"] = sorted({*current, *macro.add_tags})
    if changes:
        update_ticket(ticket=ticket, actor=agent, changes=changes)
    return rendered
