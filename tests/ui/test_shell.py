"""Sign-in, sign-out, the shell around every page, who may open what, and the error pages."""

from http import HTTPStatus

import pytest
from django.test import Client

from accounts.factories import DEFAULT_PASSWORD
from accounts.models import Availability

pytestmark = pytest.mark.django_db


def test_anonymous_visitor_sees_the_sign_in_form(page_anonymous):
    response = page_anonymous.get("/")
    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    assert '<label for="id_username">Username</label>' in body
    assert 'action="/"' in body
    assert "/ws/agent/events/" not in body  # no stream for someone not signed in


@pytest.mark.parametrize(
    ("persona", "home"), [("agent", "/tickets/"), ("customer", "/my/requests/")]
)
def test_signing_in_lands_each_person_at_their_start(persona, home, agent, customer):
    user = agent if persona == "agent" else customer.user
    response = Client().post("/", {"username": user.username, "password": DEFAULT_PASSWORD})
    assert response.status_code == HTTPStatus.FOUND
    assert response.url == home


def test_sign_in_follows_a_safe_next(agent):
    response = Client().post(
        "/", {"username": agent.username, "password": DEFAULT_PASSWORD, "next": "/team/"}
    )
    assert response.url == "/team/"
    response = Client().post(
        "/",
        {"username": agent.username, "password": DEFAULT_PASSWORD, "next": "https://evil.example/"},
    )
    assert response.url == "/tickets/"


def test_wrong_password_and_unknown_user_read_the_same(agent):
    wrong = Client().post("/", {"username": agent.username, "password": "not-it"})
    unknown = Client().post("/", {"username": "nobody-here", "password": "not-it"})
    message = "That username and password do not match. Check both and try again."
    for response in (wrong, unknown):
        assert response.status_code == HTTPStatus.OK
        assert message in response.content.decode()
        assert "_auth_user_id" not in response.wsgi_request.session


def test_signed_in_visitor_of_the_sign_in_page_goes_home(page_agent, page_customer):
    assert page_agent.get("/").url == "/tickets/"
    assert page_customer.get("/").url == "/my/requests/"


def test_sign_out_is_a_post_and_ends_the_session(page_agent):
    assert page_agent.get("/sign-out/").status_code == HTTPStatus.METHOD_NOT_ALLOWED
    response = page_agent.post("/sign-out/")
    assert response.status_code == HTTPStatus.FOUND
    assert response.url == "/"
    assert page_agent.get("/tickets/").status_code == HTTPStatus.FOUND


def test_agent_page_shell_has_landmarks_and_wiring(page_agent, agent):
    body = page_agent.get("/tickets/").content.decode()
    for landmark in (
        '<header class="app-header">',
        '<nav id="app-nav" class="app-nav" aria-label="Views">',
        '<main id="main"',
        'class="skip-link" href="#main"',
        'data-ws-url="/ws/agent/events/"',
        f'data-user-id="{agent.pk}"',
        'hx-headers=\'{"X-CSRFToken": "',
        'role="search"',
        'aria-live="polite"',
    ):
        assert landmark in body
    assert "<script>" not in body
    assert "style=" not in body
    assert "/team/" not in body  # manager links only for managers


def test_manager_sees_manage_links(page_manager):
    body = page_manager.get("/tickets/").content.decode()
    assert 'href="/team/"' in body
    assert 'href="/macros/"' in body


@pytest.mark.parametrize("path", ["/tickets/", "/team/"])
def test_anonymous_is_sent_to_sign_in(page_anonymous, path):
    response = page_anonymous.get(path)
    assert response.status_code == HTTPStatus.FOUND
    assert response.url == f"/?next={path}"


@pytest.mark.parametrize("path", ["/tickets/", "/team/"])
def test_customer_gets_the_403_page_on_agent_pages(page_customer, path):
    response = page_customer.get(path)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "You cannot open this page" in response.content.decode()


def test_agent_gets_403_on_manager_page(page_agent, page_manager):
    assert page_agent.get("/team/").status_code == HTTPStatus.FORBIDDEN
    assert page_manager.get("/team/").status_code == HTTPStatus.OK


def test_unknown_page_is_our_404(page_agent):
    response = page_agent.get("/no/such/page/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "Nothing here" in response.content.decode()


def test_server_error_page_has_no_traceback(settings):
    from django.template.loader import render_to_string

    html = render_to_string("500.html")
    assert "Something went wrong on our side" in html
    assert "Traceback" not in html


def test_agent_sets_availability_from_the_header(page_agent, agent):
    response = page_agent.post(
        "/me/availability/", {"availability": "away"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == HTTPStatus.OK
    agent.agent_profile.refresh_from_db()
    assert agent.agent_profile.availability == Availability.AWAY
    assert '<option value="away" selected>' in response.content.decode()


def test_bad_availability_is_a_message_not_a_500(page_agent, agent):
    response = page_agent.post(
        "/me/availability/", {"availability": "<b>gone</b>"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Choose online, away or offline." in response.content.decode()
    assert "<b>gone" not in response.content.decode()


def test_customer_cannot_set_availability(page_customer):
    assert page_customer.post("/me/availability/", {"availability": "away"}).status_code == 403
