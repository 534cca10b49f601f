"""The email job, end to end: the outbox row written with the change, the real task code, a real
Celery worker on the configured broker (filesystem without REDIS_URL, Redis with it), Django's
locmem mailbox. Only the mail server is replaced, where a test needs it to fail."""

import smtplib
import threading
from datetime import timedelta
from http import HTTPStatus

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import before_task_publish, task_postrun
from django.core import mail
from django.core.mail.backends import locmem
from django.db import connection, connections, transaction
from django.urls import reverse
from django.utils import timezone

from helpdesk.celery import app as celery_app
from tests.waiting import wait_for
from tickets import tasks
from tickets.models import Notification, Ticket
from tickets.services import assign_ticket, open_ticket

pytestmark = pytest.mark.django_db(transaction=True)  # jobs are queued only after a commit

CLOSED_PORT_BROKER = "redis://127.0.0.1:1/0"


def all_owed_emails_sent() -> bool:
    # The row is marked sent just after the mail leaves (same transaction): wait for the row,
    # not for the mailbox, before reading either.
    owed_rows = Notification.objects.all()
    return owed_rows.exists() and not owed_rows.filter(sent_at__isnull=True).exists()


def close_this_threads_connections(**kwargs) -> None:
    # The worker thread's own database connections; left open they would keep the test
    # database busy when the suite drops it.
    connections.close_all()


@pytest.fixture
def celery_worker(transactional_db):
    """A real worker in a thread, consuming the configured broker's queue."""
    celery_app.control.purge()  # nothing left over from an earlier test's commits
    task_postrun.connect(close_this_threads_connections, weak=False)
    try:
        with start_worker(
            celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30
        ) as worker:
            yield worker
    finally:
        task_postrun.disconnect(close_this_threads_connections)


def forget_broker_connections() -> None:
    """Drop pooled broker connections so the next publish uses the broker settings now.
    (Celery has no public call for this; these are the two pools its after-fork hook resets.)"""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    """Point the app at a port nobody listens on, as when Redis is down. Yields a function
    that brings the configured broker back."""
    saved = celery_app.conf.broker_url, celery_app.conf.broker_transport_options

    def restore():
        celery_app.conf.broker_url, celery_app.conf.broker_transport_options = saved
        forget_broker_connections()

    celery_app.conf.broker_url = CLOSED_PORT_BROKER
    celery_app.conf.broker_transport_options = {}
    forget_broker_connections()
    yield restore
    restore()


class SMTPDown(locmem.EmailBackend):
    """A mail server that drops the connection `failures` times, then accepts."""

    failures = 0
    attempts = 0

    def send_messages(self, messages):
        type(self).attempts += 1
        if type(self).failures > 0:
            type(self).failures -= 1
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)


@pytest.fixture
def smtp_down(settings):
    SMTPDown.failures, SMTPDown.attempts = 0, 0
    settings.EMAIL_BACKEND = f"{__name__}.SMTPDown"
    return SMTPDown


class SlowSMTP(locmem.EmailBackend):
    """A mail server that holds each message until the test lets it go."""

    sending = threading.Event()
    release = threading.Event()

    def send_messages(self, messages):
        type(self).sending.set()
        assert type(self).release.wait(timeout=30)
        return super().send_messages(messages)


@pytest.fixture
def slow_smtp(settings):
    SlowSMTP.sending, SlowSMTP.release = threading.Event(), threading.Event()
    settings.EMAIL_BACKEND = f"{__name__}.SlowSMTP"
    return SlowSMTP


def in_thread(function, *args, **kwargs) -> tuple[threading.Thread, list]:
    results: list = []

    def run():
        try:
            results.append(function(*args, **kwargs))
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, results


def owed(ticket: Ticket, kind: str) -> Notification:
    return Notification.objects.get(ticket=ticket, kind=kind)


def emails_to(address: str) -> list:
    return [message for message in mail.outbox if address in message.to]


# --- a real worker ----------------------------------------------------------------------------


def test_worker_emails_the_customer_their_reference_and_the_assignee(
    celery_worker, customer, agent
):
    ticket = open_ticket(
        customer=customer,
        subject="Parcel never arrived",
        body="Order 1001 is late.",
        actor=customer.user,
        assignee=agent,
    )

    wait_for(all_owed_emails_sent)
    assert len(mail.outbox) == 2
    [to_customer] = emails_to("carol@shop.example")
    assert ticket.reference in to_customer.subject
    assert "Parcel never arrived" in to_customer.subject
    assert f"Reference: {ticket.reference}" in to_customer.body
    assert "Carol Customer" in to_customer.body
    [to_agent] = emails_to(agent.email)
    assert to_agent.subject == f"[{ticket.reference}] Assigned to you: Parcel never arrived"
    assert "Carol Customer <carol@shop.example>" in to_agent.body


def test_worker_emails_an_agent_when_a_ticket_is_assigned_to_them(
    celery_worker, customer, agent, other_agent
):
    ticket = open_ticket(customer=customer, subject="Refund", body="Please", actor=agent)
    wait_for(all_owed_emails_sent)  # the customer's acknowledgement

    assign_ticket(ticket=ticket, assignee=other_agent, actor=agent)

    wait_for(lambda: owed(ticket, Notification.Kind.TICKET_ASSIGNED).sent_at)
    [email] = emails_to(other_agent.email)
    assert email.subject == f"[{ticket.reference}] Assigned to you: Refund"
    assert email.body.startswith(f"Hello {other_agent.display_name},")


def test_a_rolled_back_ticket_owes_no_email(celery_worker, customer):
    class RolledBack(Exception):
        pass

    published = []

    def record(sender, body, **kwargs):
        published.append((sender, list(body[0])))  # (task name, positional arguments)

    before_task_publish.connect(record, weak=False)
    try:
        with transaction.atomic():
            open_ticket(customer=customer, subject="Never mind", body="Oops", actor=None)
            raise RolledBack
    except RolledBack:
        pass
    try:
        open_ticket(customer=customer, subject="The real one", body="Hello", actor=None)
    finally:
        before_task_publish.disconnect(record)

    # Jobs are queued after commit, in this thread: the rolled-back ticket queued none.
    [notification] = Notification.objects.all()
    assert published == [("tickets.tasks.send_notification", [notification.pk])]
    wait_for(all_owed_emails_sent)
    [ticket] = Ticket.objects.all()
    assert [email.subject for email in mail.outbox] == [
        f"[{ticket.reference}] We have your request: The real one"
    ]


def test_a_failed_send_is_retried_with_its_attempts_counted(celery_worker, smtp_down, customer):
    smtp_down.failures = 1

    ticket = open_ticket(customer=customer, subject="Broken zip", body="It tore", actor=None)

    wait_for(all_owed_emails_sent)
    notification = owed(ticket, Notification.Kind.TICKET_OPENED)
    assert notification.attempts == 2
    assert smtp_down.attempts == 2
    assert len(mail.outbox) == 1


# --- the job itself, run by Celery in this thread ---------------------------------------------


def test_a_mail_server_that_stays_down_is_given_up_on_after_max_attempts(smtp_down, customer):
    smtp_down.failures = 100
    ticket = open_ticket(customer=customer, subject="Hello", body="Hi", actor=None)
    notification = owed(ticket, Notification.Kind.TICKET_OPENED)

    result = tasks.send_notification.apply(args=[notification.pk])  # retries run at once

    assert result.failed()
    notification.refresh_from_db()
    assert notification.sent_at is None
    assert notification.attempts == tasks.MAX_ATTEMPTS
    assert notification.last_error == "Connection unexpectedly closed"
    assert mail.outbox == []
    # Given up: neither a late job nor the sweep tries again.
    assert tasks.send_notification.apply(args=[notification.pk]).get() == "nothing to send"
    Notification.objects.filter(pk=notification.pk).update(
        created_at=timezone.now() - timedelta(days=30)
    )
    assert tasks.send_pending_notifications.apply().get() == 0


def test_running_the_same_job_twice_sends_one_email(customer):
    ticket = open_ticket(customer=customer, subject="Twice", body="Hi", actor=None)
    notification = owed(ticket, Notification.Kind.TICKET_OPENED)

    first = tasks.send_notification.apply(args=[notification.pk]).get()
    second = tasks.send_notification.apply(args=[notification.pk]).get()

    assert (first, second) == ("sent", "nothing to send")
    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert notification.attempts == 1


def test_two_workers_running_the_same_job_at_once_send_one_email(slow_smtp, customer):
    ticket = open_ticket(customer=customer, subject="Race", body="Hi", actor=None)
    notification = owed(ticket, Notification.Kind.TICKET_OPENED)

    first, first_result = in_thread(tasks.send_notification, notification.pk)
    assert slow_smtp.sending.wait(timeout=10)  # the first worker is talking to the server
    second, second_result = in_thread(tasks.send_notification, notification.pk)
    second.join(timeout=0.5)  # PostgreSQL: skips the locked row at once; SQLite: waits
    slow_smtp.release.set()
    first.join(timeout=30)
    second.join(timeout=30)

    assert first_result + second_result == ["sent", "nothing to send"]
    assert len(mail.outbox) == 1


def test_an_agent_editing_the_ticket_does_not_make_the_job_skip_the_email(customer):
    ticket = open_ticket(customer=customer, subject="Busy", body="Hi", actor=None)
    notification = owed(ticket, Notification.Kind.TICKET_OPENED)
    locked, release, job_queried = threading.Event(), threading.Event(), threading.Event()

    def hold_the_ticket():
        with transaction.atomic():
            Ticket.objects.select_for_update().get(pk=ticket.pk)
            locked.set()
            assert release.wait(timeout=30)

    def run_the_job():
        def note_first_query(execute, sql, params, many, context):
            job_queried.set()
            return execute(sql, params, many, context)

        with connection.execute_wrapper(note_first_query):
            return tasks.send_notification.apply(args=[notification.pk]).get()

    holder, _ = in_thread(hold_the_ticket)
    assert locked.wait(timeout=10)
    job, result = in_thread(run_the_job)
    assert job_queried.wait(timeout=10)
    if connection.vendor == "postgresql":
        # Only the outbox row is locked: the email goes out while the agent holds the ticket.
        job.join(timeout=30)
        assert result == ["sent"]
        release.set()
    else:
        # SQLite has one writer at a time: the job waits for the agent, then sends.
        release.set()
        job.join(timeout=30)
    holder.join(timeout=30)

    assert result == ["sent"]
    assert len(mail.outbox) == 1


# --- the broker is down -------------------------------------------------------------------------


def test_a_dead_broker_neither_fails_nor_holds_the_change(
    broker_down, customer_client, customer, caplog
):
    # The customer's request is answered with its ticket; the email waits for the sweep. (How
    # quickly publishing gives up is set by CELERY_TASK_PUBLISH_RETRY_POLICY and
    # CELERY_BROKER_CONNECTION_TIMEOUT; timing it belongs in bench/, not in a test.)
    response = customer_client.post(
        reverse("api:ticket-list"), {"subject": "Broker down", "body": "Hi"}
    )

    assert response.status_code == HTTPStatus.CREATED
    ticket = Ticket.objects.get(pk=response.json()["id"])
    notification = owed(ticket, Notification.Kind.TICKET_OPENED)
    assert (notification.sent_at, notification.attempts) == (None, 0)
    assert "the sweep will send it" in caplog.text
    assert mail.outbox == []


def test_the_sweep_sends_what_was_never_queued(broker_down, request, customer):
    ticket = open_ticket(customer=customer, subject="Lost job", body="Hi", actor=None)
    lost = owed(ticket, Notification.Kind.TICKET_OPENED)
    assert lost.sent_at is None
    # The broker is back, the grace period has passed, a worker runs, and beat fires the sweep.
    broker_down()
    Notification.objects.filter(pk=lost.pk).update(
        created_at=timezone.now() - tasks.SWEEP_GRACE - timedelta(seconds=1)
    )
    request.getfixturevalue("celery_worker")

    tasks.send_pending_notifications.delay()

    wait_for(all_owed_emails_sent)
    [email] = mail.outbox
    assert email.to == ["carol@shop.example"]
    assert ticket.reference in email.subject


# --- what the sweep picks ---------------------------------------------------------------------


def _owed_row(customer, *, age: timedelta, attempts: int = 0, sent: bool = False) -> int:
    ticket = Ticket.objects.create(subject="Old", customer=customer)
    notification = Notification.objects.create(
        ticket=ticket,
        kind=Notification.Kind.TICKET_OPENED,
        recipient=customer.email,
        attempts=attempts,
        sent_at=timezone.now() if sent else None,
    )
    Notification.objects.filter(pk=notification.pk).update(created_at=timezone.now() - age)
    return notification.pk


def test_the_sweep_leaves_young_sent_and_backing_off_rows_alone(customer):
    grace = tasks.SWEEP_GRACE
    due = {
        _owed_row(customer, age=grace + timedelta(seconds=5)),
        _owed_row(customer, age=grace * 4 + timedelta(seconds=5), attempts=2),
    }
    _owed_row(customer, age=grace - timedelta(seconds=30))  # its first job is still on it
    _owed_row(customer, age=grace * 10, sent=True)
    _owed_row(customer, age=grace * 3, attempts=2)  # failed twice: waits 4 x grace
    _owed_row(customer, age=timedelta(days=30), attempts=tasks.MAX_ATTEMPTS)  # given up

    picked = set(
        Notification.objects.filter(tasks.due_for_sending(timezone.now())).values_list(
            "pk", flat=True
        )
    )

    assert picked == due
