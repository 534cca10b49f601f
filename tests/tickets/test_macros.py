"""Macros: placeholders are a whitelist substitution (never template code), writes are for
managers, reads for agents (shared and their own)."""

import pytest

from core.errors import RuleBroken
from tests.factories import CustomerFactory, TeamFactory, TicketFactory
from tickets.macros import (
    create_macro,
    macros_to_apply,
    render_macro,
    retire_macro,
    update_macro,
)
from tickets.models import Macro

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(db):
    return TicketFactory(
        subject="Parcel <b>late</b>",
        customer=CustomerFactory(name="Ana <script>x</script> Ruiz", email="ana@shop.example"),
    )


def test_placeholders_are_filled_in_and_escaped_then_sanitized(manager, agent, ticket):
    macro = create_macro(
        actor=manager,
        title="Late parcel",
        body="Hi {{ customer.first_name }},\n\n**{{ ticket.reference }}**: {{ ticket.subject }}"
        "\n\n{{agent.first_name}}",
        set_status="pending",
        add_tags=["late", "Parcel"],
    )

    rendered = render_macro(macro=macro, ticket=ticket, agent=agent)

    assert rendered.text == (f"Hi Ana,\n\n**{ticket.reference}**: Parcel <b>late</b>\n\nAlice")
    assert "<script>" not in rendered.html
    assert "<b>late" not in rendered.html
    assert f"<strong>{ticket.reference}</strong>" in rendered.html
    assert "Parcel &lt;b&gt;late&lt;/b&gt;" in rendered.html
    assert rendered.actions == {"status": "pending", "add_tags": ["late", "parcel"]}


def test_full_name_placeholder_keeps_hostile_text_as_text(manager, agent, ticket):
    macro = create_macro(actor=manager, title="Hi", body="Dear {{ customer.name }}")

    rendered = render_macro(macro=macro, ticket=ticket, agent=agent)

    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{{ customer.user.password }}", "Unknown placeholder {{ customer.user.password }}"),
        ("{{ settings.SECRET_KEY }}", "Unknown placeholder"),
        ("{% load static %}hi", "Template tags are not allowed"),
        ("{# hidden #}hi", "Template tags are not allowed"),
        ("{{ customer.first_name|upper }}", "Unknown placeholder"),
        ("{{ ticket.customer.user.password }}", "Unknown placeholder"),
    ],
)
def test_hostile_or_unknown_placeholders_are_refused_on_save_naming_the_field(
    manager, body, message
):
    with pytest.raises(RuleBroken) as broken:
        create_macro(actor=manager, title="Bad", body=body)

    assert broken.value.field == "body"
    assert message in broken.value.message
    assert not Macro.objects.exists()


def test_a_hostile_body_that_got_in_another_way_is_refused_at_rendering(agent, ticket):
    macro = Macro.objects.create(title="Sneaked", body="{{ customer.user.password }}")

    with pytest.raises(RuleBroken):
        render_macro(macro=macro, ticket=ticket, agent=agent)


def test_agents_cannot_write_macros(agent):
    with pytest.raises(RuleBroken) as broken:
        create_macro(actor=agent, title="Hi", body="Hello")
    assert broken.value.field == "macro"


def test_bad_actions_name_their_field(manager):
    with pytest.raises(RuleBroken) as status:
        create_macro(actor=manager, title="x", body="y", set_status="gone")
    with pytest.raises(RuleBroken) as tags:
        create_macro(actor=manager, title="x", body="y", add_tags=["no spaces"])
    with pytest.raises(RuleBroken) as title:
        create_macro(actor=manager, title="  ", body="y")

    assert (status.value.field, tags.value.field, title.value.field) == (
        "set_status",
        "add_tags",
        "title",
    )


def test_picker_shows_shared_and_own_active_macros_only(manager, agent, other_agent):
    shared = create_macro(actor=manager, title="Refund policy", body="Refunds take 5 days.")
    personal = create_macro(actor=manager, title="My sign-off", body="Cheers", owner=manager)
    retired = create_macro(actor=manager, title="Old refund", body="Old")
    retire_macro(macro=retired, actor=manager)

    assert list(macros_to_apply(agent)) == [shared]
    assert set(macros_to_apply(manager)) == {shared, personal}
    assert list(macros_to_apply(agent, "refund")) == [shared]
    assert list(macros_to_apply(agent, "nothing")) == []


def test_update_checks_the_same_rules_and_keeps_other_fields(manager):
    team = TeamFactory(name="Billing")
    macro = create_macro(actor=manager, title="Refund", body="Hi", set_team=team)

    update_macro(macro=macro, actor=manager, changes={"title": "Refunds"})
    with pytest.raises(RuleBroken):
        update_macro(macro=macro, actor=manager, changes={"body": "{{ agent.password }}"})

    macro.refresh_from_db()
    assert (macro.title, macro.body, macro.set_team) == ("Refunds", "Hi", team)
