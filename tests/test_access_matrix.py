"""Every API route, for every persona: who gets in, who is refused, and how.

The routes are walked from the URL configuration (the API router, its extra paths, and the
schema and docs under /api/), so a new route fails `test_every_route_has_an_access_rule` until
`RULES` says who may use it. One row per (route name, method): the expected status for each
persona in `PERSONAS` order, the record its `{pk}` names, and the body a write sends.

The shape of the answers: anonymous gets 401 (except the token endpoint and the docs); a
customer gets 403 on agents' collections, and 404 for any record that is not theirs, so an id
never reveals that a record exists; an agent-only action on the customer's own ticket is a 403.
A refusal writes nothing.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from accounts.models import Role
from slas.services import save_calendar, save_policy, save_rule
from tests.factories import AgentFactory, OrganizationFactory, TicketFactory, standard_tiers
from tests.test_hostile_input import snapshot
from tickets.macros import create_macro
from tickets.models import Status
from tickets.services import post_message

PERSONAS = ["anonymous", "customer", "other_customer", "agent", "manager", "admin"]
API_PREFIX = "api/"
METHODS = ("get", "post", "put", "patch", "delete")

OK, CREATED, NO_CONTENT = HTTPStatus.OK, HTTPStatus.CREATED, HTTPStatus.NO_CONTENT
BAD, UNAUTHORIZED, FORBIDDEN, NOT_FOUND = (
    HTTPStatus.BAD_REQUEST,
    HTTPStatus.UNAUTHORIZED,
    HTTPStatus.FORBIDDEN,
    HTTPStatus.NOT_FOUND,
)

# The common rows, in PERSONAS order.
SIGNED_IN = (UNAUTHORIZED, OK, OK, OK, OK, OK)
AGENTS = (UNAUTHORIZED, FORBIDDEN, FORBIDDEN, OK, OK, OK)
AGENTS_CREATE = (UNAUTHORIZED, FORBIDDEN, FORBIDDEN, CREATED, CREATED, CREATED)
MANAGERS = (UNAUTHORIZED, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK)
MANAGERS_CREATE = (UNAUTHORIZED, FORBIDDEN, FORBIDDEN, FORBIDDEN, CREATED, CREATED)
# A record the customer may not know exists (someone's customer record): 404 for both.
AGENTS_RECORD = (UNAUTHORIZED, NOT_FOUND, NOT_FOUND, OK, OK, OK)
# The customer's own ticket: theirs to read and reply to, 404 for the other customer.
OWN_TICKET_READ = (UNAUTHORIZED, OK, NOT_FOUND, OK, OK, OK)
OWN_TICKET_AGENTS = (UNAUTHORIZED, FORBIDDEN, NOT_FOUND, OK, OK, OK)
EVERYONE = (OK,) * 6


@dataclass(frozen=True)
class Rule:
    expected: tuple[int, ...]
    target: str | None = None  # which record of the world `{pk}` names
    body: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. a query string for GET


RULES: dict[str, dict[str, Rule]] = {
    # macros: agents read and render, managers write (deleting retires)
    "api:macro-list": {
        "get": Rule(AGENTS),
        "post": Rule(MANAGERS_CREATE, body=lambda w: {"title": "Refund", "body": "Hi"}),
    },
    "api:macro-detail": {
        "get": Rule(AGENTS, target="macro"),
        "patch": Rule(MANAGERS, target="macro", body=lambda w: {"title": "Refunds"}),
        "delete": Rule(
            (UNAUTHORIZED, FORBIDDEN, FORBIDDEN, FORBIDDEN, NO_CONTENT, NO_CONTENT), target="macro"
        ),
    },
    "api:macro-render": {
        "post": Rule(AGENTS, target="macro", body=lambda w: {"ticket": w["ticket"]}),
    },
    # escalation rules: agents read (and the firings and catalog), managers write and dry-run
    "api:sla-rule-list": {
        "get": Rule(AGENTS),
        "post": Rule(
            MANAGERS_CREATE,
            body=lambda w: {"name": "Nudge", "actions": [{"type": "add_note", "body": "Hi"}]},
        ),
    },
    "api:sla-rule-detail": {
        "get": Rule(AGENTS, target="rule"),
        "patch": Rule(MANAGERS, target="rule", body=lambda w: {"position": 4}),
        "delete": Rule(
            (UNAUTHORIZED, FORBIDDEN, FORBIDDEN, FORBIDDEN, NO_CONTENT, NO_CONTENT), target="rule"
        ),
    },
    "api:sla-rule-dry-run": {
        "post": Rule(
            MANAGERS,
            body=lambda w: {"name": "Try", "actions": [{"type": "add_note", "body": "Hi"}]},
        ),
    },
    "api:sla-rule-firings": {"get": Rule(AGENTS, target="rule")},
    "api:sla-rule-catalog": {"get": Rule(AGENTS)},
    # Outside the router: the schema and its interactive docs are public.
    "schema": {"get": Rule(EVERYONE)},
    "api-docs": {"get": Rule(EVERYONE)},
    "api:api-root": {"get": Rule(SIGNED_IN)},
    # accounts
    "api:auth-token": {
        # Anyone may try to sign in (a wrong password is a 400 for everyone alike).
        "post": Rule((BAD,) * 6, body=lambda w: {"username": "nobody", "password": "wrong"}),
        "delete": Rule((UNAUTHORIZED, *(NO_CONTENT,) * 5)),
    },
    "api:me": {"get": Rule(SIGNED_IN)},
    # the SLA report (dashboard): managers only
    "api:reports-sla": {"get": Rule(MANAGERS)},
    "api:reports-sla-forecast": {"get": Rule(MANAGERS)},
    "api:reports-sla-csv": {"get": Rule(MANAGERS)},
    "api:agent-list": {"get": Rule(AGENTS)},
    "api:agent-detail": {
        "get": Rule(AGENTS, target="other_agent"),
        # Agents change their own profile; another agent's is for managers.
        "patch": Rule(MANAGERS, target="other_agent", body=lambda w: {"availability": "away"}),
    },
    "api:agent-my-availability": {
        "post": Rule(AGENTS, body=lambda w: {"availability": "away"}),
    },
    "api:team-list": {
        "get": Rule(AGENTS),
        "post": Rule(MANAGERS_CREATE, body=lambda w: {"name": "Night shift"}),
    },
    "api:team-detail": {
        "get": Rule(AGENTS, target="team"),
        "patch": Rule(MANAGERS, target="team", body=lambda w: {"description": "Parcels"}),
    },
    # The audit trail of people, teams, customers and organizations: managers read it.
    "api:audit-list": {"get": Rule(MANAGERS)},
    # customers
    "api:customer-list": {
        "get": Rule(AGENTS),
        "post": Rule(AGENTS_CREATE, body=lambda w: {"name": "Eve", "email": "eve@example.com"}),
    },
    "api:customer-detail": {
        "get": Rule(AGENTS_RECORD, target="customer_record"),
        "patch": Rule(AGENTS_RECORD, target="customer_record", body=lambda w: {"phone": "555"}),
    },
    "api:organization-list": {
        "get": Rule(AGENTS),
        "post": Rule(AGENTS_CREATE, body=lambda w: {"name": "Globex"}),
    },
    "api:organization-detail": {
        "get": Rule(AGENTS, target="organization"),
        "patch": Rule(AGENTS, target="organization", body=lambda w: {"notes": "Big"}),
    },
    "api:tier-list": {"get": Rule(AGENTS)},
    "api:tier-detail": {"get": Rule(AGENTS, target="tier")},
    # tickets
    "api:ticket-list": {
        "get": Rule(SIGNED_IN),
        # Customers open tickets for themselves (the customer id is for agents).
        "post": Rule(
            (UNAUTHORIZED, *(CREATED,) * 5),
            body=lambda w: {"customer": w["customer_record"], "subject": "Hi", "body": "Help"},
        ),
    },
    "api:ticket-detail": {
        "get": Rule(OWN_TICKET_READ, target="ticket"),
        "patch": Rule(OWN_TICKET_AGENTS, target="ticket", body=lambda w: {"priority": "high"}),
    },
    "api:ticket-status": {
        "post": Rule(OWN_TICKET_AGENTS, target="ticket", body=lambda w: {"status": "open"}),
    },
    "api:ticket-priority": {
        "post": Rule(OWN_TICKET_AGENTS, target="ticket", body=lambda w: {"priority": "low"}),
    },
    "api:ticket-assign": {
        "post": Rule(OWN_TICKET_AGENTS, target="ticket", body=lambda w: {"assignee": None}),
    },
    "api:ticket-team": {
        "post": Rule(OWN_TICKET_AGENTS, target="ticket", body=lambda w: {"team": None}),
    },
    "api:ticket-tags": {
        "post": Rule(OWN_TICKET_AGENTS, target="ticket", body=lambda w: {"tags": ["vip"]}),
    },
    "api:ticket-messages": {
        "get": Rule(OWN_TICKET_READ, target="ticket"),
        "post": Rule(
            (UNAUTHORIZED, CREATED, NOT_FOUND, CREATED, CREATED, CREATED),
            target="ticket",
            body=lambda w: {"body": "Any news?"},
        ),
    },
    "api:ticket-events": {"get": Rule(OWN_TICKET_AGENTS, target="ticket")},
    # A file on a public message of the customer's ticket (internal notes' files: 404 for
    # customers, tests/tickets/test_api_permissions.py).
    "api:attachment-download": {"get": Rule(OWN_TICKET_READ, target="attachment")},
    # SLA calendars and policies: agents read, managers write; a ticket's clocks: agents.
    "api:sla-calendar-list": {
        "get": Rule(AGENTS),
        "post": Rule(MANAGERS_CREATE, body=lambda w: {"name": "Night", "always_open": True}),
    },
    "api:sla-calendar-detail": {
        "get": Rule(AGENTS, target="calendar"),
        "patch": Rule(MANAGERS, target="calendar", body=lambda w: {"name": "Always"}),
    },
    "api:sla-policy-list": {
        "get": Rule(AGENTS),
        "post": Rule(
            MANAGERS_CREATE,
            body=lambda w: {
                "name": "Gold",
                "calendar": w["calendar"],
                "conditions": {"tiers": ["gold"]},
                "targets": {"urgent": {"first_reply_minutes": 30}},
            },
        ),
    },
    "api:sla-policy-detail": {
        "get": Rule(AGENTS, target="policy"),
        "patch": Rule(MANAGERS, target="policy", body=lambda w: {"description": "Everyone"}),
    },
    "api:sla-ticket-detail": {"get": Rule(AGENTS, target="ticket")},
    # Chat history: agents (of the site's team; managers all), never customers or visitors.
    "api:chat-conversation-list": {"get": Rule(AGENTS)},
    "api:chat-conversation-detail": {"get": Rule(AGENTS_RECORD, target="chat")},
    "api:chat-conversation-lines": {"get": Rule(AGENTS_RECORD, target="chat")},
}


# --- walking the routes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str  # as reverse() takes it: "api:ticket-status"
    method: str

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.name}"


def _patterns(
    resolvers: list[Any], prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str, URLPattern]]:
    for entry in resolvers:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry.url_patterns, route, inner)
        elif entry.name:
            yield route.lstrip("^"), f"{namespace}{entry.name}", entry


def _methods(pattern: URLPattern) -> list[str]:
    view = pattern.callback
    view_class = getattr(view, "cls", None) or getattr(view, "view_class", None)
    allowed = getattr(view_class, "http_method_names", METHODS)
    actions = getattr(view, "actions", None)
    if actions:  # a ViewSet route: the methods the router mapped to actions
        return [method for method in METHODS if method in actions and method in allowed]
    return [method for method in METHODS if method in allowed and hasattr(view_class, method)]


def api_routes() -> list[Route]:
    """Every (named route, method) under /api/; a route's format-suffix twin counts once."""
    found = {
        Route(name, method)
        for route, name, pattern in _patterns(get_resolver().url_patterns)
        if route.startswith(API_PREFIX)
        for method in _methods(pattern)
    }
    return sorted(found, key=str)


ROUTES = api_routes()


def test_every_route_has_an_access_rule():
    missing = [str(route) for route in ROUTES if route.method not in RULES.get(route.name, {})]
    assert not missing, f"new route(s) {missing} have no access rule: add them to RULES"


def test_every_rule_is_for_a_route_that_exists():
    walked = {(route.name, route.method) for route in ROUTES}
    stale = [(name, method) for name, rules in RULES.items() for method in rules]
    assert [rule for rule in stale if rule not in walked] == []
    assert all(
        len(rule.expected) == len(PERSONAS) for rules in RULES.values() for rule in rules.values()
    )


# --- the world every request lands in ---------------------------------------------------------


@pytest.fixture
def admin(db):
    return AgentFactory(username="ada", profile__role=Role.ADMIN, is_staff=True, is_superuser=True)


@pytest.fixture
def world(customer, other_customer, agent, other_agent, manager, admin, team):
    standard_tiers()
    calendar = save_calendar(
        actor=manager, calendar=None, data={"name": "24/7", "always_open": True}
    )
    policy = save_policy(
        actor=manager,
        policy=None,
        data={
            "name": "Standard",
            "is_default": True,
            "calendar": calendar,
            "targets": {"normal": {"first_reply_minutes": 60}},
        },
    )
    ticket = TicketFactory(customer=customer, team=team, status=Status.NEW)
    message = post_message(
        ticket=ticket,
        author=agent,
        body="Label attached",
        attachments=[SimpleUploadedFile("label.pdf", b"%PDF x", "application/pdf")],
    )
    return {
        "users": {
            "anonymous": None,
            "customer": customer.user,
            "other_customer": other_customer.user,
            "agent": agent,
            "manager": manager,
            "admin": admin,
        },
        "customer_record": customer.pk,
        "other_agent": other_agent.pk,
        "team": team.pk,
        "organization": OrganizationFactory(name="Acme").pk,
        "tier": customer.tier_id,
        "ticket": ticket.pk,
        "attachment": message.attachments.get().pk,
        "macro": create_macro(actor=manager, title="Hello", body="Hi").pk,
        "calendar": calendar.pk,
        "policy": policy.pk,
        "rule": save_rule(
            actor=manager,
            rule=None,
            # Inactive: an active event rule with no conditions would fire on the chat's ticket
            # below, and a rule that has fired can only be deactivated, not deleted.
            data={
                "name": "Warn",
                "is_active": False,
                "actions": [{"type": "add_note", "body": "Look"}],
            },
        ).pk,
        "chat": _chat_of(customer, team),
    }


def _chat_of(customer: Any, team: Any) -> int:
    """A chat on a site of `team`, whose customer is the persona `customer`."""
    from chat.models import Site, Visitor
    from chat.services import start_conversation

    site = Site.objects.create(name="Shop", team=team, allowed_origins=["https://shop.example"])
    visitor = Visitor.objects.create(site=site, customer=customer, identified=True)
    return start_conversation(site=site, visitor=visitor, prechat={}, body="Hello?").pk


def ask(world: dict[str, Any], route: Route, persona: str) -> Any:
    rule = RULES[route.name][route.method]
    client = APIClient()
    user = world["users"][persona]
    if user is not None:
        client.force_authenticate(user=user)
    url = reverse(route.name, args=[world[rule.target]] if rule.target else [])
    send = getattr(client, route.method)
    if rule.body is not None:
        return send(url, rule.body(world), format="json")
    return send(url, **rule.extra)


@pytest.mark.parametrize(
    "route", [route for route in ROUTES if route.method in RULES.get(route.name, {})], ids=str
)
def test_access(world, route):
    rule = RULES[route.name][route.method]
    wrong = []
    for persona, expected in zip(PERSONAS, rule.expected, strict=True):
        # Each persona meets the same world: whatever one writes is rolled back.
        with transaction.atomic():
            before = snapshot()
            response = ask(world, route, persona)
            if response.status_code != expected:
                wrong.append((persona, response.status_code, response.content[:200]))
            elif expected in (UNAUTHORIZED, FORBIDDEN, NOT_FOUND):
                assert set(response.json()) == {"detail"}, (persona, response.content)
                assert snapshot() == before, f"{persona}: a refusal wrote something"
            transaction.set_rollback(True)
    assert wrong == [], f"{route}: (persona, got, body) where the rule says otherwise"
