"""Errors outside any endpoint still speak the API's language under /api/."""

from http import HTTPStatus

from django.test import Client, RequestFactory

from core.api import server_error


def test_a_url_no_endpoint_matches_is_a_json_404(agent_client):
    for url in ["/api/v1/tickets/1.5/", "/api/v1/tickets/1/no-such-action/", "/api/v2/"]:
        response = agent_client.get(url)
        assert response.status_code == HTTPStatus.NOT_FOUND, url
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"detail": "Not found."}


def test_a_write_to_a_url_no_endpoint_matches_is_a_json_404_too(agent):
    # A real browser session (CSRF checks on), not a test client that skips them.
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    response = client.patch("/api/v1/tickets/1.5/", {"priority": "low"}, "application/json")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {"detail": "Not found."}


def test_a_missing_trailing_slash_still_redirects(agent_client):
    response = agent_client.get("/api/v1/tickets")
    assert response.status_code == HTTPStatus.MOVED_PERMANENTLY
    assert response["Location"] == "/api/v1/tickets/"


def test_outside_the_api_a_404_is_a_page(agent_client):
    response = agent_client.get("/no-such-page/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "application/json" not in response["Content-Type"]


def test_a_server_error_under_the_api_is_json_without_details():
    response = server_error(RequestFactory().get("/api/v1/tickets/"))
    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert response["Content-Type"] == "application/json"
    assert response.content == b'{"detail": "Server error."}'
    page = server_error(RequestFactory().get("/admin/"))
    assert "application/json" not in page["Content-Type"]
