"""Files streamed under ASGI without Django's warning and without reading them whole.

A `FileResponse` (WhiteNoise's static files, attachment downloads) iterates its file
synchronously. Under ASGI, Django then warns on every request ("StreamingHttpResponse must
consume synchronous iterators...") and reads the whole file into a list in a worker thread
before sending a byte. This middleware hands the ASGI server an asynchronous iterator instead,
which reads the same file in 64 KiB chunks on a worker thread.
"""

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse, HttpRequest, HttpResponseBase, StreamingHttpResponse

CHUNK_BYTES = 64 * 1024

_DONE = object()


def _next_chunk(chunks: Iterator[Any]) -> Any:
    return next(chunks, _DONE)


async def _read_in_a_thread(chunks: Iterator[Any]) -> AsyncIterator[Any]:
    while (chunk := await sync_to_async(_next_chunk, thread_sensitive=False)(chunks)) is not _DONE:
        yield chunk


class AsyncFileStreamsMiddleware:
    """First in MIDDLEWARE, so it sees every response, WhiteNoise's included. (Django may run it
    in either mode: with a sync-only middleware inside it, it runs in a thread.)"""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return streamed_for(request, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        return streamed_for(request, await self.get_response(request))


def streamed_for(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    """The response, its file read asynchronously when an ASGI server will send it."""
    if (
        isinstance(request, ASGIRequest)
        and isinstance(response, StreamingHttpResponse)
        and not response.is_async
    ):
        if isinstance(response, FileResponse):
            response.block_size = CHUNK_BYTES  # read lazily, chunk by chunk
        response.streaming_content = _read_in_a_thread(iter(response.streaming_content))
    return response
