"""Shared settings of the client conformance tests.

`tests/client_conformance.rs` starts `peregrine sim` and runs pytest here with the simulator's
base URLs and API key in the environment. Every client below is configured with nothing but
those base URLs, the key, and ordinary options (each one documented where it is set).
"""

import os

import pytest

REST_URL = os.environ.get("SIM_REST_URL", "")
WS_URL = os.environ.get("SIM_WS_URL", "")
API_KEY = os.environ.get("SIM_API_KEY", "")
API_SECRET = os.environ.get("SIM_API_SECRET", "")

SYMBOL = "BTC/USDT"  # ccxt's unified name of the simulator's BTCUSDT
VENUE_SYMBOL = "BTCUSDT"

# Every test waits at most this long for a stream message, seconds.
STREAM_TIMEOUT_S = 20


def pytest_collection_modifyitems(config, items):
    if not REST_URL or not WS_URL:
        skip = pytest.mark.skip(reason="SIM_REST_URL / SIM_WS_URL not set: run through tests/client_conformance.rs")
        for item in items:
            item.add_marker(skip)


def ccxt_config():
    """ccxt's constructor settings: the key and ordinary spot-only market options.

    - `defaultType: spot`: unified calls go to the spot API (/api/v3), not margin or futures.
    - `fetchMarkets: {types: [spot]}`: load_markets reads only /api/v3/exchangeInfo; by default
      ccxt also loads the USD-M and COIN-M futures exchangeInfo (fapi/dapi), which a spot venue
      does not serve.
    - `fetchMargins: False`: no /sapi margin pair lists while loading markets (spot only).
    - `fetchCurrencies: False`: no /sapi/v1/capital/config/getall (the wallet API, not part of
      the spot API); ccxt then derives currencies from the markets.
    """
    return {
        "apiKey": API_KEY,
        "secret": API_SECRET,
        "enableRateLimit": False,
        "options": {
            "defaultType": "spot",
            "fetchMarkets": {"types": ["spot"]},
            "fetchMargins": False,
            "fetchCurrencies": False,
        },
    }


def point_ccxt_at_sim(exchange):
    """Replaces ccxt's spot base URLs (REST public/private, websocket streams and WebSocket API)
    with the simulator's. Nothing else of the client is changed."""
    api = exchange.urls["api"]
    api["public"] = REST_URL + "/api/v3"
    api["private"] = REST_URL + "/api/v3"
    ws = api.get("ws")
    if isinstance(ws, dict):
        ws["spot"] = WS_URL + "/ws"
        if isinstance(ws.get("ws-api"), dict):
            ws["ws-api"]["spot"] = WS_URL + "/ws-api/v3"
    return exchange
