"""The decoder against messages built by hand from the layout documented in
``exchanges/src/bus/codec.rs`` (binary v1) and against the JSON form."""

import struct
from decimal import Decimal

import pytest

from peregrine_bus import Bar, Book, CodecError, Status, Trade, decode, signal_json


def uvar(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def svar(v: int) -> bytes:
    return uvar((v << 1) ^ (v >> 63) if v < 0 else v << 1)


def dec(s: str) -> bytes:
    d = Decimal(s)
    sign, digits, exp = d.as_tuple()
    m = int("".join(map(str, digits)))
    return bytes([(-exp) | (0x80 if sign else 0)]) + uvar(m)


def head(kind: int, seq: int, exch: int, pub: int) -> bytes:
    return bytes([1, kind]) + uvar(seq) + svar(exch) + struct.pack("<q", pub)


def test_trade_keeps_exact_decimals_and_scale():
    msg = head(1, 5, 1_700_000_000_000_000_000, 1000) + dec("60000.50") + dec("0.0100") + b"\x01" + uvar(9)
    ev = decode(msg)
    assert ev.kind == "trade" and ev.seq == 5 and ev.pub_ts_ns == 1000
    assert ev.exch_ts_ns == 1_700_000_000_000_000_000
    assert ev.payload == Trade(Decimal("60000.50"), Decimal("0.0100"), "sell", 9)
    assert str(ev.payload.qty) == "0.0100"


def test_book_bar_status_and_negative_values():
    book = head(3, 2, -7, 0) + uvar(77) + uvar(1) + uvar(1) + dec("99.5") + dec("0") + dec("100.25") + dec("3")
    ev = decode(book)
    assert ev.exch_ts_ns == -7
    assert ev.payload == Book(77, [(Decimal("99.5"), Decimal("0"))], [(Decimal("100.25"), Decimal("3"))])
    bar = head(5, 1, 0, 0) + svar(60_000_000_000) + svar(1_000_000_000)
    bar += dec("1.5") + dec("2") + dec("-1") + dec("1.75") + dec("10") + uvar(4)
    b = decode(bar).payload
    assert b == Bar(60_000_000_000, 1_000_000_000, Decimal("1.5"), Decimal("2"), Decimal("-1"),
                    Decimal("1.75"), Decimal("10"), 4)
    assert decode(head(6, 3, 0, 0) + b"\x02").payload == Status("stale")


def test_malformed_messages_are_refused():
    good = head(6, 3, 0, 0) + b"\x02"
    for bad in [b"", b"\x02" + good[1:], good + b"\x00", good[:-1], head(9, 1, 0, 0)]:
        with pytest.raises(CodecError):
            decode(bad)


def test_json_form_and_signal_json():
    ev = decode(b'{"venue":"binance","symbol":"BTC-USDT","kind":"trade","price":"1.10","qty":"2",'
                b'"side":"buy","trade_id":"12","bus_seq":4,"pub_ts_ns":9}')
    assert ev.payload == Trade(Decimal("1.10"), Decimal("2"), "buy", 12) and ev.seq == 4
    with pytest.raises(CodecError):
        decode(b'{"kind":"trade","price":1.1,"qty":"2","side":"buy","bus_seq":1,"pub_ts_ns":1}')
    s = signal_json("mm", "score", Decimal("0.25"), {"bars": 3})
    assert b'"value": "0.25"' in s
    with pytest.raises(TypeError):
        signal_json("mm", "score", 0.25)
