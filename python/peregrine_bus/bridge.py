"""Subscribing to the bus's ticks and bars, publishing signals (nats-py).

Subjects: market data on ``<prefix>.md.<venue>.<symbol>.<kind>``; signals are published on
``<prefix>.sig.<strategy>.<name>`` as JSON ``{"strategy", "name", "value", "payload",
"ts_ns"}`` with ``value`` an exact decimal string and ``ts_ns`` the publish wall time (the
engine's signal latency is its receive time minus this).
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any, Awaitable, Callable, Optional

import nats

from .codec import BusEvent, decode


def signal_json(strategy: str, name: str, value: Decimal, payload: Optional[dict] = None) -> bytes:
    """The JSON of one signal (``value`` as an exact decimal string)."""
    if not isinstance(value, Decimal):
        raise TypeError("a signal value is a Decimal")
    return json.dumps(
        {
            "strategy": strategy,
            "name": name,
            "value": str(value),
            "payload": payload or {},
            "ts_ns": time.time_ns(),
        }
    ).encode()


class Bridge:
    """One NATS connection to the bus under ``prefix``."""

    def __init__(self, nc: Any, prefix: str = "peregrine"):
        self.nc = nc
        self.prefix = prefix

    @classmethod
    async def connect(cls, url: str = "nats://127.0.0.1:4222", prefix: str = "peregrine") -> "Bridge":
        return cls(await nats.connect(url), prefix)

    async def subscribe(
        self,
        on_event: Callable[[str, str, BusEvent], Awaitable[None]],
        venue: str = "*",
        symbol: str = "*",
        kind: str = "*",
    ):
        """Calls ``on_event(venue, symbol, event)`` for every market-data message matching."""
        subject = f"{self.prefix}.md.{venue}.{symbol}.{kind}"
        start = len(self.prefix) + 4

        async def handler(msg):
            v, s, _k = msg.subject[start:].split(".")
            await on_event(v, s, decode(msg.data))

        return await self.nc.subscribe(subject, cb=handler)

    async def signal(self, strategy: str, name: str, value: Decimal, payload: Optional[dict] = None):
        """Publishes one signal for ``strategy`` (the engine calls its ``on_signal``)."""
        await self.nc.publish(f"{self.prefix}.sig.{strategy}.{name}", signal_json(strategy, name, value, payload))

    async def close(self):
        await self.nc.drain()
