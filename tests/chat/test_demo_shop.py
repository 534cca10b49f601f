"""The demo shop (/demo/shop/): seed_demo adds its chat site, and the page embeds the widget by
its one tag, under the same strict Content-Security-Policy as every page."""

import re
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Availability, User
from chat.demo import DEMO_ORIGINS, DEMO_SITE_KEY
from chat.models import PrechatField, Site

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", tickets=10, customers=5, stdout=out)
    return out.getvalue()


def test_seed_demo_adds_the_demo_shop_site_once():
    output = seed()
    seed()  # --if-empty or not, a second run must not add a second site

    site = Site.objects.get(key=DEMO_SITE_KEY)
    assert Site.objects.filter(name="Demo shop").count() == 1
    assert site.team.name == "Orders & Shipping"
    assert {"http://127.0.0.1:8000", "http://localhost:8000"} <= set(site.allowed_origins)
    assert site.allowed_origins == DEMO_ORIGINS
    assert set(site.prechat_fields) == {f.value for f in PrechatField}
    assert site.is_active
    assert not site.require_identity
    assert "/demo/shop/" in output
    # The tour's agent answers chats as soon as their console is open.
    profile = User.objects.get(username="agent").agent_profile
    assert profile.availability == Availability.ONLINE
    assert profile.chat_capacity >= 1
    assert site.team in profile.teams.all()


def test_shop_page_embeds_the_widget_with_one_async_tag(client):
    seed()

    response = client.get("/demo/shop/")

    assert response.status_code == 200
    html = response.content.decode()
    tags = re.findall(r"<script[^>]*>", html)
    assert tags == [
        f'<script src="http://testserver/static/chat/widget.js" data-site="{DEMO_SITE_KEY}" async>'
    ]
    assert "Northwind" in html
    assert "/chat/" in html
    # The page lives under the strict policy too: no inline script or style to allow.
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert " style=" not in html


def test_shop_page_without_the_site_says_how_to_get_it(client):
    response = client.get("/demo/shop/")

    assert response.status_code == 200
    assert b"widget.js" not in response.content
    assert b"seed_demo" in response.content


def test_shop_page_only_answers_reads(client):
    assert client.post("/demo/shop/").status_code == 405


def test_the_run_commands_address_is_let_in_on_any_port():
    seed()
    out = StringIO()
    call_command("allow_demo_origin", host="0.0.0.0", port=8765, stdout=out)  # noqa: S104
    call_command("allow_demo_origin", host="0.0.0.0", port=8765, stdout=out)  # noqa: S104
    call_command("allow_demo_origin", host="desk.example.com", port=9000, stdout=out)

    origins = Site.objects.get(key=DEMO_SITE_KEY).allowed_origins
    assert origins == [
        *DEMO_ORIGINS,
        "http://127.0.0.1:8765",
        "http://localhost:8765",
        "http://desk.example.com:9000",
    ]
    assert out.getvalue().count("also takes the widget from") == 2  # the second run: nothing new


def test_without_a_demo_site_there_is_nothing_to_let_in():
    call_command("allow_demo_origin", port=8765, stdout=StringIO())
    assert not Site.objects.exists()
