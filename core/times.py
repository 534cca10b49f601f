"""Times that come from outside (query-string filters, pagination cursors), handed on in UTC.

ISO 8601 allows times the database cannot take: `9999-12-31T23:59:59-23:59` has no UTC time at
all (Python overflows converting it), and PostgreSQL refuses offsets beyond 15:59, which
`2026-01-01T00:00-20:18` has. Either reached the query as a 500. Converted to UTC first, the
second is an ordinary time; the first is a bad value.
"""

from datetime import UTC, datetime
from typing import Any

from django import forms
from django.utils.dateparse import parse_datetime
from django_filters import IsoDateTimeFilter
from django_filters.fields import IsoDateTimeField
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor
from rest_framework.request import Request

OUT_OF_RANGE = "Enter a date and time between years 1 and 9999."


class UtcDateTimeField(IsoDateTimeField):
    def to_python(self, value: Any) -> datetime | None:
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(OUT_OF_RANGE) from None


class UtcDateTimeFilter(IsoDateTimeFilter):
    """`?created_after=2026-01-01T09:00+02:00`: any ISO 8601 time that exists in UTC."""

    field_class = UtcDateTimeField


class TimestampCursor:
    """Mix into a CursorPagination ordered by a timestamp: the cursor's position is a time
    with its offset, as DRF writes them; a forged one is an invalid cursor (404, DRF's answer
    to a cursor it cannot read), never a server error. It reaches the database in UTC."""

    invalid_cursor_message: str

    def decode_cursor(self, request: Request) -> Cursor | None:
        cursor: Cursor | None = super().decode_cursor(request)  # type: ignore[misc]
        if cursor is None or cursor.position is None:
            return cursor
        try:
            moment = parse_datetime(str(cursor.position))
            if moment is None or moment.tzinfo is None:
                raise ValueError(cursor.position)
            # str(), as DRF writes positions (it compares them with the rows' own); its stub
            # types positions as ints.
            return cursor._replace(position=str(moment.astimezone(UTC)))  # type: ignore[arg-type]
        except (ValueError, OverflowError):
            raise NotFound(self.invalid_cursor_message) from None
