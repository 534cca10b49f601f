"""Background work of live chat, run by the Celery worker (helpdesk.celery's beat schedule)."""

from celery import shared_task

from chat import routing_engine
from chat.services.missed import miss_stranded_chats


@shared_task(name="chat.tasks.sweep_chat_routing", ignore_result=True)
def sweep_chat_routing() -> dict[str, int]:
    """Every 5 s: offers past their time-out go to the next agent, consoles gone quiet are
    marked away, chats of agents gone for good go back to the queue, waiting chats are offered
    to free agents; then queued chats nobody could take for their site's missed_after_seconds
    become tickets (chat.services.missed). Idempotent and safe on many workers at once (row
    locks, SKIP LOCKED); open consoles run the routing sweep on their heartbeats too, so
    routing never waits for one worker."""
    result = routing_engine.sweep()
    miss_stranded_chats()  # after routing had its chance to place them
    return {
        "expired": result.expired,
        "away": len(result.away),
        "requeued": len(result.requeued),
        "offered": result.offered,
    }
