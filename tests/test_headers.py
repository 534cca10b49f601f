"""Every page carries the Content-Security-Policy; the browsable API is off in production
unless asked for. (tests/e2e/test_content_security_policy.py proves the pages work under it.)"""

import os
import re
import subprocess
import sys
from http import HTTPStatus

import pytest
from django.conf import settings as django_settings

from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def directives(header: str) -> dict[str, str]:
    parts = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {name: value for name, value in parts}


@pytest.mark.parametrize(
    "path", ["/admin/login/", "/api/docs/", "/api-auth/login/", "/api/v1/tickets/"]
)
def test_every_page_carries_the_policy(client, path):
    client.force_login(AgentFactory())
    response = client.get(path, HTTP_ACCEPT=BROWSER_ACCEPT)

    assert response.status_code == HTTPStatus.OK
    assert "text/html" in response["Content-Type"]
    policy = directives(response["Content-Security-Policy"])
    assert {name: policy.get(name) for name in POLICY} == POLICY
    connect = policy["connect-src"].split()
    assert connect[0] == "'self'"
    assert {"ws://testserver", "wss://testserver"} <= set(connect)  # websockets to ourselves


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/", "/api-auth/login/"])
def test_pages_have_no_inline_script_or_style(client, path):
    html = client.get(path).content.decode()

    scripts = re.findall(r"<script\b[^>]*>", html)
    assert all("src=" in tag or "application/json" in tag for tag in scripts), scripts
    assert "<style" not in html
    assert not re.search(r"\sstyle=|\son[a-z]+=", html)


def test_the_docs_start_up_script_is_a_file_of_ours(client):
    html = client.get("/api/docs/").content.decode()
    [start_up] = re.findall(r'<script src="(/api/docs/\?script=[^"]*)"', html)
    script = client.get(start_up.replace("&amp;", "&"))
    assert script.status_code == HTTPStatus.OK
    assert "SwaggerUIBundle" in script.content.decode()


def test_the_browsable_api_is_served_while_it_is_on(client):
    client.force_login(AgentFactory())
    response = client.get("/api/v1/tickets/", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert response["Content-Type"].startswith("text/html")
    assert "Log out" in response.content.decode()  # a button, not an onclick link


def renderers_under(environment: dict[str, str], tmp_path) -> str:
    """What a browser gets from the API under settings read from `environment` alone."""
    program = (
        "import os, django; django.setup()\n"
        "from django.test import Client, override_settings\n"
        # Production's static storage wants collectstatic's manifest: not what this is about.
        "plain = {'BACKEND': 'django.contrib.staticfiles.storage.StaticFilesStorage'}\n"
        "with override_settings(STORAGES={'staticfiles': plain}):\n"
        "    response = Client().get('/api/v1/', secure=True, HTTP_ACCEPT=os.environ['ACCEPT'])\n"
        "print(response['Content-Type'])\n"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "API_BROWSABLE", "DATABASE_URL", "REDIS_URL"}
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
        "HELPDESK_VAR_DIR": str(tmp_path),
        "SECRET_KEY": "test-" + "x" * 50,
        "ALLOWED_HOSTS": "testserver",
        "ACCEPT": BROWSER_ACCEPT,
        **environment,
    }
    done = subprocess.run(  # noqa: S603 - our own interpreter and program
        [sys.executable, "-c", program],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("environment", "content_type"),
    [
        ({"DEBUG": "0"}, "application/json"),
        ({"DEBUG": "0", "API_BROWSABLE": "1"}, "text/html; charset=utf-8"),
        ({"DEBUG": "1"}, "text/html; charset=utf-8"),
    ],
)
def test_the_browsable_api_is_off_in_production_unless_turned_on(
    environment, content_type, tmp_path
):
    assert renderers_under(environment, tmp_path) == content_type


def test_the_favicon_is_ours_wherever_a_browser_asks(client):
    # Pages of ours name it; pages that don't (the admin, the API docs) make browsers ask for
    # /favicon.ico, which used to answer 404 and print a console error on every page.
    assert 'rel="icon"' in client.get("/").content.decode()
    response = client.get("/favicon.ico")
    assert response.status_code == HTTPStatus.MOVED_PERMANENTLY
    icon = client.get(response["Location"])
    assert icon.status_code == HTTPStatus.OK
    assert b"<svg" in b"".join(icon.streaming_content)
