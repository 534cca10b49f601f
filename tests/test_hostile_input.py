"""Hostile bodies, sent to every write operation the OpenAPI schema lists, by every persona.

The operations come from drf-spectacular's generator, so a new endpoint is covered without
editing this file. Every answer must be a 4xx with a JSON body (never a 5xx, never an HTML
page), and nothing may be written: every row of the project's tables reads the same after.

The bodies: arrays and objects nested far deeper than any parser should recurse (at the top
and inside each field), nesting just at the cap, a body over the size cap, invalid JSON and
invalid UTF-8, JSON scalars and arrays where an object belongs, NaN, NUL bytes, huge strings
and numbers, and values of the wrong type for every field at once; the same ideas as forms
and multipart (too many fields, a declared length over the cap).
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache as memoized
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import resolve
from drf_spectacular.generators import SchemaGenerator
from rest_framework.request import Request
from rest_framework.test import APIClient, force_authenticate

from core.parsers import max_body_bytes, max_json_depth
from tests.factories import (
    OrganizationFactory,
    TagFactory,
    TicketFactory,
    standard_tiers,
)
from tickets.services import post_message

WRITE_METHODS = ("post", "put", "patch")
PERSONAS = ["anonymous", "customer", "agent", "manager"]
# Apps whose write operations must be found (a new app's show up without being listed here).
KNOWN_APPS = {"auth", "agents", "teams", "customers", "organizations", "tickets"}
TOO_DEEP = 50_000
NESTING_MESSAGE = "JSON nests too deeply"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the schema's template: /api/v1/tickets/{id}/status/
    operation_id: str
    fields: dict[str, str]  # request body property -> its JSON type
    media_types: frozenset[str]

    def __str__(self) -> str:
        return self.operation_id


def _schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A property's schema with `$ref`s followed and the nullable alternative dropped."""
    while True:
        if "$ref" in node:
            node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
            continue
        for key in ("allOf", "oneOf", "anyOf"):
            options = [
                option
                for option in node.get(key, [])
                if not option.get("$ref", "").endswith("/NullEnum")
            ]
            if options:
                node = options[0]
                break
        else:
            return node


def _json_type(schema: dict[str, Any], node: dict[str, Any]) -> str:
    resolved = _resolve(schema, node)
    kind = resolved.get("type", "string")
    return "enum" if "enum" in resolved else kind


def write_operations() -> list[Operation]:
    schema = _schema()
    found = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if method not in WRITE_METHODS:
                continue
            content = operation.get("requestBody", {}).get("content", {})
            body_schema = next(iter(content.values()), {}).get("schema", {})
            properties = _resolve(schema, body_schema).get("properties", {}) if content else {}
            fields = {name: _json_type(schema, prop) for name, prop in properties.items()}
            found.append(
                Operation(method, path, operation["operationId"], fields, frozenset(content))
            )
    return found


OPERATIONS = write_operations()


def test_every_apps_write_operations_are_found():
    apps_found = {operation.path.split("/")[3] for operation in OPERATIONS}
    assert len(OPERATIONS) > 0
    assert apps_found >= KNOWN_APPS, KNOWN_APPS - apps_found
    assert all(operation.fields for operation in OPERATIONS if operation.method != "put")


# --- the bodies ---------------------------------------------------------------------------------


@memoized
def nested(depth: int, leaf: str = "1") -> str:
    """`depth` levels of arrays and objects, alternating: [{"a": [{"a": ... }]}]."""
    opening = "".join("[" if level % 2 == 0 else '{"a":' for level in range(depth))
    closing = "".join("]" if level % 2 == 0 else "}" for level in reversed(range(depth)))
    return opening + leaf + closing


# For each JSON type, values no field of that type accepts. Every hostile body sets *every*
# field to one of them, so no body is valid as a whole and nothing may be written.
WRONG: dict[str, list[Any]] = {
    "string": [[], {"a": {"b": 1}}, True, ["x" * 1000], [{"a": 1}]],
    "enum": ["not-a-choice", {"a": 1}, "\x00", "é" * 10_000, ["open"]],
    "integer": ["abc", 1.5, 2**64, -(2**70), 10**400 - 1, 1e300, -1e-300],
    "number": ["abc", "1e999999", -(10**30), "NaN", [1]],
    "boolean": ["maybe", 2, {"a": True}, [True], "\x00"],
    "array": ["x", {"a": []}, [[]], [{"a": 1}], ["x" * 1000] * 3],
    "object": ["x", [1], 1, True, []],
}
ROUNDS = max(len(values) for values in WRONG.values())


def wrong_body(operation: Operation, round_: int) -> dict[str, Any]:
    return {
        name: WRONG.get(kind, WRONG["string"])[round_ % len(WRONG.get(kind, WRONG["string"]))]
        for name, kind in operation.fields.items()
    }


def every_field(operation: Operation, literal: str) -> str:
    """A JSON object with each field of the operation set to the same raw JSON text."""
    return "{" + ", ".join(f'"{name}": {literal}' for name in operation.fields) + "}"


def json_bodies(operation: Operation) -> Iterator[tuple[str, bytes | str]]:
    """(what, raw JSON body)."""
    yield "deep array", "[" * TOO_DEEP + "]" * TOO_DEEP
    yield "deep object", '{"a":' * TOO_DEEP + "1" + "}" * TOO_DEEP
    yield "deep mixed", nested(TOO_DEEP)
    for name in operation.fields:
        yield f"deep in {name}", f'{{"{name}": {nested(TOO_DEEP)}}}'
    # One level inside the object, so just at the cap: past the parser, into the serializers.
    yield "nested to the cap", every_field(operation, nested(max_json_depth() - 1, leaf='"x"'))
    yield "over the size cap", '{"x": "' + "a" * max_body_bytes() + '"}'
    share = max_body_bytes() // (len(operation.fields) + 1) - 16
    yield "huge strings", every_field(operation, json.dumps("a" * share))
    yield "invalid JSON", '{"a": '
    yield "trailing garbage", "{}}"
    yield "invalid UTF-8", b'{"a": "\xff\xfe"}'
    yield "raw NUL byte", b'{"a"\x00: 1}'
    yield "NUL in every field", every_field(operation, json.dumps("a\x00b"))
    yield "NaN", every_field(operation, "NaN")
    yield "huge number literal", every_field(operation, "9" * 5000)
    yield "huge exponent", every_field(operation, "1e999999")
    for scalar in ["1", '"text"', "null", "true", "[]", '[{"a": 1}]']:
        yield f"scalar {scalar}", scalar
    for round_ in range(ROUNDS):
        yield f"wrong types #{round_}", json.dumps(wrong_body(operation, round_))


def form_bodies(operation: Operation) -> Iterator[tuple[str, bytes | str, str]]:
    """(what, body, content type) as url-encoded and multipart forms."""
    too_many = {f"f{n}": "x" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    nul = dict.fromkeys(operation.fields, "a\x00b")  # no field accepts it: each body is bad
    cases = {
        "NUL in every field": nul,
        "too many fields": too_many,
        "list index out of range": nul | {f"{name}[{10**20}]": "x" for name in operation.fields},
    }
    for what, data in cases.items():
        yield what, encode_multipart(BOUNDARY, data), MULTIPART_CONTENT
        yield what, urlencode(data), "application/x-www-form-urlencoded"
    yield (
        "form over the size cap",
        "a=" + "b" * max_body_bytes(),
        "application/x-www-form-urlencoded",
    )


# --- the world the hostile requests land in ------------------------------------------------------


@pytest.fixture
def world(customer, other_customer, agent, manager, team):
    standard_tiers()
    OrganizationFactory(name="Acme")
    ticket = TicketFactory(customer=customer, team=team, tags=[TagFactory(name="refund")])
    post_message(
        ticket=ticket,
        author=agent,
        body="Label attached",
        attachments=[SimpleUploadedFile("label.pdf", b"%PDF x", "application/pdf")],
    )
    return {"customer": customer.user, "agent": agent, "manager": manager, "anonymous": None}


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of every table the project (or its sign-in tokens) owns."""
    base = Path(settings.BASE_DIR).resolve()
    models = [
        model
        for config in apps.get_app_configs()
        if config.label == "authtoken"
        or (Path(config.path).resolve().is_relative_to(base) and ".venv" not in config.path)
        for model in config.get_models()
    ]
    return {model._meta.label: list(model.objects.order_by("pk").values()) for model in models}


def url_for(operation: Operation, user: Any, fallback: Any) -> str:
    """The operation's URL with a path id of a record the persona can reach, if any (so the
    body gets past the lookup to the parser), else one the manager can."""
    if "{" not in operation.path:
        return operation.path
    for who in [user, fallback]:
        pk = _first_visible_pk(operation, who)
        if pk is not None:
            return _fill(operation.path, pk)
    return _fill(operation.path, 1)


def _fill(template: str, pk: Any) -> str:
    path = template
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + str(pk) + path[end + 1 :]
    return path


def _first_visible_pk(operation: Operation, user: Any) -> Any:
    if user is None:
        return None
    match = resolve(_fill(operation.path, 1))
    view_class = match.func.cls  # type: ignore[attr-defined]
    actions = getattr(match.func, "actions", None) or {}
    view = view_class(**getattr(match.func, "initkwargs", {}))
    http_request = RequestFactory().generic(operation.method.upper(), "/")
    force_authenticate(http_request, user=user)
    view.request = Request(http_request)
    view.request.user = user
    view.action = actions.get(operation.method)
    view.kwargs, view.args, view.format_kwarg = {}, (), None
    return view.get_queryset().order_by("pk").values_list("pk", flat=True).first()


def client_for(user: Any) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user=user)
    return client


def assert_refused(response: Any, what: str) -> None:
    assert 400 <= response.status_code < 500, (what, response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), (what, response["Content-Type"])
    assert isinstance(response.json(), dict), what


@pytest.mark.parametrize("operation", OPERATIONS, ids=str)
def test_hostile_bodies_are_refused_with_json_and_write_nothing(world, operation):
    before = snapshot()
    reached_the_parser = []
    for persona in PERSONAS:
        user = world[persona]
        client = client_for(user)
        url = url_for(operation, user, world["manager"])

        for what, body in json_bodies(operation):
            cache.clear()  # throttles count per test; these requests test the body, not them
            response = client.generic(
                operation.method.upper(), url, body, content_type="application/json"
            )
            assert_refused(response, f"{persona} {what}")
            if what == "deep array" and NESTING_MESSAGE in str(response.json()):
                reached_the_parser.append(persona)

        for what, body, content_type in form_bodies(operation):
            cache.clear()
            response = client.generic(operation.method.upper(), url, body, content_type)
            assert_refused(response, f"{persona} {content_type} {what}")

        cache.clear()
        response = client.generic(
            operation.method.upper(),
            url,
            b"--x\r\n",
            content_type="multipart/form-data; boundary=x",
            CONTENT_LENGTH=str(10**12),
        )
        assert_refused(response, f"{persona} multipart declared over the cap")
        assert snapshot() == before, f"{operation}: {persona}'s hostile bodies wrote something"

    # At least one persona's deep body reached (and was stopped by) the parser.
    assert reached_the_parser, f"{operation}: no persona got past the door to the parser"
