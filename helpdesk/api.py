"""The REST API's shared pieces: one exception handler for every endpoint, and the schema of
the error bodies it produces (so every view documents its errors the same way)."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from helpdesk.errors import RuleBroken


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Broken business rules and model validation come out as DRF's own 400 shape:
    `{"field": ["message"]}`, so clients handle one kind of error body."""
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
    return drf_exception_handler(exc, context)


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
