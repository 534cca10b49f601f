"""Messages as `tickets.services.post_message` takes them: who may write what, what a body may
hold, and how attachments are checked and stored."""

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from core.errors import RuleBroken
from tests.factories import TicketFactory, UserFactory
from tickets.models import Attachment, EventKind, Message, SenderKind, Status, Ticket
from tickets.services import post_message

pytestmark = pytest.mark.django_db


def upload(name="receipt.pdf", content=b"%PDF-1.4 receipt", content_type="application/pdf"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def refusal(ticket, **kwargs) -> RuleBroken:
    """Post, expect a refusal, and check that nothing was written."""
    with pytest.raises(RuleBroken) as refused:
        post_message(ticket=ticket, **kwargs)
    assert not Message.objects.filter(ticket=ticket).exists()
    assert not Attachment.objects.exists()
    assert not ticket.events.exists()
    return refused.value


# --- who writes what --------------------------------------------------------------------------


def test_an_agent_writes_an_internal_note(agent):
    ticket = TicketFactory()

    note = post_message(ticket=ticket, author=agent, body="Refund approved.", is_internal=True)

    assert (note.author, note.sender, note.is_internal) == (agent, SenderKind.AGENT, True)
    event = ticket.events.get()
    assert (event.kind, event.actor, event.data) == (
        EventKind.MESSAGE_POSTED,
        agent,
        {"message": note.pk, "is_internal": True, "sender": "agent"},
    )


def test_a_customer_cannot_write_an_internal_note(customer):
    ticket = TicketFactory(customer=customer)

    refused = refusal(ticket, author=customer.user, body="Psst", is_internal=True)

    assert (refused.field, refused.message) == (
        "is_internal",
        "Only agents can write internal notes.",
    )


def test_a_customer_replies_on_their_own_ticket(customer):
    ticket = TicketFactory(customer=customer, status=Status.OPEN)

    reply = post_message(ticket=ticket, author=customer.user, body="Thanks!")

    assert (reply.author, reply.sender, reply.is_internal) == (
        customer.user,
        SenderKind.CUSTOMER,
        False,
    )


def test_someone_elses_customer_cannot_reply(customer, other_customer):
    ticket = TicketFactory(customer=customer)

    refused = refusal(ticket, author=other_customer.user, body="Me too")

    assert refused.field == "author"


def test_a_login_with_no_role_cannot_reply(customer):
    """A staff account without an agent profile is not the customer either."""
    ticket = TicketFactory(customer=customer, status=Status.SOLVED)

    refusal(ticket, author=UserFactory(is_staff=True), body="Hello")

    assert Ticket.objects.get(pk=ticket.pk).status == Status.SOLVED


def test_a_system_message_has_no_author_and_moves_nothing():
    ticket = TicketFactory(status=Status.PENDING)

    message = post_message(ticket=ticket, author=None, body="Auto-reply: we got your email.")

    assert (message.author, message.sender) == (None, SenderKind.SYSTEM)
    assert Ticket.objects.get(pk=ticket.pk).status == Status.PENDING


def test_a_closed_ticket_takes_no_messages(customer):
    ticket = TicketFactory(customer=customer, status=Status.CLOSED)

    refused = refusal(ticket, author=customer.user, body="One more thing")

    assert refused.field == "body"
    assert Ticket.objects.get(pk=ticket.pk).status == Status.CLOSED


# --- bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("<p>Hi <script>alert(1)</script>there</p>", "<p>Hi there</p>"),
        ('<p onclick="steal()">Click</p>', "<p>Click</p>"),
        ('<a href="javascript:alert(1)">link</a>', '<a rel="nofollow">link</a>'),
        (
            '<a href="https://shop.example/order/1" title="Order">order</a>',
            '<a href="https://shop.example/order/1" title="Order" rel="nofollow">order</a>',
        ),
        ("<img src=x onerror=alert(1)>Photo", "Photo"),
        ("<iframe src='https://evil.example'></iframe>Hello", "Hello"),
        ("2 < 3 & 5 > 4", "2 &lt; 3 &amp; 5 &gt; 4"),
        ("<strong>Bold</strong> and <em>soft</em>", "<strong>Bold</strong> and <em>soft</em>"),
        ("<ul><li>one</li></ul>", "<ul><li>one</li></ul>"),
    ],
)
def test_a_body_keeps_safe_html_only(agent, sent, kept):
    ticket = TicketFactory()

    message = post_message(ticket=ticket, author=agent, body=sent)

    assert Message.objects.get(pk=message.pk).body == kept


@pytest.mark.parametrize("body", ["", "   ", "\n\t", "<p> </p>", "<script>only()</script>", None])
def test_an_empty_body_is_refused(agent, body):
    ticket = TicketFactory()

    refused = refusal(ticket, author=agent, body=body)

    assert (refused.field, refused.message) == ("body", "A message cannot be empty.")


def test_a_body_over_the_limit_is_refused_and_one_at_the_limit_is_kept(agent, settings):
    settings.MESSAGE_BODY_MAX_CHARS = 100
    ticket = TicketFactory()

    refused = refusal(ticket, author=agent, body="x" * 101)
    assert (refused.field, refused.message) == ("body", "A message is at most 100 characters.")

    assert post_message(ticket=ticket, author=agent, body="x" * 100).body == "x" * 100


def test_message_text_becomes_searchable(agent):
    ticket = TicketFactory(subject="Kettle")

    post_message(ticket=ticket, author=agent, body="<p>The <b>courier</b> lost it</p>")

    assert Ticket.objects.get(pk=ticket.pk).search_document == "Kettle\nThe courier lost it"


# --- attachments ------------------------------------------------------------------------------


def test_attachments_are_stored_through_django_storage_and_read_back(agent):
    ticket = TicketFactory()
    photo = SimpleUploadedFile("../../etc/dent.png", b"\x89PNG fake", content_type="image/png")

    message = post_message(
        ticket=ticket, author=agent, body="Photos attached", attachments=[upload(), photo]
    )

    stored = list(message.attachments.order_by("id"))
    assert [(a.filename, a.content_type, a.size) for a in stored] == [
        ("receipt.pdf", "application/pdf", len(b"%PDF-1.4 receipt")),
        ("dent.png", "image/png", len(b"\x89PNG fake")),
    ]
    for attachment, content in zip(stored, [b"%PDF-1.4 receipt", b"\x89PNG fake"], strict=True):
        # The stored name is ours (ticket/message/token), never the uploaded one.
        assert attachment.file.name == (f"attachments/{ticket.pk}/{message.pk}/{attachment.token}")
        assert default_storage.exists(attachment.file.name)
        with default_storage.open(attachment.file.name) as stored_file:
            assert stored_file.read() == content


def test_a_content_type_with_parameters_is_accepted_by_its_main_type(agent):
    ticket = TicketFactory()
    notes = upload("notes.txt", b"hello", "text/plain; charset=utf-8")

    message = post_message(ticket=ticket, author=agent, body="Notes", attachments=[notes])

    assert message.attachments.get().content_type == "text/plain"


def test_an_attachment_over_the_size_limit_is_refused(agent, settings):
    settings.ATTACHMENT_MAX_BYTES = 1024 * 1024
    ticket = TicketFactory()
    big = upload("scan.pdf", b"x" * (1024 * 1024 + 1))

    refused = refusal(ticket, author=agent, body="Scan", attachments=[big])

    assert (refused.field, refused.message) == ("attachments", "scan.pdf is larger than 1 MB.")


def test_an_attachment_at_the_size_limit_is_kept(agent, settings):
    settings.ATTACHMENT_MAX_BYTES = 1024
    ticket = TicketFactory()

    message = post_message(
        ticket=ticket, author=agent, body="Scan", attachments=[upload(content=b"x" * 1024)]
    )

    assert message.attachments.get().size == 1024


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("setup.exe", "application/x-msdownload"),
        ("page.html", "text/html"),
        ("vector.svg", "image/svg+xml"),
        ("mystery", ""),
    ],
)
def test_an_attachment_of_a_refused_type_is_refused(agent, name, content_type):
    ticket = TicketFactory()

    refused = refusal(
        ticket, author=agent, body="See file", attachments=[upload(name, b"data", content_type)]
    )

    assert refused.field == "attachments"
    assert "files are not accepted" in refused.message


def test_an_empty_attachment_is_refused(agent):
    ticket = TicketFactory()

    refused = refusal(ticket, author=agent, body="See file", attachments=[upload(content=b"")])

    assert (refused.field, refused.message) == ("attachments", "receipt.pdf is empty.")


def test_more_attachments_than_allowed_are_refused(agent, settings):
    settings.ATTACHMENTS_PER_MESSAGE = 2
    ticket = TicketFactory()

    refused = refusal(ticket, author=agent, body="Files", attachments=[upload()] * 3)

    assert (refused.field, refused.message) == ("attachments", "At most 2 attachments per message.")


def test_one_bad_attachment_refuses_the_whole_message(agent):
    ticket = TicketFactory()
    good, bad = upload(), upload("run.sh", b"rm -rf /", "application/x-sh")

    refusal(ticket, author=agent, body="Two files", attachments=[good, bad])
