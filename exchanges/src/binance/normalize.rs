//! Binance spot market-data normalizer: websocket frames to [`Tick`]s.
//!
//! Accepts combined-stream frames (`{"stream":"btcusdt@trade","data":{...}}`) and raw payloads
//! (`{"e":"trade",...}`), for the `trade`, `bookTicker` and `depthUpdate` streams, plus the
//! control frames a Binance market-data socket sends (`{"result":null,"id":1}` and
//! `{"code":..,"msg":..}`).
//!
//! One pass over the frame with serde, borrowing every string from the input (no
//! `serde_json::Value`, no per-frame allocation once the level scratch buffer has grown), and
//! exact decimals via `Decimal::from_str_exact`. The payload kind is taken from `e` when
//! present, else from the stream name, else from the shape (a `bookTicker` has no `e`).

use std::fmt;
use std::sync::Arc;

use peregrine_engine::tick::{BookDelta, Quote, Tick, TickKind, Trade};
use peregrine_engine::types::{InstrumentId, Instruments, Price, Qty, Side};
use rust_decimal::Decimal;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Why a frame could not be normalized. Names the field and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    /// Not valid JSON, or a field of the wrong JSON type.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A field the payload kind requires is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A number (decimal string or integer) could not be read exactly.
    #[error("field `{field}`: bad number {value:?}")]
    BadNumber {
        /// The Binance field name.
        field: &'static str,
        /// The offending text.
        value: String,
    },
    /// A field has a value that makes no sense (negative price, time overflow, ...).
    #[error("field `{field}`: {problem}")]
    Invalid {
        /// The Binance field name.
        field: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// The symbol is not in the instrument registry.
    #[error("unknown symbol {0:?}")]
    UnknownSymbol(String),
    /// A well-formed payload of a kind this normalizer does not handle.
    #[error("unsupported event {0:?}")]
    Unsupported(String),
}

/// The `U`/`u` header of a `depthUpdate`, for the book sequencer ([`crate::book_sync`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthHeader {
    /// The instrument.
    pub instrument: InstrumentId,
    /// First update id in the event (`U`).
    pub first_update_id: u64,
    /// Final update id in the event (`u`).
    pub final_update_id: u64,
    /// Event time (`E`), ns since the epoch.
    pub exch_ts_ns: i64,
}

/// A control frame on a market-data socket: not market data, not an error of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control<'a> {
    /// Reply to a request (`{"result":...,"id":...}`); `id` when it was an integer.
    Response {
        /// The request id, when it was an integer.
        id: Option<i64>,
    },
    /// An error reported by the venue (`{"code":..,"msg":..}`).
    Error {
        /// Binance's error code.
        code: i64,
        /// Binance's message.
        msg: &'a str,
    },
}

/// What a normalized frame was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A `trade`: one [`TickKind::Trade`] was emitted.
    Trade,
    /// A `bookTicker`: one [`TickKind::Quote`] was emitted.
    Quote,
    /// A `depthUpdate`: one [`TickKind::BookDelta`] per level was emitted (the last with
    /// `END_OF_BATCH`); the header goes to the book sequencer.
    Depth(DepthHeader),
    /// A control frame; nothing was emitted.
    Control(Control<'a>),
}

/// The normalizer for one Binance market-data connection. Holds a reusable scratch buffer for
/// depth levels, so it takes `&mut self`.
#[derive(Debug)]
pub struct Normalizer {
    instruments: Arc<Instruments>,
    /// Small registries are searched linearly (cheaper than hashing a short symbol).
    symbols: Vec<(Box<str>, InstrumentId)>,
    levels: Vec<(Side, Price, Qty)>,
}

/// Up to this many instruments, symbols are resolved by a linear scan.
const LINEAR_SYMBOLS: usize = 16;

impl Normalizer {
    /// A normalizer resolving symbols through `instruments`: its primary venue's
    /// instruments (Binance's; other venues in the registry are not Binance's symbols).
    pub fn new(instruments: Arc<Instruments>) -> Self {
        let primary = instruments.primary_venue().unwrap_or_default();
        let own = || instruments.iter().filter(|(_, s)| s.venue == primary);
        let symbols = if own().count() <= LINEAR_SYMBOLS {
            own()
                .map(|(id, spec)| (spec.venue_symbol.as_str().into(), id))
                .collect()
        } else {
            Vec::new()
        };
        Self {
            instruments,
            symbols,
            levels: Vec::with_capacity(64),
        }
    }

    /// The instrument registry this normalizer resolves against.
    pub fn instruments(&self) -> &Arc<Instruments> {
        &self.instruments
    }

    /// Normalizes one text frame received at `recv_ns` ([`peregrine_engine::clock::Clock::now_ns`]
    /// taken when the frame arrived), calling `emit` for every tick. Nothing is emitted when an
    /// error is returned.
    pub fn normalize<'a, F: FnMut(Tick)>(
        &mut self,
        frame: &'a str,
        recv_ns: u64,
        mut emit: F,
    ) -> Result<Frame<'a>, NormalizeError> {
        self.levels.clear();
        let mut fields = Fields::default();
        let mut de = serde_json::Deserializer::from_str(frame);
        let parsed = FrameSeed {
            fields: &mut fields,
            levels: &mut self.levels,
            nested: false,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end());
        if let Err(e) = parsed {
            return Err(fields
                .error
                .take()
                .unwrap_or_else(|| NormalizeError::Malformed(e.to_string())));
        }
        if let Some(err) = fields.error.take() {
            return Err(err);
        }
        self.build(&fields, recv_ns, &mut emit)
    }

    fn build<'a, F: FnMut(Tick)>(
        &self,
        f: &Fields<'a>,
        recv_ns: u64,
        emit: &mut F,
    ) -> Result<Frame<'a>, NormalizeError> {
        if !f.has_data {
            if let (Some(code), Some(msg)) = (f.code, f.msg) {
                return Ok(Frame::Control(Control::Error { code, msg }));
            }
            if f.has_result {
                return Ok(Frame::Control(Control::Response { id: f.id }));
            }
        }
        match self.kind(f)? {
            Kind::Trade => self.trade(f, recv_ns, emit),
            Kind::BookTicker => self.book_ticker(f, recv_ns, emit),
            Kind::Depth => self.depth(f, recv_ns, emit),
        }
    }

    fn kind(&self, f: &Fields<'_>) -> Result<Kind, NormalizeError> {
        if let Some(e) = f.event {
            return match e {
                "trade" => Ok(Kind::Trade),
                "depthUpdate" => Ok(Kind::Depth),
                "bookTicker" => Ok(Kind::BookTicker),
                other => Err(NormalizeError::Unsupported(other.to_string())),
            };
        }
        if let Some(stream) = f.stream {
            let kind = stream.split_once('@').map(|(_, k)| k).unwrap_or("");
            return match kind {
                "bookTicker" => Ok(Kind::BookTicker),
                "trade" => Ok(Kind::Trade),
                k if k == "depth" || k.starts_with("depth@") => Ok(Kind::Depth),
                _ => Err(NormalizeError::Unsupported(stream.to_string())),
            };
        }
        if matches!((f.b, f.a), (Some(Ba::Str(_)), Some(Ba::Str(_)))) {
            return Ok(Kind::BookTicker);
        }
        Err(NormalizeError::MissingField("e"))
    }

    fn instrument(&self, f: &Fields<'_>) -> Result<InstrumentId, NormalizeError> {
        let s = f.symbol.ok_or(NormalizeError::MissingField("s"))?;
        let found = if self.symbols.is_empty() {
            self.instruments.by_venue_symbol(s)
        } else {
            self.symbols
                .iter()
                .find(|(sym, _)| **sym == *s)
                .map(|(_, id)| *id)
        };
        found.ok_or_else(|| NormalizeError::UnknownSymbol(s.to_string()))
    }

    fn trade<'a, F: FnMut(Tick)>(
        &self,
        f: &Fields<'a>,
        recv_ns: u64,
        emit: &mut F,
    ) -> Result<Frame<'a>, NormalizeError> {
        let instrument = self.instrument(f)?;
        let price = decimal("p", f.p.ok_or(NormalizeError::MissingField("p"))?)?;
        let qty = decimal("q", f.q.ok_or(NormalizeError::MissingField("q"))?)?;
        let trade_id = f.t.ok_or(NormalizeError::MissingField("t"))?;
        let maker_is_buyer = f.m.ok_or(NormalizeError::MissingField("m"))?;
        let ms = match (f.trade_time, f.event_time) {
            (Some(t), _) => ("T", t),
            (None, Some(e)) => ("E", e),
            (None, None) => return Err(NormalizeError::MissingField("T")),
        };
        let exch_ts_ns = ms_to_ns(ms.0, ms.1)?;
        // `m` = the buyer was the maker, so the aggressor sold.
        let side = if maker_is_buyer {
            Side::Sell
        } else {
            Side::Buy
        };
        emit(Tick {
            instrument,
            exch_ts_ns,
            recv_ns,
            kind: TickKind::Trade(Trade {
                price,
                qty,
                side,
                trade_id,
            }),
        });
        Ok(Frame::Trade)
    }

    fn book_ticker<'a, F: FnMut(Tick)>(
        &self,
        f: &Fields<'a>,
        recv_ns: u64,
        emit: &mut F,
    ) -> Result<Frame<'a>, NormalizeError> {
        let instrument = self.instrument(f)?;
        let bid_px = decimal("b", ba_str("b", f.b)?)?;
        let ask_px = decimal("a", ba_str("a", f.a)?)?;
        let bid_qty = decimal("B", f.big_b.ok_or(NormalizeError::MissingField("B"))?)?;
        let ask_qty = decimal("A", f.big_a.ok_or(NormalizeError::MissingField("A"))?)?;
        let update_id = f.u.ok_or(NormalizeError::MissingField("u"))?;
        let exch_ts_ns = match f.event_time {
            Some(e) => ms_to_ns("E", e)?,
            None => 0,
        };
        emit(Tick {
            instrument,
            exch_ts_ns,
            recv_ns,
            kind: TickKind::Quote(Quote {
                bid_px,
                bid_qty,
                ask_px,
                ask_qty,
                update_id,
            }),
        });
        Ok(Frame::Quote)
    }

    fn depth<'a, F: FnMut(Tick)>(
        &self,
        f: &Fields<'a>,
        recv_ns: u64,
        emit: &mut F,
    ) -> Result<Frame<'a>, NormalizeError> {
        let instrument = self.instrument(f)?;
        let first = f.big_u.ok_or(NormalizeError::MissingField("U"))?;
        let last = f.u.ok_or(NormalizeError::MissingField("u"))?;
        if first > last {
            return Err(NormalizeError::Invalid {
                field: "U",
                problem: "greater than u",
            });
        }
        if !matches!(f.b, Some(Ba::Levels)) {
            return Err(NormalizeError::MissingField("b"));
        }
        if !matches!(f.a, Some(Ba::Levels)) {
            return Err(NormalizeError::MissingField("a"));
        }
        let exch_ts_ns = ms_to_ns("E", f.event_time.ok_or(NormalizeError::MissingField("E"))?)?;
        let n = self.levels.len();
        for (i, &(side, price, qty)) in self.levels.iter().enumerate() {
            let flags = if i + 1 == n {
                BookDelta::END_OF_BATCH
            } else {
                0
            };
            emit(Tick {
                instrument,
                exch_ts_ns,
                recv_ns,
                kind: TickKind::BookDelta(BookDelta {
                    side,
                    price,
                    qty,
                    seq: last,
                    flags,
                }),
            });
        }
        Ok(Frame::Depth(DepthHeader {
            instrument,
            first_update_id: first,
            final_update_id: last,
            exch_ts_ns,
        }))
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Trade,
    BookTicker,
    Depth,
}

/// Parses an exact, non-negative decimal.
pub(crate) fn decimal(field: &'static str, s: &str) -> Result<Decimal, NormalizeError> {
    let d = Decimal::from_str_exact(s).map_err(|_| NormalizeError::BadNumber {
        field,
        value: s.to_string(),
    })?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(NormalizeError::Invalid {
            field,
            problem: "negative",
        });
    }
    Ok(d)
}

fn ms_to_ns(field: &'static str, ms: i64) -> Result<i64, NormalizeError> {
    ms.checked_mul(1_000_000).ok_or(NormalizeError::Invalid {
        field,
        problem: "time overflows",
    })
}

fn ba_str<'a>(field: &'static str, v: Option<Ba<'a>>) -> Result<&'a str, NormalizeError> {
    match v {
        Some(Ba::Str(s)) => Ok(s),
        Some(_) => Err(NormalizeError::Invalid {
            field,
            problem: "expected a decimal string",
        }),
        None => Err(NormalizeError::MissingField(field)),
    }
}

/// `b`/`a` mean different things per payload: order ids (trade), prices (bookTicker), level
/// arrays (depthUpdate; the levels go to the scratch buffer).
#[derive(Clone, Copy, Debug)]
enum Ba<'a> {
    Id,
    Str(&'a str),
    Levels,
}

/// Everything one pass collects, from the envelope and the payload alike (their keys don't
/// collide).
#[derive(Default)]
struct Fields<'a> {
    stream: Option<&'a str>,
    has_data: bool,
    has_result: bool,
    id: Option<i64>,
    code: Option<i64>,
    msg: Option<&'a str>,
    event: Option<&'a str>,
    event_time: Option<i64>,
    trade_time: Option<i64>,
    symbol: Option<&'a str>,
    t: Option<u64>,
    p: Option<&'a str>,
    q: Option<&'a str>,
    m: Option<bool>,
    u: Option<u64>,
    big_u: Option<u64>,
    b: Option<Ba<'a>>,
    a: Option<Ba<'a>>,
    big_b: Option<&'a str>,
    big_a: Option<&'a str>,
    /// A typed error raised inside serde (a bad level number); wins over serde's message.
    error: Option<NormalizeError>,
}

/// The keys we look at; everything else is skipped.
enum Key {
    Stream,
    Data,
    Result,
    Id,
    Code,
    Msg,
    LowerE,
    UpperE,
    UpperT,
    S,
    LowerT,
    P,
    Q,
    M,
    LowerU,
    UpperU,
    LowerB,
    LowerA,
    UpperB,
    UpperA,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                // Payload keys are one byte: dispatch on the byte, not on string compares.
                if let [b] = v.as_bytes() {
                    return Ok(match b {
                        b'e' => Key::LowerE,
                        b'E' => Key::UpperE,
                        b'T' => Key::UpperT,
                        b's' => Key::S,
                        b't' => Key::LowerT,
                        b'p' => Key::P,
                        b'q' => Key::Q,
                        b'm' => Key::M,
                        b'u' => Key::LowerU,
                        b'U' => Key::UpperU,
                        b'b' => Key::LowerB,
                        b'a' => Key::LowerA,
                        b'B' => Key::UpperB,
                        b'A' => Key::UpperA,
                        _ => Key::Other,
                    });
                }
                Ok(match v {
                    "stream" => Key::Stream,
                    "data" => Key::Data,
                    "result" => Key::Result,
                    "id" => Key::Id,
                    "code" => Key::Code,
                    "msg" => Key::Msg,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// Deserializes one JSON object (the frame, or the envelope's `data`) into [`Fields`].
struct FrameSeed<'f, 'a, 'l> {
    fields: &'f mut Fields<'a>,
    levels: &'l mut Vec<(Side, Price, Qty)>,
    nested: bool,
}

impl<'de, 'f, 'l> DeserializeSeed<'de> for FrameSeed<'f, 'de, 'l> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'f, 'l> Visitor<'de> for FrameSeed<'f, 'de, 'l> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        let fl = self.fields;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Stream if !self.nested => fl.stream = Some(map.next_value()?),
                Key::Data if !self.nested => {
                    fl.has_data = true;
                    map.next_value_seed(FrameSeed {
                        fields: &mut *fl,
                        levels: &mut *self.levels,
                        nested: true,
                    })?;
                }
                Key::Result if !self.nested => {
                    map.next_value::<IgnoredAny>()?;
                    fl.has_result = true;
                }
                Key::Id if !self.nested => fl.id = map.next_value::<LenientId>()?.0,
                Key::Code if !self.nested => fl.code = Some(map.next_value()?),
                Key::Msg if !self.nested => fl.msg = Some(map.next_value()?),
                Key::LowerE => fl.event = Some(map.next_value()?),
                Key::UpperE => fl.event_time = Some(map.next_value()?),
                Key::UpperT => fl.trade_time = Some(map.next_value()?),
                Key::S => fl.symbol = Some(map.next_value()?),
                Key::LowerT => fl.t = Some(map.next_value()?),
                Key::P => fl.p = Some(map.next_value()?),
                Key::Q => fl.q = Some(map.next_value()?),
                Key::M => fl.m = Some(map.next_value()?),
                Key::LowerU => fl.u = Some(map.next_value()?),
                Key::UpperU => fl.big_u = Some(map.next_value()?),
                Key::UpperB => fl.big_b = Some(map.next_value()?),
                Key::UpperA => fl.big_a = Some(map.next_value()?),
                Key::LowerB => {
                    fl.b = Some(map.next_value_seed(BaSeed {
                        side: Side::Buy,
                        field: "b",
                        levels: &mut *self.levels,
                        error: &mut fl.error,
                    })?)
                }
                Key::LowerA => {
                    fl.a = Some(map.next_value_seed(BaSeed {
                        side: Side::Sell,
                        field: "a",
                        levels: &mut *self.levels,
                        error: &mut fl.error,
                    })?)
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A request id: an integer, a string or null. Only integers are kept.
struct LenientId(Option<i64>);

impl<'de> de::Deserialize<'de> for LenientId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LenientId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer, a string or null")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LenientId, E> {
                Ok(LenientId(Some(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LenientId, E> {
                Ok(LenientId(i64::try_from(v).ok()))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<LenientId, E> {
                Ok(LenientId(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientId, E> {
                Ok(LenientId(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads a `b`/`a` value of whichever shape it has; levels go straight to the scratch buffer.
struct BaSeed<'l, 'e> {
    side: Side,
    field: &'static str,
    levels: &'l mut Vec<(Side, Price, Qty)>,
    error: &'e mut Option<NormalizeError>,
}

impl<'de> DeserializeSeed<'de> for BaSeed<'_, '_> {
    type Value = Ba<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Ba<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BaSeed<'_, '_> {
    type Value = Ba<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an order id, a decimal string or an array of [price, qty] levels")
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Ba<'de>, E> {
        Ok(Ba::Id)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Ba<'de>, E> {
        Ok(Ba::Id)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Ba<'de>, E> {
        Ok(Ba::Str(v))
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Ba<'de>, S::Error> {
        while let Some(level) = seq.next_element::<Level<'de>>()? {
            let parsed =
                decimal(self.field, level.0).and_then(|p| Ok((p, decimal(self.field, level.1)?)));
            match parsed {
                Ok((price, qty)) => self.levels.push((self.side, price, qty)),
                Err(e) => {
                    let msg = e.to_string();
                    *self.error = Some(e);
                    return Err(de::Error::custom(msg));
                }
            }
        }
        Ok(Ba::Levels)
    }
}

/// One `[price, qty]` level (extra trailing elements, as in old payloads, are skipped).
struct Level<'a>(&'a str, &'a str);

impl<'de> de::Deserialize<'de> for Level<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Level<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a [price, qty] pair of decimal strings")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Level<'de>, S::Error> {
                let p = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let q = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Level(p, q))
            }
        }
        d.deserialize_seq(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_engine::types::InstrumentSpec;
    use rust_decimal_macros::dec;

    fn registry() -> Arc<Instruments> {
        let mut r = Instruments::new();
        for s in ["BTC-USDT", "BNB-BTC"] {
            r.intern(
                InstrumentSpec::from_canonical("binance", s, dec!(0.01), dec!(0.00001)).unwrap(),
            );
        }
        Arc::new(r)
    }

    fn run(frame: &str) -> (Result<Frame<'_>, NormalizeError>, Vec<Tick>) {
        let mut n = Normalizer::new(registry());
        let mut out = Vec::new();
        let r = n.normalize(frame, 42, |t| out.push(t));
        (r, out)
    }

    // Shapes from Binance's "WebSocket Streams for Binance" documentation.
    const TRADE: &str = r#"{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}"#;
    const BOOK_TICKER: &str = r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;
    const DEPTH: &str = r#"{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"],["0.0027","0"]]}"#;

    #[test]
    fn raw_trade_aggressor_sold_when_buyer_is_maker() {
        let (r, ticks) = run(TRADE);
        assert_eq!(r, Ok(Frame::Trade));
        assert_eq!(
            ticks,
            vec![Tick {
                instrument: InstrumentId(1),
                exch_ts_ns: 1_672_515_782_136_000_000,
                recv_ns: 42,
                kind: TickKind::Trade(Trade {
                    price: dec!(0.001),
                    qty: dec!(100),
                    side: Side::Sell,
                    trade_id: 12345
                }),
            }]
        );
        let buyer_taker = TRADE.replace(r#""m":true"#, r#""m":false"#);
        let (_, ticks) = run(&buyer_taker);
        assert!(matches!(
            ticks[0].kind,
            TickKind::Trade(Trade {
                side: Side::Buy,
                ..
            })
        ));
    }

    #[test]
    fn combined_trade_with_order_ids_in_b_and_a() {
        let f = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":7,"p":"43000.10","q":"0.5","b":88,"a":50,"T":2,"m":false,"M":true}}"#;
        let (r, ticks) = run(f);
        assert_eq!(r, Ok(Frame::Trade));
        assert_eq!(ticks[0].instrument, InstrumentId(0));
        assert_eq!(ticks[0].exch_ts_ns, 2_000_000);
    }

    #[test]
    fn book_ticker_raw_by_shape_and_combined_by_stream_name() {
        let registry = {
            let mut r = Instruments::new();
            r.intern(
                InstrumentSpec::from_canonical("binance", "BNB-USDT", dec!(0.01), dec!(0.01))
                    .unwrap(),
            );
            Arc::new(r)
        };
        let mut n = Normalizer::new(registry);
        let mut out = Vec::new();
        assert_eq!(
            n.normalize(BOOK_TICKER, 1, |t| out.push(t)),
            Ok(Frame::Quote)
        );
        let combined = format!(r#"{{"stream":"bnbusdt@bookTicker","data":{BOOK_TICKER}}}"#);
        assert_eq!(n.normalize(&combined, 1, |t| out.push(t)), Ok(Frame::Quote));
        assert_eq!(out[0], out[1]);
        assert_eq!(
            out[0].kind,
            TickKind::Quote(Quote {
                bid_px: dec!(25.3519),
                bid_qty: dec!(31.21),
                ask_px: dec!(25.3652),
                ask_qty: dec!(40.66),
                update_id: 400900217,
            })
        );
        assert_eq!(out[0].exch_ts_ns, 0);
    }

    #[test]
    fn depth_update_one_delta_per_level_end_of_batch_on_last() {
        let combined = format!(r#"{{"stream":"bnbbtc@depth@100ms","data":{DEPTH}}}"#);
        for f in [DEPTH, combined.as_str()] {
            let (r, ticks) = run(f);
            assert_eq!(
                r,
                Ok(Frame::Depth(DepthHeader {
                    instrument: InstrumentId(1),
                    first_update_id: 157,
                    final_update_id: 160,
                    exch_ts_ns: 1_672_515_782_136_000_000,
                }))
            );
            let deltas: Vec<BookDelta> = ticks
                .iter()
                .map(|t| match t.kind {
                    TickKind::BookDelta(d) => d,
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(deltas.len(), 3);
            assert_eq!(
                (deltas[0].side, deltas[0].price, deltas[0].qty),
                (Side::Buy, dec!(0.0024), dec!(10))
            );
            assert_eq!((deltas[2].side, deltas[2].qty), (Side::Sell, dec!(0)));
            assert!(deltas.iter().all(|d| d.seq == 160));
            assert_eq!(deltas.iter().filter(|d| d.is_end_of_batch()).count(), 1);
            assert!(deltas[2].is_end_of_batch());
        }
    }

    #[test]
    fn empty_depth_update_still_reports_its_header() {
        let f = r#"{"e":"depthUpdate","E":1,"s":"BNBBTC","U":5,"u":5,"b":[],"a":[]}"#;
        let (r, ticks) = run(f);
        assert!(matches!(r, Ok(Frame::Depth(h)) if h.final_update_id == 5));
        assert!(ticks.is_empty());
    }

    #[test]
    fn control_frames_are_recognized() {
        assert_eq!(
            run(r#"{"result":null,"id":1}"#).0,
            Ok(Frame::Control(Control::Response { id: Some(1) }))
        );
        assert_eq!(
            run(r#"{"result":["btcusdt@trade"],"id":"x"}"#).0,
            Ok(Frame::Control(Control::Response { id: None }))
        );
        assert_eq!(
            run(r#"{"code":2,"msg":"Invalid request: unknown variant"}"#).0,
            Ok(Frame::Control(Control::Error {
                code: 2,
                msg: "Invalid request: unknown variant"
            }))
        );
    }

    #[test]
    fn malformed_frames_are_typed_errors() {
        let cases: Vec<(String, NormalizeError)> = vec![
            (
                TRADE.replace(r#""p":"0.001""#, r#""p":"0.0x1""#),
                NormalizeError::BadNumber {
                    field: "p",
                    value: "0.0x1".into(),
                },
            ),
            (
                TRADE.replace(r#""q":"100""#, r#""q":"-1""#),
                NormalizeError::Invalid {
                    field: "q",
                    problem: "negative",
                },
            ),
            (
                TRADE.replace(r#""s":"BNBBTC""#, r#""s":"DOGEUSDT""#),
                NormalizeError::UnknownSymbol("DOGEUSDT".into()),
            ),
            (
                TRADE.replace(r#","t":12345"#, ""),
                NormalizeError::MissingField("t"),
            ),
            (
                DEPTH.replace(r#"["0.0026","100"]"#, r#"["0.0026","1e3"]"#),
                NormalizeError::BadNumber {
                    field: "a",
                    value: "1e3".into(),
                },
            ),
            (
                DEPTH.replace(r#""U":157"#, r#""U":161"#),
                NormalizeError::Invalid {
                    field: "U",
                    problem: "greater than u",
                },
            ),
            (
                BOOK_TICKER
                    .replace(r#""s":"BNBUSDT""#, r#""s":"BNBBTC""#)
                    .replace(r#","A":"40.66000000""#, ""),
                NormalizeError::MissingField("A"),
            ),
            (
                r#"{"e":"aggTrade","s":"BNBBTC"}"#.to_string(),
                NormalizeError::Unsupported("aggTrade".into()),
            ),
            (
                r#"{"stream":"bnbbtc@kline_1m","data":{"s":"BNBBTC"}}"#.to_string(),
                NormalizeError::Unsupported("bnbbtc@kline_1m".into()),
            ),
            (
                r#"{"s":"BNBBTC"}"#.to_string(),
                NormalizeError::MissingField("e"),
            ),
        ];
        for (frame, want) in cases {
            let (r, ticks) = run(&frame);
            assert_eq!(r, Err(want), "{frame}");
            assert!(ticks.is_empty());
        }
        for bad in [
            "",
            "[]",
            "{",
            "null",
            r#"{"e":"trade","t":"x"}"#,
            r#"{"e":"depthUpdate","b":[["1"]]}"#,
            "{} x",
        ] {
            assert!(
                matches!(run(bad).0, Err(NormalizeError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn scratch_buffer_is_reset_between_frames() {
        let mut n = Normalizer::new(registry());
        let mut count = 0;
        let bad = DEPTH.replace(r#""0.0027","0""#, r#""0.0027","x""#);
        assert!(n.normalize(&bad, 0, |_| count += 1).is_err());
        assert_eq!(count, 0);
        assert!(n.normalize(DEPTH, 0, |_| count += 1).is_ok());
        assert_eq!(count, 3);
    }
}
