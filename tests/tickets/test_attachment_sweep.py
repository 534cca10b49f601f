"""Attachment files that a rolled-back upload left behind are deleted by the worker's sweep once
they are older than the grace period; a file a row references never is. Real files in the
test's media folder, the real database, the real task (directly and on a real worker)."""

import os
import threading
from datetime import timedelta

import pytest
from celery.signals import task_postrun
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections, transaction
from django.utils import timezone

from helpdesk.celery import app as celery_app
from tests.factories import TicketFactory
from tests.tickets.test_tasks import celery_worker  # noqa: F401 - the fixture
from tickets.models import Attachment, Status
from tickets.services import post_message
from tickets.tasks import remove_orphan_attachment_files


def upload(name: str = "receipt.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"%PDF receipt", content_type="application/pdf")


def stored_files() -> set[str]:
    found = set()
    for folder, _dirs, files in os.walk(default_storage.path("attachments")):
        for name in files:
            path = os.path.join(folder, name)
            found.add(os.path.relpath(path, default_storage.location).replace(os.sep, "/"))
    return found


def age(name: str, hours: float) -> None:
    """Make a stored file look `hours` old."""
    then = (timezone.now() - timedelta(hours=hours)).timestamp()
    os.utime(default_storage.path(name), (then, then))


def post_and_roll_back(ticket, agent) -> str:
    """Post a message with a file, then fail the request: the row is gone, the file is not."""
    before = stored_files()

    def post_then_fail() -> None:
        with transaction.atomic():
            post_message(ticket=ticket, author=agent, body="Here", attachments=[upload()])
            raise RuntimeError("the request failed after the upload")

    with pytest.raises(RuntimeError):
        post_then_fail()
    [left] = stored_files() - before
    return left


@pytest.fixture
def desk(agent):
    """A referenced file and two orphans (one old, one young), all really on disk."""
    ticket = TicketFactory(status=Status.OPEN)
    message = post_message(ticket=ticket, author=agent, body="Kept", attachments=[upload()])
    kept = message.attachments.get().file.name
    old_orphan = post_and_roll_back(ticket, agent)
    young_orphan = post_and_roll_back(ticket, agent)
    age(kept, 48)
    age(old_orphan, 48)
    age(young_orphan, 1)
    assert not Attachment.objects.filter(file__in=[old_orphan, young_orphan]).exists()
    return {"kept": kept, "old_orphan": old_orphan, "young_orphan": young_orphan}


@pytest.mark.django_db
def test_the_sweep_deletes_old_orphans_only_and_is_idempotent(desk):
    removed = remove_orphan_attachment_files()

    assert removed == 1
    assert stored_files() == {desk["kept"], desk["young_orphan"]}
    assert remove_orphan_attachment_files() == 0  # again: nothing more to do
    assert stored_files() == {desk["kept"], desk["young_orphan"]}


@pytest.mark.django_db
def test_the_grace_period_is_a_setting(desk, settings):
    settings.ATTACHMENT_ORPHAN_GRACE_HOURS = 0.5

    assert remove_orphan_attachment_files() == 2
    assert stored_files() == {desk["kept"]}


@pytest.mark.django_db
def test_a_referenced_file_is_never_deleted_however_old(agent, settings):
    settings.ATTACHMENT_ORPHAN_GRACE_HOURS = 0
    ticket = TicketFactory(status=Status.OPEN)
    files = [upload(f"f{i}.pdf") for i in range(3)]
    message = post_message(ticket=ticket, author=agent, body="Files", attachments=files)
    names = {attachment.file.name for attachment in message.attachments.all()}
    for name in names:
        age(name, 24 * 365)

    assert remove_orphan_attachment_files() == 0
    assert stored_files() == names


@pytest.mark.django_db
def test_no_attachments_folder_yet_is_nothing_to_do():
    assert remove_orphan_attachment_files() == 0


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_delete_each_orphan_and_nothing_else(desk):
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            remove_orphan_attachment_files()
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert stored_files() == {desk["kept"], desk["young_orphan"]}


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_the_sweep(desk, celery_worker):  # noqa: F811
    finished = threading.Event()
    results: list = []

    def on_postrun(task_id, task, retval, **kwargs) -> None:
        if task.name == "tickets.tasks.remove_orphan_attachment_files":
            results.append(retval)
            finished.set()

    task_postrun.connect(on_postrun, weak=False)
    try:
        remove_orphan_attachment_files.delay()
        assert finished.wait(timeout=30), "the worker never ran the sweep"
    finally:
        task_postrun.disconnect(on_postrun)

    assert results == [1]
    assert stored_files() == {desk["kept"], desk["young_orphan"]}


def test_the_sweep_is_on_the_beat_schedule():
    [entry] = [
        entry
        for entry in celery_app.conf.beat_schedule.values()
        if entry["task"] == "tickets.tasks.remove_orphan_attachment_files"
    ]
    assert entry["schedule"] <= 3600
