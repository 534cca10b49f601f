"""The REST API's shared pieces: one exception handler for every endpoint."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
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
    return drf_exception_handler(exc, context)
