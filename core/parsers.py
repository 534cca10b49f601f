"""The API's body parsers: the one place a request body becomes Python data, so the limits on
what a client may send live here, for every endpoint at once (settings REST_FRAMEWORK
DEFAULT_PARSER_CLASSES; views that narrow their parsers pick from this module).

- JSON: at most `DATA_UPLOAD_MAX_MEMORY_SIZE` bytes, nested at most `API_JSON_MAX_DEPTH`
  arrays/objects deep. Python's JSON decoder, DRF's serializers and our error flattening all
  recurse once per level: ten thousand `[` would exhaust the stack (a 500) and a few hundred
  still cost a lot. The depth is counted by one linear scan *before* anything recursive runs.
- Forms and multipart: Django's own limits (field data size, number of fields and files) are
  400s in the API's error shape instead of Django's HTML page; a multipart body may be no
  larger than its files are allowed to be. Form fields are flat (a name and a string), so
  there is no nesting to cap.

Every refusal is a `ParseError`, which core.api renders as `{"non_field_errors": ["..."]}`.
"""

import math
import re
from collections.abc import Mapping
from itertools import accumulate
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

# A JSON string (escapes included; an unterminated one runs to the end of the body). Brackets
# inside strings are text, not nesting.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def max_json_depth() -> int:
    return int(getattr(settings, "API_JSON_MAX_DEPTH", 32))


def max_body_bytes() -> int:
    """The largest body that is not files: Django's own knob for form data, used for JSON too."""
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440)


def max_multipart_bytes() -> int:
    """Room for a message's worth of attachments plus its form fields."""
    files = settings.ATTACHMENTS_PER_MESSAGE * settings.ATTACHMENT_MAX_BYTES
    return files + max_body_bytes()


def too_large(limit: int) -> ParseError:
    return ParseError(f"The request body is too large (at most {limit} bytes).")


def body_encoding(parser_context: Mapping[str, Any] | None) -> str:
    """The charset the body is declared in (as DRF's `get_encoding`): text codecs only; a
    bytes-to-bytes one such as `bz2_codec` would decompress past the size cap."""
    encoding = str((parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET)
    try:
        "".encode(encoding)
    except (LookupError, UnicodeError):
        raise ParseError(f'Unsupported charset "{encoding}" in the Content-Type header.') from None
    return encoding


def body_limit_error(exc: Exception) -> Exception:
    """Django's own body limits as the API's 400. DRF reads a JSON or form body through
    `request.body`, whose size check raises before any parser runs; Django would answer
    that (and too many form fields or files) with an HTML page. core.api's handler calls this."""
    if isinstance(exc, RequestDataTooBig):
        return too_large(max_body_bytes())
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return ParseError(f"Form parse error - {exc}")
    return exc


def read_at_most(stream: IO[bytes], limit: int) -> bytes:
    """The whole body, or a 400 as soon as it is longer than `limit` (nothing more is read)."""
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise too_large(limit)
    return body


def json_depth(text: str) -> int:
    """How deeply the arrays and objects in a JSON text nest, found without recursion: drop the
    strings, keep the brackets, and take the highest running total of opens minus closes."""
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def finite_float(text: str) -> float:
    """`1e999999` is valid JSON but no number: Python reads it as infinity, which an integer
    field cannot convert (a 500). DRF's strict mode only refuses the literal `Infinity`."""
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text if len(text) < 20 else text[:16] + '...'} is too large")
    return number


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with a size cap and a nesting cap checked before decoding."""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        encoding = body_encoding(parser_context)
        body = read_at_most(stream, max_body_bytes())
        try:
            text = body.decode(encoding)
        except UnicodeDecodeError:
            raise ParseError(f"JSON parse error - the body is not valid {encoding}.") from None
        limit = max_json_depth()
        if json_depth(text) > limit:
            raise ParseError(f"JSON nests too deeply (at most {limit} levels of arrays/objects).")
        try:
            parse_constant = json.strict_constant if self.strict else None
            return json.loads(text, parse_constant=parse_constant, parse_float=finite_float)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


class FormParser(parsers.FormParser):
    """URL-encoded forms (the browsable API's forms), capped like JSON bodies."""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:  # a QueryDict
        encoding = body_encoding(parser_context)
        body = read_at_most(stream, max_body_bytes())
        try:
            return QueryDict(body, encoding=encoding)
        except SuspiciousOperation as exc:  # more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS
            raise ParseError(f"Form parse error - {exc}") from None


class MultiPartParser(parsers.MultiPartParser):
    """Multipart forms (file uploads): the declared length is checked before reading, and
    Django's field and file limits answer in the API's shape."""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> parsers.DataAndFiles:
        limit = max_multipart_bytes()
        meta = (parser_context or {})["request"].META
        try:
            length = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads nothing from a body whose length it cannot read
        if length > limit:
            raise too_large(limit)
        try:
            return super().parse(stream, media_type, parser_context)
        except SuspiciousOperation as exc:  # field data too large, too many fields or files
            raise ParseError(f"Multipart form parse error - {exc}") from None
