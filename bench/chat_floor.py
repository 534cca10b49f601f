"""The floor for bench/chat_bench.py: a bare Channels consumer that only relays.

Each socket joins the group of its conversation (`?conversation=N`) on the same channel layer
the product uses (channels_redis' pub/sub layer on REDIS_URL) and every text frame it receives
is sent to that group as is: no database, no session, no token, no routing, no JSON parsing.
What the product adds on top of this (storing every message first, checking tokens and
origins, numbering lines) is what the benchmark compares against it. Not part of the product.

    REDIS_URL=redis://127.0.0.1:6379/8 uvicorn bench.chat_floor:application --workers 2
"""

import os
from urllib.parse import parse_qs

from django.conf import settings

if not settings.configured:
    settings.configure(
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/8")]},
            }
        }
    )

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path


class Relay(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        query = parse_qs(self.scope["query_string"].decode())
        self.group = "bench.floor." + query.get("conversation", ["0"])[0]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.channel_layer.group_send(self.group, {"type": "relay", "text": text_data})

    async def relay(self, event: dict) -> None:
        await self.send(text_data=event["text"])


application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("ws/floor/", Relay.as_asgi())])}  # type: ignore[arg-type]
)
