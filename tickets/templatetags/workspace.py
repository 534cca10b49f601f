"""Template filters of the ticket workspace."""

from django import template
from django.utils.safestring import SafeString, mark_safe

from tickets.services import sanitize_body

register = template.Library()


@register.filter
def sanitized(body: str) -> SafeString:
    """A message body as HTML: sanitized when posted, and again here in case a row came in
    some other way (an import), since the page shows it as markup."""
    return mark_safe(sanitize_body(body or ""))  # noqa: S308 - nh3 output


@register.filter
def is_image(content_type: str) -> bool:
    return (content_type or "").startswith("image/") and content_type != "image/svg+xml"
