"""The widget's one file: small, and free of what would break a shop (globals, prototype
patching, HTML from strings). A check of the file as shipped, not a timing."""

import gzip
import re
from pathlib import Path

from django.conf import settings

WIDGET = Path(settings.BASE_DIR) / "static" / "chat" / "widget.js"
LIMIT = 40 * 1024


def test_widget_is_under_40_kb_gzipped():
    size = len(gzip.compress(WIDGET.read_bytes(), compresslevel=9))
    print(f"widget.js: {WIDGET.stat().st_size:,} bytes, {size:,} gzipped")
    assert size < LIMIT, f"widget.js is {size:,} bytes gzipped; the limit is {LIMIT:,}"


def test_widget_never_parses_html_from_strings_nor_patches_prototypes():
    source = WIDGET.read_text(encoding="utf-8")
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert forbidden not in source, forbidden
    assert not re.search(r"\b[A-Z]\w*\.prototype\.\w+\s*=", source.replace("Widget.prototype", ""))
    # One global: window.HelpdeskChat, defined in one place.
    assert re.findall(r"window\.(\w+)\s*=", source) == []
    assert source.count("Object.defineProperty(window, NS") == 1
