"""binance-connector (`binance.spot.Spot` REST client and the spot websocket stream client)
against `peregrine sim`, with only `base_url` / `stream_url` changed."""

import json
import threading
import time

import pytest
from binance.error import ClientError
from binance.spot import Spot
from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient

from conftest import API_KEY, API_SECRET, REST_URL, STREAM_TIMEOUT_S, VENUE_SYMBOL, WS_URL

SYM = VENUE_SYMBOL


@pytest.fixture(scope="module")
def client():
    return Spot(api_key=API_KEY, api_secret=API_SECRET, base_url=REST_URL)


def test_general(client):
    assert client.ping() == {}
    assert client.time()["serverTime"] > 0
    info = client.exchange_info(symbol=SYM)
    assert info["symbols"][0]["symbol"] == SYM
    assert info["symbols"][0]["quoteOrderQtyMarketAllowed"] is True


def test_market_data(client):
    d = client.depth(SYM, limit=5)
    assert len(d["bids"]) == 5 and d["lastUpdateId"] > 0
    trades = client.trades(SYM, limit=10)
    assert len(trades) == 10 and all(float(t["price"]) > 0 for t in trades)
    old = client.historical_trades(SYM, limit=3, fromId=trades[0]["id"])
    assert old[0]["id"] == trades[0]["id"]
    aggs = client.agg_trades(SYM, limit=10)
    assert aggs and all(a["f"] <= a["l"] for a in aggs)
    kl = client.klines(SYM, "1m", limit=3)
    assert kl and len(kl[0]) == 12
    start = kl[0][0]
    assert client.klines(SYM, "1m", startTime=start, limit=1)[0][0] == start
    assert client.ui_klines(SYM, "1s", limit=2)
    avg = client.avg_price(SYM)
    assert avg["mins"] == 5 and float(avg["price"]) > 0
    t24 = client.ticker_24hr(SYM)
    assert t24["symbol"] == SYM and t24["count"] > 0 and float(t24["lastPrice"]) > 0
    assert client.ticker_24hr(symbols=[SYM])[0]["symbol"] == SYM
    assert client.ticker_24hr()[0]["symbol"] == SYM
    assert "priceChange" not in client.ticker_24hr(SYM, type="MINI")
    assert float(client.ticker_price(SYM)["price"]) > 0
    assert client.ticker_price(symbols=[SYM])[0]["symbol"] == SYM
    bt = client.book_ticker(SYM)
    assert float(bt["bidPrice"]) < float(bt["askPrice"])
    assert client.book_ticker()[0]["symbol"] == SYM
    assert client.rolling_window_ticker(SYM, windowSize="1h")["symbol"] == SYM


def test_account_and_orders(client):
    acct = client.account()
    assert any(b["asset"] == "USDT" and float(b["free"]) > 0 for b in acct["balances"])
    assert client.new_order_test(SYM, "BUY", "LIMIT", timeInForce="GTC", quantity=0.001, price=30000) == {}
    rates = client.new_order_test(SYM, "BUY", "MARKET", quoteOrderQty=10, computeCommissionRates=True)
    assert rates["standardCommissionForOrder"]["taker"] == "0.00100000"
    with pytest.raises(ClientError) as e:
        client.new_order_test(SYM, "BUY", "LIMIT", timeInForce="GTC", quantity=0.001, price=30000.001)
    assert e.value.error_code == -1013
    bid = float(client.book_ticker(SYM)["bidPrice"])
    price = round(bid * 0.9, 2)
    o = client.new_order(SYM, "BUY", "LIMIT", timeInForce="GTC", quantity=0.001, price=price)
    assert o["status"] == "NEW"
    assert client.get_order(SYM, orderId=o["orderId"])["status"] == "NEW"
    assert any(x["orderId"] == o["orderId"] for x in client.get_open_orders(SYM))
    assert client.cancel_order(SYM, orderId=o["orderId"])["status"] == "CANCELED"
    m = client.new_order(SYM, "BUY", "MARKET", quoteOrderQty=25)
    assert m["status"] == "FILLED" and float(m["cummulativeQuoteQty"]) <= 25
    assert m["origQuoteOrderQty"] == "25.00000000"
    mine = client.my_trades(SYM, orderId=m["orderId"])
    assert mine and all(t["orderId"] == m["orderId"] for t in mine)
    assert client.get_orders(SYM)[-1]["orderId"] == m["orderId"]
    usage = {u["interval"]: u for u in client.get_order_rate_limit()}
    # The 10 s window may have turned since the orders; the day's count has them all.
    assert usage["SECOND"]["rateLimitType"] == "ORDERS" and usage["SECOND"]["count"] <= usage["DAY"]["count"]
    assert usage["DAY"]["rateLimitType"] == "ORDERS" and usage["DAY"]["count"] >= 2


def test_unknown_path_is_a_binance_error(client):
    with pytest.raises(ClientError) as e:
        client.query("/api/v3/nope")
    assert e.value.status_code == 404 and e.value.error_code == -1020


def test_websocket_streams():
    """Every documented stream kind, subscribed through the client's own helpers."""
    got = {}
    done = threading.Event()
    wanted = {
        "aggTrade", "trade", "kline", "24hrTicker", "24hrMiniTicker", "bookTicker",
        "depthUpdate", "partialDepth", "avgPrice", "tickerArr",
    }

    def on_message(_, raw):
        msg = json.loads(raw)
        if isinstance(msg, list):
            kind = "tickerArr"
        elif "lastUpdateId" in msg:
            kind = "partialDepth"
        elif "e" in msg:
            kind = msg["e"]
        elif "u" in msg and "b" in msg:
            kind = "bookTicker"
        else:
            return  # subscription acks
        got.setdefault(kind, msg)
        if wanted <= set(got):
            done.set()

    ws = SpotWebsocketStreamClient(stream_url=WS_URL, on_message=on_message)
    try:
        ws.agg_trade(symbol=SYM)
        ws.trade(symbol=SYM)
        ws.kline(symbol=SYM, interval="1s")
        ws.ticker(symbol=SYM)
        ws.mini_ticker(symbol=SYM)
        ws.ticker()
        ws.book_ticker(symbol=SYM)
        ws.diff_book_depth(symbol=SYM, speed=1000)
        ws.partial_book_depth(symbol=SYM, level=5, speed=100)
        # The client has no helper for @avgPrice; its generic subscribe sends the stream name.
        ws.subscribe(SYM.lower() + "@avgPrice")
        assert done.wait(STREAM_TIMEOUT_S), f"missing {wanted - set(got)}"
    finally:
        ws.stop()
    assert got["aggTrade"]["s"] == SYM and got["kline"]["k"]["i"] == "1s"
    assert len(got["partialDepth"]["bids"]) == 5
    assert got["avgPrice"]["i"] == "5m"
    assert got["tickerArr"][0]["e"] == "24hrTicker"


def test_combined_stream_client():
    got = []
    done = threading.Event()

    def on_message(_, raw):
        msg = json.loads(raw)
        if "stream" in msg:
            got.append(msg["stream"])
            if {"btcusdt@depth5@1000ms", "btcusdt@kline_1m"} <= set(got):
                done.set()

    ws = SpotWebsocketStreamClient(stream_url=WS_URL, on_message=on_message, is_combined=True)
    try:
        ws.partial_book_depth(symbol=SYM, level=5, speed=1000)
        ws.kline(symbol=SYM, interval="1m")
        assert done.wait(STREAM_TIMEOUT_S), f"got only {set(got)}"
    finally:
        ws.stop()
    time.sleep(0.1)
