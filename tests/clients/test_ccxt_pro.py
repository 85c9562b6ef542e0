"""ccxt.pro (websocket streams) against `peregrine sim`: trades, order book, ticker and
candles, with only the base URLs changed (see conftest.py)."""

import asyncio

import ccxt.pro

from conftest import STREAM_TIMEOUT_S, SYMBOL, ccxt_config, point_ccxt_at_sim


def run(coro_fn):
    async def main():
        ex = point_ccxt_at_sim(ccxt.pro.binance(ccxt_config()))
        try:
            await ex.load_markets()
            return await asyncio.wait_for(coro_fn(ex), STREAM_TIMEOUT_S)
        finally:
            await ex.close()

    return asyncio.run(main())


def test_watch_trades():
    async def go(ex):
        seen = []
        while len(seen) < 5:
            seen += await ex.watch_trades(SYMBOL)
        return seen

    trades = run(go)
    assert all(t["symbol"] == SYMBOL and t["price"] > 0 and t["amount"] > 0 for t in trades)
    ids = [int(t["id"]) for t in trades]
    assert ids == sorted(ids)


def test_watch_order_book():
    async def go(ex):
        ob = None
        for _ in range(3):  # the snapshot, then two applied diffs
            ob = await ex.watch_order_book(SYMBOL)
        return ob

    ob = run(go)
    assert ob["bids"] and ob["asks"]
    assert ob["bids"][0][0] < ob["asks"][0][0], "crossed book: diffs misapplied"
    assert ob["nonce"] > 0


def test_watch_ticker():
    async def go(ex):
        return await ex.watch_ticker(SYMBOL)

    t = run(go)
    # ccxt's default watchTicker stream is @miniTicker, which carries no bid/ask.
    assert t["symbol"] == SYMBOL and t["last"] > 0 and t["high"] >= t["low"]
    assert t["info"]["e"] == "24hrMiniTicker"


def test_watch_ohlcv():
    async def go(ex):
        return await ex.watch_ohlcv(SYMBOL, "1m")

    bars = run(go)
    assert bars
    ts, o, h, l, c, v = bars[-1]
    assert ts % 60_000 == 0 and l <= min(o, c) and h >= max(o, c)


def test_watch_bids_asks_and_trades_for_many():
    async def go(ex):
        return await ex.watch_trades_for_symbols([SYMBOL])

    trades = run(go)
    assert trades and trades[0]["symbol"] == SYMBOL


def test_watch_orders_and_balance_over_the_websocket_api():
    """Account data: ccxt.pro subscribes with `userDataStream.subscribe.signature` on the
    WebSocket API (/ws-api/v3) and sees the order it places over REST, and the balance move."""

    async def go(ex):
        orders_task = asyncio.ensure_future(ex.watch_orders(SYMBOL))
        balance_task = asyncio.ensure_future(ex.watch_balance())
        await asyncio.sleep(1.0)  # both subscriptions acknowledged
        bid = (await ex.fetch_ticker(SYMBOL))["bid"]
        placed = await ex.create_order(SYMBOL, "limit", "buy", 0.001, float(ex.price_to_precision(SYMBOL, bid * 0.9)))
        # ccxt updates the returned structures in place as later events arrive: copy them
        # before the cancel.
        orders = [(o["id"], o["status"]) for o in await orders_task]
        used = (await balance_task)["USDT"]["used"]
        await ex.cancel_order(placed["id"], SYMBOL)
        return placed, orders, used

    placed, orders, used = run(go)
    assert (placed["id"], "open") in orders, (placed["id"], orders)
    assert used > 0
