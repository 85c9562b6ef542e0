"""ccxt (REST, synchronous) against `peregrine sim`: markets, public market data, balance and
the order lifecycle, with only the base URLs changed (see conftest.py)."""

import time

import ccxt
import pytest

from conftest import SYMBOL, ccxt_config, point_ccxt_at_sim


@pytest.fixture(scope="module")
def ex():
    exchange = point_ccxt_at_sim(ccxt.binance(ccxt_config()))
    exchange.load_markets()
    return exchange


def test_load_markets(ex):
    m = ex.market(SYMBOL)
    assert m["id"] == "BTCUSDT" and m["spot"] and m["active"]
    assert m["base"] == "BTC" and m["quote"] == "USDT"
    assert m["precision"]["price"] == 0.01
    assert m["precision"]["amount"] == 0.00001
    assert m["limits"]["cost"]["min"] == 5


def test_fetch_ticker_and_tickers(ex):
    t = ex.fetch_ticker(SYMBOL)
    assert t["symbol"] == SYMBOL
    assert t["bid"] is not None and t["ask"] is not None and t["bid"] < t["ask"]
    assert t["last"] > 0 and t["baseVolume"] > 0 and t["high"] >= t["low"]
    all_ = ex.fetch_tickers()
    assert SYMBOL in all_
    some = ex.fetch_tickers([SYMBOL])
    assert list(some) == [SYMBOL]


def test_fetch_order_book(ex):
    ob = ex.fetch_order_book(SYMBOL, limit=10)
    assert 0 < len(ob["bids"]) <= 10 and 0 < len(ob["asks"]) <= 10
    assert ob["bids"][0][0] < ob["asks"][0][0]
    assert [b[0] for b in ob["bids"]] == sorted((b[0] for b in ob["bids"]), reverse=True)
    assert ob["nonce"] > 0


def test_fetch_trades(ex):
    trades = ex.fetch_trades(SYMBOL, limit=20)
    assert 0 < len(trades) <= 20
    for t in trades:
        assert t["symbol"] == SYMBOL and t["price"] > 0 and t["amount"] > 0
        assert t["side"] in ("buy", "sell")
    times = [t["timestamp"] for t in trades]
    assert times == sorted(times)
    since = ex.fetch_trades(SYMBOL, since=times[0], limit=5)
    assert since and since[0]["timestamp"] >= times[0]


def test_fetch_ohlcv(ex):
    bars = ex.fetch_ohlcv(SYMBOL, "1m", limit=5)
    assert 0 < len(bars) <= 5
    for ts, o, h, l, c, v in bars:
        assert ts % 60_000 == 0 and l <= min(o, c) and h >= max(o, c) and v >= 0
    seconds = ex.fetch_ohlcv(SYMBOL, "1s", limit=3)
    assert seconds and all(b[0] % 1000 == 0 for b in seconds)


def test_fetch_balance(ex):
    b = ex.fetch_balance()
    assert b["USDT"]["free"] > 0 and b["BTC"]["total"] > 0


def test_limit_order_lifecycle(ex):
    bid = ex.fetch_ticker(SYMBOL)["bid"]
    price = ex.price_to_precision(SYMBOL, bid * 0.9)
    o = ex.create_order(SYMBOL, "limit", "buy", 0.001, float(price))
    assert o["status"] == "open" and o["id"]
    got = ex.fetch_order(o["id"], SYMBOL)
    assert got["status"] == "open" and got["amount"] == 0.001 and got["price"] == float(price)
    open_ids = [x["id"] for x in ex.fetch_open_orders(SYMBOL)]
    assert o["id"] in open_ids
    c = ex.cancel_order(o["id"], SYMBOL)
    assert c["status"] == "canceled"
    assert ex.fetch_order(o["id"], SYMBOL)["status"] == "canceled"
    assert o["id"] not in [x["id"] for x in ex.fetch_open_orders(SYMBOL)]


def test_market_order_and_my_trades(ex):
    o = ex.create_order(SYMBOL, "market", "buy", 0.001)
    assert o["status"] == "closed" and o["filled"] == 0.001 and o["cost"] > 0
    assert o["trades"], "FULL response lists the fills"
    mine = ex.fetch_my_trades(SYMBOL)
    assert any(t["order"] == o["id"] for t in mine)
    s = ex.create_order(SYMBOL, "market", "sell", 0.001)
    assert s["status"] == "closed" and s["filled"] == 0.001


def test_quote_order_qty_market_orders(ex):
    buy = ex.create_market_buy_order_with_cost(SYMBOL, 100)
    assert buy["status"] == "closed" and 0 < buy["cost"] <= 100
    assert buy["filled"] > 0
    sell = ex.create_market_sell_order_with_cost(SYMBOL, 50)
    assert sell["status"] == "closed" and 0 < sell["cost"] <= 50
    params = ex.create_order(SYMBOL, "market", "buy", None, None, {"quoteOrderQty": 20})
    assert 0 < params["cost"] <= 20


def test_rejections_map_to_ccxt_errors(ex):
    # ccxt maps Binance's -1013 (filter failure) to BadRequest.
    with pytest.raises(ccxt.BadRequest, match="NOTIONAL"):
        ex.create_order(SYMBOL, "limit", "buy", 0.00001, 1.0)
    with pytest.raises(ccxt.OrderNotFound):
        ex.fetch_order("999999999", SYMBOL)
    with pytest.raises(ccxt.BadSymbol):
        ex.fetch_ticker("NOPE/USDT")


def test_fetch_time(ex):
    assert abs(ex.fetch_time() - time.time() * 1000) < 10_000
