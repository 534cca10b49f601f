"""Events published from a server's sync threads are handed to the event loop, in order, and
the thread goes on without waiting for them (tickets.events)."""

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from tickets import events

pytestmark = pytest.mark.usefixtures("private_channel_layer")


async def test_a_server_thread_hands_its_events_to_the_loop_in_order():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("handoff.test", channel)

    def publish() -> bool:
        handed_over = events._server_loop() is not None
        for n in range(50):
            events.broadcast("handoff.test", "test.numbered", {"n": n})
        return handed_over

    assert await sync_to_async(publish)()
    received = [(await layer.receive(channel))["event"] for _ in range(50)]
    assert [event["n"] for event in received] == list(range(50))
    assert {event["type"] for event in received} == {"test.numbered"}


async def test_order_holds_when_threads_outpace_the_sender_past_the_limit(monkeypatch):
    monkeypatch.setattr(events, "PENDING_LIMIT", 5)
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("handoff.limit", channel)

    def publish() -> None:
        for n in range(20):
            events.broadcast("handoff.limit", "test.numbered", {"n": n})

    await sync_to_async(publish)()
    received = [(await layer.receive(channel))["event"]["n"] for _ in range(20)]
    assert received == list(range(20))


def test_outside_a_server_the_caller_sends_them_itself():
    assert events._server_loop() is None


async def test_what_a_thread_handed_over_is_sent_when_its_marker_resolves():
    import asyncio

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("handoff.marker", channel)

    def publish():
        for n in range(90):  # under a channel's capacity (100): a full channel drops
            events.broadcast("handoff.marker", "test.numbered", {"n": n})
        return events.sent_so_far()

    marker = await sync_to_async(publish)()
    assert marker is not None
    await asyncio.wrap_future(marker)
    # Every event is in the channel already: none is still on its way.
    received = [
        (await asyncio.wait_for(layer.receive(channel), timeout=1))["event"]["n"] for _ in range(90)
    ]
    assert received == list(range(90))


def test_outside_a_server_there_is_nothing_to_wait_for():
    assert events.sent_so_far() is None


def test_a_thread_that_cannot_send_logs_and_goes_on(caplog):
    import asyncio

    async def inside_a_loop_of_its_own() -> None:
        events.broadcast("handoff.nowhere", "test.numbered", {"n": 1})  # must not raise

    asyncio.run(inside_a_loop_of_its_own())
    assert "Could not publish 1 events" in caplog.text
