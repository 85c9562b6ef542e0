"""An example "model" on the bus: builds time bars from the trades a feed node publishes,
scores each closed bar (its return, close / open - 1, an exact Decimal), and publishes the
score as a signal for a strategy (``strategies/signal_follow.rhai`` trades on it).

    python3 python/examples/score_model.py --url nats://127.0.0.1:4222 --prefix peregrine \
        --venue binance --symbol BTC-USDT --strategy follow --bar-ms 500

Runs until killed. Prints one line per signal published.
"""

import argparse
import asyncio
import os
import sys
import time
from decimal import Decimal

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from peregrine_bus import Bridge, Trade  # noqa: E402


class Bars:
    """Time bars of ``ms`` from trades, by receive time."""

    def __init__(self, ms: int):
        self.ns = ms * 1_000_000
        self.start = None
        self.open = self.close = None
        self.count = 0

    def on_trade(self, price: Decimal, now_ns: int):
        """Returns ``(open, close, trades)`` of the bar this trade closed, else None."""
        closed = None
        start = now_ns - now_ns % self.ns
        if self.start is not None and start != self.start:
            closed = (self.open, self.close, self.count)
            self.open, self.count = None, 0
        self.start = start
        if self.open is None:
            self.open = price
        self.close = price
        self.count += 1
        return closed


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="nats://127.0.0.1:4222")
    ap.add_argument("--prefix", default="peregrine")
    ap.add_argument("--venue", default="binance")
    ap.add_argument("--symbol", default="BTC-USDT")
    ap.add_argument("--strategy", required=True)
    ap.add_argument("--bar-ms", type=int, default=1000)
    a = ap.parse_args()
    bridge = await Bridge.connect(a.url, a.prefix)
    bars = Bars(a.bar_ms)
    published = 0

    async def on_event(venue, symbol, ev):
        nonlocal published
        if not isinstance(ev.payload, Trade):
            return
        closed = bars.on_trade(ev.payload.price, time.time_ns())
        if closed is None:
            return
        o, c, n = closed
        score = (c / o - 1).quantize(Decimal("0.00000001"))
        await bridge.signal(a.strategy, "score", score, {"close": str(c), "trades": n})
        published += 1
        print(f"signal {published} score {score}", flush=True)

    await bridge.subscribe(on_event, a.venue, a.symbol, "trade")
    print("model running", flush=True)
    while True:
        await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main())
