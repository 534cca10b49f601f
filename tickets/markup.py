"""The reply box's light markup → HTML: **bold**, *italic*, `code`, [links](https://…), lists
("- " or "1. " lines) and paragraphs. Pure functions, no ORM.

The text is HTML-escaped first, so nothing a person types becomes markup except these few
patterns; the result then goes through the message sanitizer (tickets.services.sanitize_body)
like every other message body.
"""

import re
from html import escape

_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![\w*])[*_](?=\S)(.+?)(?<=\S)[*_](?![\w*])")
_CODE = re.compile(r"`([^`\n]+)`")
# Only web and mail links; the text is already escaped, so the URL has no quotes in it.
_LINK = re.compile(r"\[([^\]\n]+)\]\(((?:https?://|mailto:)[^\s)]+)\)")
_BULLET = re.compile(r"^\s*[-*]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*)$")


def _inline(text: str) -> str:
    text = _CODE.sub(r"<code>\1</code>", text)
    text = _LINK.sub(r'<a href="\2">\1</a>', text)
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    return _ITALIC.sub(r"<em>\1</em>", text)


def _block(lines: list[str]) -> str:
    for pattern, tag in ((_BULLET, "ul"), (_NUMBERED, "ol")):
        items = [pattern.match(line) for line in lines]
        if all(items):
            inner = "".join(f"<li>{_inline(item.group(1))}</li>" for item in items if item)
            return f"<{tag}>{inner}</{tag}>"
    return "<p>" + "<br>".join(_inline(line) for line in lines) + "</p>"


def markup_to_html(text: str) -> str:
    """Light markup → HTML (not yet sanitized: callers pass it through sanitize_body)."""
    blocks: list[list[str]] = [[]]
    for line in escape(text or "", quote=True).replace("\r\n", "\n").split("\n"):
        if line.strip():
            blocks[-1].append(line.rstrip())
        elif blocks[-1]:
            blocks.append([])
    return "".join(_block(lines) for lines in blocks if lines)
