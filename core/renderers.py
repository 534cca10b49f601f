"""The browsable API (a developer's tool, off in production unless API_BROWSABLE=1)."""

from typing import Any

from csp.constants import UNSAFE_INLINE
from rest_framework import renderers


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """DRF's HTML pages, under the site's Content-Security-Policy with one allowance.

    templates/rest_framework/api.html removes the inline <style> and the onclick handler; DRF's
    own templates still lay out a few elements with style="" attributes (float, width), so these
    pages alone allow inline style *attributes*. Scripts stay our own files only.
    """

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> Any:
        html = super().render(data, accepted_media_type, renderer_context)
        response = (renderer_context or {}).get("response")
        if response is not None:
            # What django-csp's @csp_update decorator sets, for its middleware to read.
            setattr(response, "_csp_update", {"style-src-attr": [UNSAFE_INLINE]})  # noqa: B010
        return html
