"""The REST API's shared pieces: one exception handler for every endpoint, and the schema of
the error bodies it produces (so every view documents its errors the same way); the one
ordering backend of every list."""

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import RuleBroken
from core.parsers import body_limit_error


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Broken business rules and model validation come out as DRF's own 400 shape:
    `{"field": ["message"]}`, so clients handle one kind of error body."""
    exc = body_limit_error(exc)  # a body over Django's limits, found before any parser ran
    if isinstance(exc, RuleBroken):
        return Response({exc.field: [exc.message]}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            body = {field: [str(m) for m in errors] for field, errors in exc.message_dict.items()}
        else:
            body = {"non_field_errors": exc.messages}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ParseError):
        # A body that is not JSON at all is still a 400 in the one shape, not `{"detail": ...}`.
        return Response({"non_field_errors": [str(exc.detail)]}, status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if isinstance(exc, DRFValidationError) and response is not None:
        response.data = flat_validation_errors(response.data)
    return response


def flat_validation_errors(detail: Any) -> dict[str, list[str]]:
    """DRF nests errors of list items and nested objects (`{"tags": {"1": ["Too long."]}}`)
    and raises bare lists for whole-body errors; clients (and the schema) get one flat shape:
    `{"tags": ["Item 1: Too long."]}`, `{"non_field_errors": [...]}`."""
    if not isinstance(detail, dict):
        return {"non_field_errors": _messages(detail)}
    return {str(field): _messages(errors) for field, errors in detail.items()}


def _messages(errors: Any, prefix: str = "") -> list[str]:
    if isinstance(errors, dict):
        return [
            message
            for key, value in errors.items()
            for message in _messages(value, f"{prefix}{_label(key)}: ")
        ]
    if isinstance(errors, list | tuple):
        return [message for value in errors for message in _messages(value, prefix)]
    return [f"{prefix}{errors}"]


def _label(key: Any) -> str:
    return f"Item {key}" if isinstance(key, int) or str(key).isdigit() else str(key)


# --- Error bodies, for the OpenAPI schema ------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    """The body of every 401, 403, 404, 405 and 429: one sentence saying what went wrong."""

    detail = serializers.CharField()


# `{"field": ["message", ...]}`: DRF's validation shape, also used for broken business rules.
VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Each bad field (or `non_field_errors`) with what is wrong with it.",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
    "example": {"email": ["A customer with this email already exists."]},
}

ERROR_DESCRIPTIONS = {
    400: "Bad input or a broken business rule, per field.",
    401: "Not signed in (send `Authorization: Token <key>` or a session cookie).",
    403: "Signed in, but not allowed to do this.",
    404: "No such resource, or not one you may see.",
    429: "Too many requests; retry after the number of seconds in `Retry-After`.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """`@extend_schema(responses={200: X, **error_responses(400, 401, 403)})`."""
    return {
        code: OpenApiResponse(
            response=VALIDATION_ERROR_SCHEMA if code == 400 else ErrorDetailSerializer,
            description=ERROR_DESCRIPTIONS[code],
        )
        for code in codes
    }


# --- Schema postprocessing ----------------------------------------------------------------------

# A field or parameter customers never get says so in its description, starting with this mark.
AGENTS_ONLY_MARK = "Agents only"
AGENTS_ONLY = f"{AGENTS_ONLY_MARK}."  # response and request fields
AGENTS_ONLY_FILTER = f"{AGENTS_ONLY_MARK}; ignored for customers."  # query-string filters


def agent_only_fields_are_optional(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Customers read tickets from the same endpoints as agents but get fewer fields. A
    response field whose description says "Agents only" is therefore not `required`, so a
    customer's response still matches the schema. (drf-spectacular postprocessing hook.)"""
    for component in result.get("components", {}).get("schemas", {}).values():
        properties = component.get("properties", {})
        required = component.get("required")
        if not required:
            continue
        optional = {
            name
            for name, schema in properties.items()
            if AGENTS_ONLY_MARK in (schema.get("description") or "")
        }
        component["required"] = [name for name in required if name not in optional]
        if not component["required"]:
            del component["required"]
    return result


# --- Views ------------------------------------------------------------------------------------


if TYPE_CHECKING:
    # Imported for the type only: at run time rest_framework.generics reads this module (its
    # DEFAULT_FILTER_BACKENDS names StrictOrderingFilter) while it is being imported.
    from rest_framework.generics import GenericAPIView

    _View = GenericAPIView[Any]
else:
    _View = object


class FiltersTheListOnly(_View):
    """Mix into a ViewSet (before `GenericViewSet`): query-string filters and ordering narrow
    the list; a record's own URL (and every action on it) finds the record regardless."""

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if getattr(self, "action", None) != "list":
            return queryset
        return super().filter_queryset(queryset)


class StrictOrderingFilter(OrderingFilter):
    """Every list's ordering backend (settings' DEFAULT_FILTER_BACKENDS; a view that names its
    own backends uses this one too): an `?ordering=` naming anything but the view's
    `ordering_fields` (each with or without `-`) is a 400 naming `ordering` and the choices,
    never a list silently left in its default order. A list paged by cursor takes one field:
    the cursor keeps its place by the first field only, so a second would shuffle the pages."""

    def remove_invalid_fields(
        self, queryset: QuerySet[Any], fields: Iterable[str], view: Any, request: Request
    ) -> list[str]:
        requested = list(fields)
        valid = super().remove_invalid_fields(queryset, requested, view, request)
        one_only = _paged_by_cursor(view)
        if len(valid) != len(requested) or (one_only and len(valid) > 1):
            known = self.get_valid_fields(queryset, view, {"request": request})
            choices = ", ".join(f"{name}, -{name}" for name, _ in known)
            how = "one of" if one_only else "one or more (comma-separated) of"
            raise DRFValidationError({self.ordering_param: [f"Order by {how}: {choices}."]})
        return valid

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        fields = getattr(view, "ordering_fields", None)
        if not isinstance(fields, list | tuple) or not all(isinstance(f, str) for f in fields):
            return super().get_schema_operation_parameters(view)  # choices from the serializer
        choices = [f"{sign}{name}" for name in fields for sign in ("", "-")]
        schema: dict[str, Any] = {"type": "string"}
        if _paged_by_cursor(view):
            schema["enum"] = choices
            description = "Sort order: one of "
        else:
            description = "Sort order: one or more, comma-separated, of "
        description += ", ".join(f"`{choice}`" for choice in choices)
        default = self.get_default_ordering(view) or getattr(view.paginator, "ordering", None)
        if default:
            description += f"; `{default if isinstance(default, str) else default[0]}` by default"
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": description + ". Anything else is a 400.",
                "schema": schema,
            }
        ]


def _paged_by_cursor(view: Any) -> bool:
    return isinstance(getattr(view, "paginator", None), CursorPagination)


API_PREFIX = "/api/"


@csrf_exempt  # it changes nothing; without this a POST to it would get CSRF's HTML 403
def no_such_route(request: HttpRequest) -> HttpResponse:
    """The last route under /api/: a URL no endpoint matches (`/api/v1/tickets/1.5/`) is a JSON
    404 like every other API error, in DEBUG too, never Django's HTML page."""
    return JsonResponse({"detail": "Not found."}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """500 in the API's own shape under /api/ (no traceback, ever); Django's page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "Server error."}, status=500)
    return defaults.server_error(request)
