"""Decoder of one bus message: binary version 1 (first byte 1) or JSON (first byte ``{``).

Binary v1, little-endian; ``uvar`` is unsigned LEB128, ``svar`` zigzag over ``uvar``, ``dec``
is one byte ``scale | 0x80 if negative`` then the mantissa as ``uvar`` (value =
mantissa / 10**scale)::

    u8 version (1) | u8 kind | uvar bus seq | svar exchange ns | i64 publish ns | payload

payloads: trade (dec price, dec qty, u8 side 0 buy/1 sell, uvar trade id); quote (dec bid_px,
bid_qty, ask_px, ask_qty, uvar update id); book_delta / book_snapshot (uvar venue seq, uvar
n_bids, uvar n_asks, levels dec price, dec qty); bar (svar start ns, svar timeframe ns, dec
open, high, low, close, volume, uvar trades); status (u8 0 connected, 1 disconnected,
2 stale, 3 resynced). Nothing may follow the payload.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from decimal import Decimal
from typing import List, Tuple, Union

VERSION = 1
KINDS = {1: "trade", 2: "quote", 3: "book_delta", 4: "book_snapshot", 5: "bar", 6: "status"}
STATUSES = {0: "connected", 1: "disconnected", 2: "stale", 3: "resynced"}


class CodecError(ValueError):
    """A message that is not a valid bus event."""


@dataclass(frozen=True)
class Trade:
    price: Decimal
    qty: Decimal
    side: str
    trade_id: int


@dataclass(frozen=True)
class Quote:
    bid_px: Decimal
    bid_qty: Decimal
    ask_px: Decimal
    ask_qty: Decimal
    update_id: int


@dataclass(frozen=True)
class Book:
    venue_seq: int
    bids: List[Tuple[Decimal, Decimal]] = field(default_factory=list)
    asks: List[Tuple[Decimal, Decimal]] = field(default_factory=list)


@dataclass(frozen=True)
class Bar:
    start_ns: int
    timeframe_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int


@dataclass(frozen=True)
class Status:
    status: str


Payload = Union[Trade, Quote, Book, Bar, Status]


@dataclass(frozen=True)
class BusEvent:
    kind: str
    seq: int
    exch_ts_ns: int
    pub_ts_ns: int
    payload: Payload


class _Reader:
    def __init__(self, b: bytes):
        self.b = b
        self.at = 0

    def u8(self) -> int:
        if self.at >= len(self.b):
            raise CodecError(f"message truncated at byte {self.at}")
        v = self.b[self.at]
        self.at += 1
        return v

    def uvar(self, max_bits: int = 64) -> int:
        v, shift = 0, 0
        while True:
            byte = self.u8()
            v |= (byte & 0x7F) << shift
            if byte & 0x80 == 0:
                break
            shift += 7
            if shift >= max_bits + 7:
                raise CodecError(f"malformed varint at byte {self.at}")
        if v >= 1 << max_bits:
            raise CodecError(f"malformed varint at byte {self.at}")
        return v

    def svar(self) -> int:
        z = self.uvar(64)
        return (z >> 1) ^ -(z & 1)

    def i64(self) -> int:
        if self.at + 8 > len(self.b):
            raise CodecError(f"message truncated at byte {self.at}")
        (v,) = struct.unpack_from("<q", self.b, self.at)
        self.at += 8
        return v

    def dec(self) -> Decimal:
        head = self.u8()
        scale = head & 0x7F
        m = self.uvar(96)
        if scale > 28 or (m == 0 and head & 0x80):
            raise CodecError(f"malformed decimal at byte {self.at}")
        sign = 1 if head & 0x80 else 0
        digits = tuple(int(c) for c in str(m))
        return Decimal((sign, digits, -scale))

    def levels(self) -> Book:
        seq = self.uvar()
        nb, na = self.uvar(), self.uvar()
        if nb + na > len(self.b):
            raise CodecError(f"{nb + na} levels announced, more than the message holds")
        bids = [(self.dec(), self.dec()) for _ in range(nb)]
        asks = [(self.dec(), self.dec()) for _ in range(na)]
        return Book(seq, bids, asks)


def _binary(b: bytes) -> BusEvent:
    r = _Reader(b)
    version = r.u8()
    if version != VERSION:
        raise CodecError(f"unsupported bus encoding version {version}")
    code = r.u8()
    kind = KINDS.get(code)
    if kind is None:
        raise CodecError(f"unknown event kind code {code}")
    seq = r.uvar()
    exch = r.svar()
    pub = r.i64()
    payload: Payload
    if kind == "trade":
        price, qty = r.dec(), r.dec()
        s = r.u8()
        if s > 1:
            raise CodecError(f"bad side code {s}")
        payload = Trade(price, qty, "buy" if s == 0 else "sell", r.uvar())
    elif kind == "quote":
        payload = Quote(r.dec(), r.dec(), r.dec(), r.dec(), r.uvar())
    elif kind in ("book_delta", "book_snapshot"):
        payload = r.levels()
    elif kind == "bar":
        start, tf = r.svar(), r.svar()
        o, h, lo, c, v = r.dec(), r.dec(), r.dec(), r.dec(), r.dec()
        payload = Bar(start, tf, o, h, lo, c, v, r.uvar())
    else:
        s = r.u8()
        if s not in STATUSES:
            raise CodecError(f"bad status code {s}")
        payload = Status(STATUSES[s])
    if r.at != len(b):
        raise CodecError(f"{len(b) - r.at} bytes after the payload")
    return BusEvent(kind, seq, exch, pub, payload)


def _d(v) -> Decimal:
    if not isinstance(v, str):
        raise CodecError(f"money must be a decimal string, got {v!r}")
    return Decimal(v)


def _json(b: bytes) -> BusEvent:
    try:
        o = json.loads(b)
    except ValueError as e:
        raise CodecError(f"bad JSON event: {e}") from e
    kind = o.get("kind")
    payload: Payload
    if kind == "trade":
        payload = Trade(_d(o["price"]), _d(o["qty"]), o["side"], int(o.get("trade_id") or 0))
    elif kind == "quote":
        payload = Quote(
            _d(o["bid_px"]), _d(o["bid_qty"]), _d(o["ask_px"]), _d(o["ask_qty"]),
            int(o.get("seq") or 0),
        )
    elif kind in ("book_delta", "book_snapshot"):
        lv = lambda side: [(_d(p), _d(q)) for p, q in o.get(side, [])]  # noqa: E731
        payload = Book(int(o.get("seq", 0)), lv("bids"), lv("asks"))
    elif kind == "bar":
        f = o["bar"]
        payload = Bar(
            int(f["start_ns"]), int(f["timeframe_ns"]), _d(f["open"]), _d(f["high"]),
            _d(f["low"]), _d(f["close"]), _d(f["volume"]), int(f.get("trades", 0)),
        )
    elif kind == "status":
        payload = Status(o["status"])
    else:
        raise CodecError(f"unknown kind {kind!r}")
    return BusEvent(kind, int(o["bus_seq"]), int(o.get("exch_ts_ns", 0)), int(o["pub_ts_ns"]), payload)


def decode(b: bytes) -> BusEvent:
    """One bus message (binary v1 or JSON) as a :class:`BusEvent`."""
    if not b:
        raise CodecError("empty bus message")
    if b[:1] == b"{":
        return _json(b)
    return _binary(b)
