"""Chat services: tokens, signed identity, starting and numbering a chat, one path for every
message, offline chats becoming tickets, ending, rating, read marks."""

import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from django.core import signing

from chat.models import ChatLine, Conversation, Visitor
from chat.selectors import conversations_visible_to, lines_since
from chat.services import (
    TokenRefused,
    end_conversation,
    identity_signature,
    issue_visitor_token,
    mark_read,
    open_widget_session,
    post_line,
    rate_conversation,
    start_conversation,
    visitor_from_token,
)
from chat.services.tokens import TOKEN_SALT
from core.errors import RuleBroken
from customers.models import Customer, Tier
from slas.models import BusinessCalendar
from tests.chat.visitors import make_site, new_visitor, put_online
from tests.factories import AgentFactory, TeamFactory
from tickets.models import Channel, Message, Notification
from tickets.services import post_message, record_sla_summary

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(team, agent):
    site = make_site(team)
    put_online(agent)
    return site


def signed(site, external_id, email, name="Dana Shopper"):
    return {
        "id": external_id,
        "email": email,
        "name": name,
        "signature": identity_signature(
            secret=site.identity_secret, external_id=external_id, email=email
        ),
    }


# --- tokens -----------------------------------------------------------------------------------


def test_a_token_finds_its_visitor_and_nothing_else(site, team):
    visitor, token = new_visitor(site)
    assert visitor_from_token(site=site, token=token) == visitor

    other_site = make_site(team)
    with pytest.raises(TokenRefused) as refused:
        visitor_from_token(site=other_site, token=token)
    assert refused.value.code == 4403
    for forged in [
        "",
        "abc",
        token + "x",
        signing.dumps({"v": "x", "s": site.pk}, salt=TOKEN_SALT),
    ]:
        with pytest.raises(TokenRefused) as refused:
            visitor_from_token(site=site, token=forged)
        assert refused.value.code == 4401


def test_an_expired_token_is_refused(site, settings):
    _, token = new_visitor(site)
    settings.CHAT_VISITOR_TOKEN_MAX_AGE = -1
    with pytest.raises(TokenRefused, match="expired"):
        visitor_from_token(site=site, token=token)


# --- signed identity --------------------------------------------------------------------------


def test_the_signature_is_hmac_sha256_over_id_colon_email(site):
    expected = hmac.new(
        site.identity_secret.encode(), b"42:dana@shop.example", hashlib.sha256
    ).hexdigest()
    assert (
        identity_signature(secret=site.identity_secret, external_id="42", email="dana@shop.example")
        == expected
    )


def test_a_signed_identity_creates_the_customer_and_links_the_visitor(site):
    session = open_widget_session(site=site, token=None, identity=signed(site, "42", "dana@x.io"))
    customer = Customer.objects.get(external_id="42")
    assert (customer.email, customer.name) == ("dana@x.io", "Dana Shopper")
    assert session.visitor.customer == customer
    assert session.visitor.identified


def test_an_identity_matches_by_external_id_then_by_email(site):
    base = Tier.objects.get(rank=0)
    by_id = Customer.objects.create(name="A", email="a@x.io", external_id="7", tier=base)
    by_email = Customer.objects.create(name="B", email="B@x.io", tier=base)
    first = open_widget_session(site=site, token=None, identity=signed(site, "7", "new@x.io"))
    second = open_widget_session(site=site, token=None, identity=signed(site, "8", "b@x.io"))
    assert first.visitor.customer == by_id
    assert second.visitor.customer == by_email
    by_email.refresh_from_db()
    assert by_email.external_id == "8"  # linked to the shop's id from now on
    assert Customer.objects.count() == 2


@pytest.mark.parametrize(
    "tamper",
    [
        lambda i: {**i, "signature": ""},
        lambda i: {k: v for k, v in i.items() if k != "signature"},
        lambda i: {**i, "signature": "0" * 64},
        lambda i: {**i, "email": "someone.else@x.io"},
        lambda i: {**i, "id": "43"},
    ],
    ids=["empty", "missing", "wrong", "other-email", "other-id"],
)
def test_a_missing_or_wrong_signature_is_refused_and_writes_nothing(site, tamper):
    identity = tamper(signed(site, "42", "dana@x.io"))
    with pytest.raises(RuleBroken) as broken:
        open_widget_session(site=site, token=None, identity=identity)
    assert broken.value.field.startswith("identity")
    assert not Customer.objects.filter(email__in=["dana@x.io", "someone.else@x.io"]).exists()
    assert not Visitor.objects.exists()


def test_another_sites_secret_does_not_sign_for_this_site(site, team):
    other = make_site(team)
    with pytest.raises(RuleBroken):
        open_widget_session(site=site, token=None, identity=signed(other, "42", "dana@x.io"))


def test_a_site_that_requires_identity_refuses_anonymous_visitors(site):
    site.require_identity = True
    site.save()
    with pytest.raises(RuleBroken) as broken:
        open_widget_session(site=site, token=None)
    assert broken.value.field == "identity"


def test_an_identified_customer_sees_earlier_chats_on_another_device(site):
    laptop = open_widget_session(site=site, token=None, identity=signed(site, "42", "d@x.io"))
    chat = start_conversation(site=site, visitor=laptop.visitor, prechat={}, body="Hi")
    end_conversation(conversation=chat, actor=None)

    phone = open_widget_session(site=site, token=None, identity=signed(site, "42", "d@x.io"))
    assert phone.visitor != laptop.visitor
    assert [c.pk for c in phone.earlier] == [chat.pk]

    anonymous = open_widget_session(site=site, token=None)
    assert anonymous.earlier == []


def test_a_browser_whose_shop_login_changed_gets_a_new_visitor(site):
    first = open_widget_session(site=site, token=None, identity=signed(site, "1", "one@x.io"))
    start_conversation(site=site, visitor=first.visitor, prechat={}, body="Private question")
    second = open_widget_session(
        site=site, token=first.token, identity=signed(site, "2", "two@x.io")
    )
    assert second.visitor != first.visitor
    assert second.conversation is None
    signed_out = open_widget_session(site=site, token=first.token)
    assert signed_out.visitor != first.visitor
    assert signed_out.conversation is None


# --- starting and numbering -------------------------------------------------------------------


def test_a_first_message_opens_a_chat_ticket_for_a_guest(site):
    visitor, _ = new_visitor(site)
    chat = start_conversation(site=site, visitor=visitor, prechat={}, body="Hello", client_id="a")
    ticket = chat.ticket
    # Routing offers it at once to the site team's agent who is online (chat.routing_engine).
    assert (ticket.channel, ticket.team, chat.state) == (Channel.CHAT, site.team, "offered")
    assert ticket.customer.email.endswith("@chat.invalid")
    # No email is owed to a placeholder address.
    assert not Notification.objects.filter(ticket=ticket).exists()
    line = chat.lines.get()
    assert (line.seq, line.client_id, line.sender, line.message.body) == (
        1,
        "a",
        "customer",
        "Hello",
    )


def test_prechat_answers_are_checked_and_used(site):
    site.prechat_fields = ["name", "email", "topic", "order"]
    site.save()
    visitor, _ = new_visitor(site)
    with pytest.raises(RuleBroken) as broken:
        start_conversation(site=site, visitor=visitor, prechat={"name": "Eve"}, body="Hi")
    assert broken.value.field == "prechat.email"
    with pytest.raises(RuleBroken) as broken:
        start_conversation(
            site=site,
            visitor=visitor,
            prechat={"name": "Eve", "email": "nope", "topic": "Returns"},
            body="Hi",
        )
    assert broken.value.field == "prechat.email"
    chat = start_conversation(
        site=site,
        visitor=visitor,
        prechat={"name": "Eve", "email": "eve@x.io", "topic": "Returns", "order": "#1001"},
        body="Hi",
    )
    assert chat.ticket.customer.email == "eve@x.io"
    assert chat.ticket.subject == "Chat: Returns"
    assert (chat.topic, chat.order_reference) == ("Returns", "#1001")
    assert Notification.objects.filter(ticket=chat.ticket, recipient="eve@x.io").exists()


def test_a_second_first_message_posts_to_the_current_chat(site):
    visitor, _ = new_visitor(site)
    first = start_conversation(site=site, visitor=visitor, prechat={}, body="One", client_id="1")
    again = start_conversation(site=site, visitor=visitor, prechat={}, body="Two", client_id="2")
    resent = start_conversation(site=site, visitor=visitor, prechat={}, body="Two", client_id="2")
    assert first == again == resent
    assert list(first.lines.values_list("seq", "client_id")) == [(1, "1"), (2, "2")]


def test_post_line_is_idempotent_on_client_id(site, agent):
    visitor, _ = new_visitor(site)
    chat = start_conversation(site=site, visitor=visitor, prechat={}, body="Hi")
    one = post_line(conversation=chat, sender_user_or_None=None, body="x", client_id="k")
    two = post_line(conversation=chat, sender_user_or_None=None, body="x", client_id="k")
    reply = post_line(conversation=chat, sender_user_or_None=agent, body="Hello!", client_id="a1")
    assert one == two
    assert Message.objects.filter(ticket=chat.ticket).count() == 3
    assert (reply.seq, reply.sender, reply.message.author) == (3, "agent", agent)


def test_every_door_numbers_lines_without_gaps_and_notes_are_not_lines(site, agent):
    visitor, _ = new_visitor(site)
    chat = start_conversation(site=site, visitor=visitor, prechat={}, body="Hi")
    post_message(ticket=chat.ticket, author=agent, body="Internal: check stock", is_internal=True)
    post_message(ticket=chat.ticket, author=agent, body="<p>On its way</p>")
    post_line(conversation=chat, sender_user_or_None=None, body="Thanks", client_id=None)
    lines = lines_since(conversation=chat, seq=0)
    assert [(line.seq, line.sender) for line in lines] == [
        (1, "customer"),
        (2, "agent"),
        (3, "customer"),
    ]
    assert [line.seq for line in lines_since(conversation=chat, seq=2)] == [3]
    chat.refresh_from_db()
    assert chat.last_seq == 3


def test_messages_on_tickets_without_a_chat_make_no_lines(agent, customer):
    from tickets.services import open_ticket

    ticket = open_ticket(customer=customer, subject="Mail", body="Hi", actor=None)
    post_message(ticket=ticket, author=agent, body="Reply")
    assert not ChatLine.objects.exists()


def test_an_ended_chat_takes_no_more_lines(site, agent):
    visitor, _ = new_visitor(site)
    chat = start_conversation(site=site, visitor=visitor, prechat={}, body="Hi")
    end_conversation(conversation=chat, actor=agent)
    end_conversation(conversation=chat, actor=agent)  # twice: nothing more
    with pytest.raises(RuleBroken):
        post_line(conversation=chat, sender_user_or_None=None, body="Hello?", client_id="z")
    assert [line.body for line in chat.lines.filter(sender="system")] == [
        f"{agent.display_name} ended the chat."
    ]


# --- offline ----------------------------------------------------------------------------------


def test_with_no_agent_online_the_chat_becomes_a_ticket_and_says_where_the_answer_comes(team):
    site = make_site(team, prechat_fields=["email"])
    visitor, _ = new_visitor(site)
    chat = start_conversation(site=site, visitor=visitor, prechat={"email": "f@x.io"}, body="Hi")
    assert chat.state == "missed"
    notice = chat.lines.get(seq=2)
    assert notice.sender == "system"
    assert chat.ticket.reference in notice.body
    assert "by email at f@x.io" in notice.body


def test_outside_business_hours_the_notice_says_when_we_open(team, agent):
    put_online(agent)
    calendar = BusinessCalendar.objects.create(
        name="Weekdays", timezone="UTC", hours={"mon": [["09:00", "17:00"]]}
    )
    site = make_site(team, calendar=calendar)
    visitor, _ = new_visitor(site)
    sunday = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    chat = start_conversation(site=site, visitor=visitor, prechat={}, body="Hi", now=sunday)
    assert chat.state == "missed"
    assert "open again at Monday 09:00" in chat.lines.get(seq=2).body


def test_the_promise_comes_from_the_tickets_sla_summary(site):
    visitor, token = new_visitor(site)
    chat = start_conversation(site=site, visitor=visitor, prechat={}, body="Hi")
    due = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    record_sla_summary(
        ticket=chat.ticket,
        due_at=due,
        target="first_reply",
        state="running",
        reply_due_at=due,
        reply_promise="Gold priority",
    )
    session = open_widget_session(site=site, token=token)
    assert session.conversation is not None
    assert (
        session.conversation.ticket.reply_due_at,
        session.conversation.ticket.reply_promise,
    ) == (
        due,
        "Gold priority",
    )


# --- end, rating, read ------------------------------------------------------------------------


def test_rating_needs_an_ended_chat_and_a_score_from_1_to_5(site):
    visitor, _ = new_visitor(site)
    chat = start_conversation(site=site, visitor=visitor, prechat={}, body="Hi")
    with pytest.raises(RuleBroken):
        rate_conversation(conversation=chat, score=5)
    end_conversation(conversation=chat, actor=None)
    for bad in [0, 6, "5", 4.5, True]:
        with pytest.raises(RuleBroken):
            rate_conversation(conversation=chat, score=bad)
    rate_conversation(conversation=chat, score=3, comment="ok")
    chat.refresh_from_db()
    assert (chat.rating, chat.rating_comment) == (3, "ok")


def test_read_marks_only_move_forward_and_never_past_the_last_line(site):
    visitor, _ = new_visitor(site)
    chat = start_conversation(site=site, visitor=visitor, prechat={}, body="Hi")
    mark_read(conversation=chat, reader="customer", seq=99)
    mark_read(conversation=chat, reader="customer", seq=0)
    chat.refresh_from_db()
    assert chat.visitor_read_seq == 1


# --- who sees which chats ---------------------------------------------------------------------


def test_agents_see_their_teams_sites_chats_and_managers_all(site, agent, manager, customer):
    other_team_agent = AgentFactory(username="zed", profile__teams=[TeamFactory(name="Else")])
    visitor, _ = new_visitor(site)
    chat = start_conversation(site=site, visitor=visitor, prechat={}, body="Hi")
    assert list(conversations_visible_to(agent)) == [chat]
    assert list(conversations_visible_to(manager)) == [chat]
    assert list(conversations_visible_to(other_team_agent)) == []
    assert list(conversations_visible_to(customer.user)) == []


def test_an_issued_token_round_trips(site):
    visitor = Visitor.objects.create(site=site)
    assert visitor_from_token(site=site, token=issue_visitor_token(visitor)) == visitor


def test_conversations_of_a_site_are_counted_once(site):
    visitor, _ = new_visitor(site)
    start_conversation(site=site, visitor=visitor, prechat={}, body="Hi")
    assert Conversation.objects.count() == 1


def test_an_agent_whose_heartbeat_stopped_or_who_is_away_does_not_count_as_online(team, agent):
    from datetime import timedelta

    from accounts.models import AgentProfile, Availability
    from chat.models import AgentChatPresence

    site = make_site(team)
    put_online(agent)
    AgentChatPresence.objects.filter(agent=agent).update(
        last_heartbeat_at=datetime.now(UTC) - timedelta(minutes=5)
    )
    visitor, _ = new_visitor(site)
    assert start_conversation(site=site, visitor=visitor, prechat={}, body="Hi").state == "missed"

    put_online(agent)
    AgentProfile.objects.filter(user=agent).update(availability=Availability.AWAY)
    visitor, _ = new_visitor(site)
    assert start_conversation(site=site, visitor=visitor, prechat={}, body="Hi").state == "missed"

    put_online(agent)
    visitor, _ = new_visitor(site)
    chat = start_conversation(site=site, visitor=visitor, prechat={}, body="Hi")
    # Online again: the chat is not missed, and routing offers it to them at once.
    assert (chat.state, chat.offered_to) == ("offered", agent)
