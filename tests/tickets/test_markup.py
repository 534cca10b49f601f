"""The reply box's light markup becomes a few tags; everything else stays text."""

import pytest

from tickets.markup import markup_to_html
from tickets.services import sanitize_body


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("Hello", "<p>Hello</p>"),
        ("**bold** and *it*", "<p><strong>bold</strong> and <em>it</em></p>"),
        ("a\nb\n\nc", "<p>a<br>b</p><p>c</p>"),
        ("- one\n- two", "<ul><li>one</li><li>two</li></ul>"),
        ("1. one\n2. two", "<ol><li>one</li><li>two</li></ol>"),
        (
            "[site](https://shop.example/a?b=1)",
            '<p><a href="https://shop.example/a?b=1">site</a></p>',
        ),
        ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
        ("[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>"),
        ("order_id_2", "<p>order_id_2</p>"),
    ],
)
def test_markup(text, html):
    assert markup_to_html(text) == html


def test_output_survives_the_sanitizer_unchanged_for_allowed_markup():
    html = markup_to_html("**Hi** [a](https://x.example)\n- item")
    assert "<strong>Hi</strong>" in sanitize_body(html)
    assert 'href="https://x.example"' in sanitize_body(html)
