#!/usr/bin/env python3
"""Reference values for the native indicators (engine/src/indicators), computed independently
of them: with TA-Lib (the C library, through its Python wrapper) where TA-Lib defines the
indicator, and with plain numpy from the textbook definition where it does not (Keltner,
Donchian, Supertrend, VWAP).

Regenerate (the output is committed; the tests do not need Python):

    pip install TA-Lib==0.8.2 numpy==2.4.6
    python3 engine/tests/indicators/gen_reference.py > engine/tests/indicators/reference.json

The input is a deterministic OHLCV series (a seeded random walk with trending and ranging
stretches), so every warm-up rule and both signs of every move are exercised.
"""

import json
import math

import numpy as np
import talib

N = 400


def ohlcv():
    rng = np.random.default_rng(20261203)
    close = np.empty(N)
    high = np.empty(N)
    low = np.empty(N)
    openp = np.empty(N)
    x = 100.0
    for i in range(N):
        drift = 0.15 if (i // 80) % 2 == 0 else -0.1
        o = x
        x = max(1.0, x + drift + rng.normal(0.0, 1.0))
        span = abs(rng.normal(0.0, 0.8))
        openp[i] = o
        close[i] = x
        high[i] = max(o, x) + span * rng.random()
        low[i] = min(o, x) - span * rng.random()
    # A few flat bars (zero range, unchanged close) for the degenerate branches.
    for i in (150, 151, 152):
        openp[i] = high[i] = low[i] = close[i] = close[149]
    volume = np.round(rng.uniform(1.0, 50.0, N), 6)
    return openp, high, low, close, volume


def ema_sma_seeded(x, n):
    """EMA seeded with the SMA of its first n inputs (TA-Lib's default), factor 2/(n+1)."""
    out = np.full(len(x), np.nan)
    a = 2.0 / (n + 1)
    v = np.mean(x[:n])
    out[n - 1] = v
    for i in range(n, len(x)):
        v = v + a * (x[i] - v)
        out[i] = v
    return out


def keltner(high, low, close, n, atr_n, mult):
    mid = ema_sma_seeded(close, n)
    atr = talib.ATR(high, low, close, timeperiod=atr_n)
    return mid + mult * atr, mid, mid - mult * atr


def supertrend(high, low, close, n, mult):
    """Supertrend as TradingView defines it, on TA-Lib's (Wilder) ATR: basic bands
    hl2 +/- mult*ATR; the final upper band only moves down unless the previous close was above
    it, the final lower band only up unless the previous close was below it; the first ready
    bar is in the down trend (TradingView's convention); the trend turns up when the close
    rises above the final upper band and down when it falls below the final lower band. The
    value is the final lower band in an up trend, the final upper band in a down trend."""
    atr = talib.ATR(high, low, close, timeperiod=n)
    hl2 = (high + low) / 2.0
    value = np.full(N, np.nan)
    direction = np.full(N, np.nan)
    fu = fl = None
    up = None
    for i in range(N):
        if math.isnan(atr[i]):
            continue
        bu = hl2[i] + mult * atr[i]
        bl = hl2[i] - mult * atr[i]
        if fu is None:
            fu, fl = bu, bl
            up = False
        else:
            pc = close[i - 1]
            fu = bu if (bu < fu or pc > fu) else fu
            fl = bl if (bl > fl or pc < fl) else fl
            if up and close[i] < fl:
                up = False
            elif not up and close[i] > fu:
                up = True
        value[i] = fl if up else fu
        direction[i] = 1.0 if up else -1.0
    return value, direction


def vwap(close, volume):
    return np.cumsum(close * volume) / np.cumsum(volume)


def clean(a):
    return [None if math.isnan(v) else float(v) for v in a]


def main():
    o, h, l, c, v = ohlcv()
    ref = {}
    ref["sma_7"] = talib.SMA(c, 7)
    ref["ema_10"] = talib.EMA(c, 10)
    ref["wma_9"] = talib.WMA(c, 9)
    ref["rsi_14"] = talib.RSI(c, 14)
    ref["roc_10"] = talib.ROC(c, 10)
    ref["max_20"] = talib.MAX(c, 20)
    ref["min_20"] = talib.MIN(c, 20)
    ref["stddev_20"] = talib.STDDEV(c, 20, 1.0)
    bu, bm, bl = talib.BBANDS(c, 20, 2.0, 2.0, 0)
    ref["bbands_20_2_upper"], ref["bbands_20_2_middle"], ref["bbands_20_2_lower"] = bu, bm, bl
    ref["atr_14"] = talib.ATR(h, l, c, 14)
    m, s, hist = talib.MACD(c, 12, 26, 9)
    ref["macd_talib_12_26_9_macd"], ref["macd_talib_12_26_9_signal"], ref["macd_talib_12_26_9_hist"] = m, s, hist
    sk, sd = talib.STOCH(h, l, c, 14, 3, 0, 3, 0)
    ref["stoch_14_3_3_slowk"], ref["stoch_14_3_3_slowd"] = sk, sd
    fk, fd = talib.STOCHF(h, l, c, 14, 3, 0)
    ref["stochf_14_3_fastk"], ref["stochf_14_3_fastd"] = fk, fd
    ref["adx_14"] = talib.ADX(h, l, c, 14)
    ref["plus_di_14"] = talib.PLUS_DI(h, l, c, 14)
    ref["minus_di_14"] = talib.MINUS_DI(h, l, c, 14)
    ref["cci_20"] = talib.CCI(h, l, c, 20)
    ref["obv"] = talib.OBV(c, v)
    ku, km, kl = keltner(h, l, c, 20, 10, 2.0)
    ref["keltner_20_10_2_upper"], ref["keltner_20_10_2_middle"], ref["keltner_20_10_2_lower"] = ku, km, kl
    ref["donchian_20_upper"] = talib.MAX(h, 20)
    ref["donchian_20_lower"] = talib.MIN(l, 20)
    ref["donchian_20_middle"] = (ref["donchian_20_upper"] + ref["donchian_20_lower"]) / 2.0
    st, sdir = supertrend(h, l, c, 10, 3.0)
    ref["supertrend_10_3_value"], ref["supertrend_10_3_direction"] = st, sdir
    ref["vwap"] = vwap(c, v)
    out = {
        "generator": "engine/tests/indicators/gen_reference.py",
        "talib": talib.__version__,
        "numpy": np.__version__,
        "input": {"open": clean(o), "high": clean(h), "low": clean(l), "close": clean(c), "volume": clean(v)},
        "expected": {k: clean(a) for k, a in ref.items()},
    }
    print(json.dumps(out, indent=None, separators=(",", ":")))


if __name__ == "__main__":
    main()
