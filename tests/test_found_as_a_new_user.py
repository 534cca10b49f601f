"""What a new user met first: a sign-in that ended on a 404, every 4xx logged twice, and a
warning in the server's log for every static file."""

import logging
import urllib.request
from http import HTTPStatus
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token

from accounts.factories import DEFAULT_PASSWORD
from tests.factories import AgentFactory, TicketFactory
from tests.live_server import live_server
from tickets.services import post_message


@pytest.mark.django_db
def test_signing_in_without_next_lands_on_a_page(client):
    AgentFactory(username="alice")

    response = client.post(
        "/api-auth/login/", {"username": "alice", "password": DEFAULT_PASSWORD}, follow=True
    )

    assert response.redirect_chain[0] == (settings.LOGIN_REDIRECT_URL, HTTPStatus.FOUND)
    assert all("/accounts/profile/" not in url for url, _ in response.redirect_chain)
    assert response.status_code == HTTPStatus.OK


def handlers_that_print(record: logging.LogRecord) -> list[logging.Handler]:
    """The configured handlers a record reaches (pytest's own capture handlers aside)."""
    reached, logger = [], logging.getLogger(record.name)
    while logger:
        for handler in logger.handlers:
            if type(handler).__module__.startswith("_pytest"):
                continue
            if record.levelno >= handler.level and handler.filter(record):
                reached.append(handler)
        logger = logger.parent if logger.propagate else None
    return reached


@pytest.mark.django_db
def test_a_4xx_is_logged_once(client, caplog, settings):
    settings.DEBUG = True  # a developer's machine, where Django adds a console handler of its own
    with caplog.at_level(logging.WARNING):
        client.get("/api/v1/no-such-thing/")

    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == "Not Found: /api/v1/no-such-thing/"
    assert len(handlers_that_print(record)) == 1


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - our own server
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.django_db(transaction=True)
def test_the_server_log_says_each_thing_once_and_warns_of_nothing(tmp_path, settings, agent):
    static = Path(settings.BASE_DIR, "static", "css", "api-docs.css")
    settings.MEDIA_ROOT = tmp_path / "server-var" / "media"  # where the server will look
    big = bytes(range(256)) * 1024  # 256 KiB: several chunks
    message = post_message(
        ticket=TicketFactory(),
        author=agent,
        body="Invoice",
        attachments=[SimpleUploadedFile("invoice.pdf", big, content_type="application/pdf")],
    )
    download = f"/api/v1/attachments/{message.attachments.get().pk}/download/"
    token = {"Authorization": f"Token {Token.objects.create(user=agent).key}"}
    with live_server(tmp_path) as server:
        assert fetch(f"{server.url}{download}", token) == (HTTPStatus.OK, big)
        assert fetch(f"{server.url}/api/v1/no-such-thing/")[0] == HTTPStatus.NOT_FOUND
        whole = fetch(f"{server.url}/static/css/api-docs.css")
        partial = fetch(f"{server.url}/static/css/api-docs.css", {"Range": "bytes=0-9"})
        assert whole == (HTTPStatus.OK, static.read_bytes())
        assert partial == (HTTPStatus.PARTIAL_CONTENT, static.read_bytes()[:10])
        # The last request's log lines are written before its response is sent.
        log = server.log.read_text()

    assert log.count("Not Found: /api/v1/no-such-thing/") == 1, log
    assert "Warning" not in log, log
    assert "StreamingHttpResponse" not in log, log
