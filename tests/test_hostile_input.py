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

import base64
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
from django.test import Client, RequestFactory
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import resolve
from drf_spectacular.generators import SchemaGenerator
from rest_framework.request import Request
from rest_framework.test import APIClient, force_authenticate

from core.parsers import max_body_bytes, max_json_depth
from slas.services import save_calendar, save_policy
from tests.factories import (
    OrganizationFactory,
    TagFactory,
    TicketFactory,
    standard_tiers,
)
from tickets.macros import create_macro
from tickets.services import post_message

WRITE_METHODS = ("post", "put", "patch")
PERSONAS = ["anonymous", "customer", "agent", "manager"]
# Apps whose write operations must be found (a new app's show up without being listed here).
KNOWN_APPS = {"auth", "agents", "teams", "customers", "organizations", "tickets"}
TOO_DEEP = 10_000  # ten times what Python's recursion limit lets its JSON decoder reach
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


@memoized
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
    "integer": ["abc", 1.5, 2**64, -(2**70), 10**400 - 1, 1e300, -1e-300, "\u00b2"],
    "number": ["abc", "1e999999", -(10**30), "NaN", [1]],
    "boolean": ["maybe", 2, {"a": True}, [True], "\x00"],
    "array": ["x", {"a": []}, [[]], [{"a": 1}], ["x" * 1000] * 3],
    "object": ["x", [1], 1, True, []],
}
ODD_CONTENT_TYPES = [
    "application/json; charset=bz2_codec",  # a codec that decompresses: no
    "application/json; charset=no-such-charset",
    "text/plain",
    "application/xml",
    "multipart/form-data",  # no boundary
    "multipart/form-data; boundary=",
]
FIELD_BODIES_START = "NUL in every field"
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
    """(what, raw JSON body): first those whose shape alone is wrong, then (after
    `FIELD_BODIES_START`) those that set the operation's fields."""
    yield "deep array", "[" * TOO_DEEP + "]" * TOO_DEEP
    yield "deep object", '{"a":' * TOO_DEEP + "1" + "}" * TOO_DEEP
    yield "deep mixed", nested(TOO_DEEP)
    yield "over the size cap", '{"x": "' + "a" * max_body_bytes() + '"}'
    yield "invalid JSON", '{"a": '
    yield "trailing garbage", "{}}"
    yield "invalid UTF-8", b'{"a": "\xff\xfe"}'
    yield "raw NUL byte", b'{"a"\x00: 1}'
    for scalar in ["1", '"text"', "null", "true", "[]", '[{"a": 1}]']:
        yield f"scalar {scalar}", scalar
    yield FIELD_BODIES_START, every_field(operation, json.dumps("a\x00b"))
    for name in operation.fields:
        yield f"deep in {name}", f'{{"{name}": {nested(TOO_DEEP)}}}'
    # One level inside the object, so just at the cap: past the parser, into the serializers.
    yield "nested to the cap", every_field(operation, nested(max_json_depth() - 1, leaf='"x"'))
    share = max_body_bytes() // (len(operation.fields) + 1) - 16
    yield "huge strings", every_field(operation, json.dumps("a" * share))
    yield "NaN", every_field(operation, "NaN")
    yield "huge number literal", every_field(operation, "9" * 5000)
    yield "huge exponent", every_field(operation, "1e999999")
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
    # A macro, so the macro endpoints' bodies get past the lookup to the parser.
    create_macro(actor=manager, title="Hello", body="Hi {{ customer.first_name }}")
    # A calendar and a policy, for the SLA endpoints' bodies likewise.
    calendar = save_calendar(
        actor=manager, calendar=None, data={"name": "24/7", "always_open": True}
    )
    save_policy(
        actor=manager,
        policy=None,
        data={"name": "Standard", "is_default": True, "calendar": calendar,
              "targets": {"normal": {"first_reply_minutes": 60}}},
    )  # fmt: skip
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
def test_hostile_bodies_are_refused_with_json_and_write_nothing(world, operation, settings):
    # The cap's behaviour, not its size, is under test here: a small one keeps the test quick.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    before = snapshot()
    reached_the_parser = []
    for persona in PERSONAS:
        user = world[persona]
        client = client_for(user)
        url = url_for(operation, user, world["manager"])

        for what, body in json_bodies(operation):
            if what == FIELD_BODIES_START and persona not in reached_the_parser:
                break  # refused at the door (401/403/404): the fields never get read
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

        for content_type in ODD_CONTENT_TYPES:
            cache.clear()
            body = json.dumps(wrong_body(operation, 0))
            response = client.generic(operation.method.upper(), url, body, content_type)
            assert_refused(response, f"{persona} content type {content_type}")

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


# --- query strings and path ids ----------------------------------------------------------------

# What a fuzzer (or a curious person) puts in a query string. Each must be a 400 naming the
# parameter, an empty result or a 404, never a 500.
HOSTILE_PARAMETERS = [
    "a\x00b",
    "\u00b2",  # a digit to str.isdigit(), not to int()
    "HD-\u00b2",
    "HD-" + "9" * 30,
    "9" * 30,
    "-1",
    "1.5",
    "1e999",
    "NaN",
    "😀" * 50,
    "x" * 5_000,
    "%_'\"\\",
    "[]",
    "none",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "7635-09-28T14:28:43.790-20:18",  # beyond PostgreSQL's offsets (found by schemathesis)
    "-created_at,-updated_at",
]
HOSTILE_CURSORS = [
    "not-base64!",
    "cD05OTk5LTEyLTMxVDIzOjU5OjU5LTIzOjU5",  # p=9999-12-31T23:59:59-23:59
    "cD0wMDAxLTAxLTAxVDAwOjAwOjAwKzIzOjU5",  # p=0001-01-01T00:00:00+23:59
    "bz05OTk5OTk5OTk5OTk5OTk5OTk5OTk5OSZwPTIwMjYtMDEtMDE=",  # o=huge&p=2026-01-01
    "cj0xJnA9AA==",  # r=1&p=NUL
    "cD0yMDI2LTAxLTAxVDAwOjAwOjAwLTIwOjE4",  # p=2026-01-01T00:00:00-20:18
]
HOSTILE_IDS = ["0", "-1", "9" * 30, "1.5", "abc", "%00", "1e3", "x" * 500]


def read_operations() -> list[tuple[str, list[str]]]:
    """(path, query parameter names) of every GET operation."""
    schema = _schema()
    return [
        (path, [p["name"] for p in methods["get"].get("parameters", []) if p["in"] == "query"])
        for path, methods in schema["paths"].items()
        if "get" in methods
    ]


READS = read_operations()


def assert_answered(response: Any, what: str) -> None:
    assert response.status_code < 500, (what, response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json") or (
        response.status_code == 200 and "download" in what
    ), (what, response["Content-Type"])


@pytest.mark.parametrize(
    ("path", "parameters"),
    [pytest.param(*read, id=read[0]) for read in READS if "{" not in read[0]],
)
def test_hostile_query_parameters_never_answer_500(world, path, parameters):
    for persona in ["manager", "customer"]:
        client = client_for(world[persona])
        for name in parameters:
            values = HOSTILE_CURSORS if name == "cursor" else HOSTILE_PARAMETERS
            for value in values:
                cache.clear()
                response = client.get(path, {name: value})
                assert_answered(response, f"{persona} {path}?{name}={value[:40]!r}")
                if response.status_code == 400:
                    assert name in response.json(), (name, response.json())


@pytest.mark.parametrize("path", [read[0] for read in READS if "{" in read[0]], ids=str)
def test_hostile_path_ids_are_a_json_404(world, path):
    client = client_for(world["manager"])
    for value in HOSTILE_IDS:
        cache.clear()
        response = client.get(_fill(path, value))
        assert response.status_code == 404, (path, value, response.status_code)
        assert response.json() == {"detail": "Not found."} or "detail" in response.json()


# --- the findings, one by one, as a person would meet them -------------------------------------


def test_deep_json_to_the_anonymous_token_endpoint_is_a_400_naming_the_problem(db):
    for body in ["[" * TOO_DEEP + "]" * TOO_DEEP, '{"username": ' + nested(TOO_DEEP) + "}"]:
        response = APIClient().generic(
            "POST", "/api/v1/auth/token/", body, content_type="application/json"
        )
        assert response.status_code == 400
        assert response.json() == {
            "non_field_errors": ["JSON nests too deeply (at most 32 levels of arrays/objects)."]
        }


def test_json_nested_to_the_cap_still_parses(agent_client, customer):
    body = {"subject": "Hi", "body": "Help", "customer": customer.pk}
    body["tags"] = nested(max_json_depth() - 1, leaf='"x"')  # one level more inside the object
    raw = json.dumps(body).replace(json.dumps(body["tags"]), body["tags"])

    response = agent_client.generic("POST", "/api/v1/tickets/", raw, "application/json")

    assert response.status_code == 400
    assert "tags" in response.json()  # the serializer saw it: not refused by the parser


def test_a_body_over_the_cap_is_a_400(agent_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"subject": "x" * 1000})

    response = agent_client.generic("POST", "/api/v1/tickets/", body, "application/json")

    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": ["The request body is too large (at most 1000 bytes)."]
    }


def test_a_number_too_large_for_a_float_is_a_400_not_infinity(manager_client):
    body = '{"name": "Night shift", "manager": 1e999999}'

    response = manager_client.generic("POST", "/api/v1/teams/", body, "application/json")

    assert response.status_code == 400
    assert "too large" in response.json()["non_field_errors"][0]


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/v1/customers/", "tier"),
        ("/api/v1/tickets/", "tier"),
        ("/api/v1/tickets/", "search"),
    ],
)
def test_a_superscript_digit_in_a_filter_is_no_match(agent_client, customer, url, parameter):
    TicketFactory(customer=customer)
    response = agent_client.get(url, {parameter: "\u00b2" if parameter == "tier" else "HD-\u00b2"})
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_a_superscript_digit_as_an_id_is_a_400_naming_the_field(agent_client, customer):
    body = {"customer": "\u00b2", "subject": "Hi", "body": "Help"}
    for format_ in ["json", "multipart"]:
        response = agent_client.post("/api/v1/tickets/", body, format=format_)
        assert response.status_code == 400
        assert list(response.json()) == ["customer"]


def test_a_tier_slug_with_a_nul_byte_is_a_400(agent_client):
    response = agent_client.post(
        "/api/v1/customers/", {"name": "Eve", "email": "eve@example.com", "tier": "go\x00ld"}
    )
    assert response.status_code == 400
    assert list(response.json()) == ["tier"]


@pytest.mark.parametrize("name", ["created_after", "created_before", "updated_after"])
def test_a_time_that_does_not_exist_in_utc_is_a_400_naming_the_filter(agent_client, name):
    response = agent_client.get("/api/v1/tickets/", {name: "9999-12-31T23:59:59-23:59"})
    assert response.status_code == 400
    assert response.json() == {name: ["Enter a date and time between years 1 and 9999."]}


def test_a_time_with_an_offset_postgresql_refuses_is_read_in_utc(agent_client, customer):
    TicketFactory(customer=customer)

    response = agent_client.get("/api/v1/tickets/", {"created_after": "2000-01-01T00:00-20:18"})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


@pytest.mark.parametrize("position", ["9999-12-31T23:59:59-23:59", "2026-01-01T00:00:00"])
def test_a_forged_cursor_position_is_an_invalid_cursor(agent_client, position):
    cursor = base64.b64encode(f"p={position}".encode()).decode()
    response = agent_client.get("/api/v1/tickets/", {"cursor": cursor})
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid cursor"}


def test_too_many_form_fields_is_a_400_in_the_api_shape(agent_client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    body = urlencode({f"f{n}": "x" for n in range(11)})

    response = agent_client.generic(
        "POST", "/api/v1/customers/", body, "application/x-www-form-urlencoded"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["non_field_errors"]


@pytest.mark.parametrize(
    "content_type", [MULTIPART_CONTENT, "application/x-www-form-urlencoded", "application/json"]
)
def test_a_browser_sessions_oversized_form_is_a_json_400_too(agent, settings, content_type):
    # Signed in with a session cookie, CSRF checks on: the CSRF check reads the form first.
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    client.cookies["csrftoken"] = token = "c" * 32
    data = {f"f{n}": "x" for n in range(11)}
    body = {
        MULTIPART_CONTENT: encode_multipart(BOUNDARY, data),
        "application/x-www-form-urlencoded": urlencode(data),
        "application/json": nested(TOO_DEEP),
    }[content_type]

    response = client.generic(
        "POST", "/api/v1/customers/", body, content_type, HTTP_X_CSRFTOKEN=token
    )

    assert response.status_code == 400, response.content[:200]
    assert list(response.json()) == ["non_field_errors"]


@pytest.mark.parametrize(
    "header",
    ["Token " + "x" * 10_000, "Token \u00e9\u00e9", "Token a b", "Token", "Token \x01", "Basic !!"],
)
def test_a_malformed_authorization_header_is_a_json_401(db, header):
    response = APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert set(response.json()) == {"detail"}
