//! The test venue's wire formats: what Bybit v5, OKX v5, Kraken v2 and Coinbase Advanced
//! Trade send (acks, book snapshots and deltas with their sequence fields and checksums, BBO,
//! trades, heartbeats), in the shapes of the documented samples the normalizers' tests use
//! (`exchanges/tests/SOURCES.md`).
//!
//! The checksums are computed here independently of `book_sync::checksum`: by plain string
//! building from the exact text this server puts on the wire, and a bitwise CRC-32, so a bug
//! in the production checksum cannot hide itself.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde_json::Value;

use super::Levels;
use crate::venue::Venue;

/// A level as it goes on the wire: `(price text, qty text)`.
type TextLevel = (String, String);

/// A venue's per-symbol book sequence state (kept across connections, like the venue's).
#[derive(Debug, Clone)]
pub(crate) struct SeqState {
    /// Bybit `u` (per topic, +1 per delta).
    pub u: u64,
    /// Bybit `seq` (cross sequence: increasing, not contiguous).
    pub cross: u64,
    /// OKX `seqId` of the last message (increasing, not contiguous).
    pub seq_id: i64,
}

impl Default for SeqState {
    fn default() -> Self {
        Self {
            u: 1000,
            cross: 22_520_573_250,
            seq_id: 123_456,
        }
    }
}

/// One public trade the server printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TradeRec {
    /// Price.
    pub price: Decimal,
    /// Quantity.
    pub qty: Decimal,
    /// Taker (aggressor) side: true for buy.
    pub taker_buys: bool,
    /// Numeric trade id.
    pub id: u64,
}

/// A symbol as this venue spells and prints it.
#[derive(Debug, Clone)]
pub(crate) struct SymWire {
    /// The venue's spelling.
    pub symbol: String,
    /// Kraken `price_precision` (decimal places used by the checksum).
    pub price_dp: u32,
    /// Kraken `qty_precision`.
    pub qty_dp: u32,
}

/// What the server should do after a client message.
#[derive(Debug, Default)]
pub(crate) struct ClientReply {
    /// Frames to send back (acks, pongs).
    pub frames: Vec<String>,
    /// The client subscribed to the L2 book of these symbols (with this depth, if given).
    pub book: Option<(Vec<String>, Option<usize>)>,
}

/// Per-connection encoder of one venue's frames.
#[derive(Debug)]
pub(crate) struct Encoder {
    venue: Venue,
    syms: Vec<SymWire>,
    /// Coinbase `sequence_num`: per connection, across all channels.
    conn_seq: u64,
    heartbeats: u64,
    /// OKX: the book channel the client subscribed to (`books`, `books5`, `books50-l2-tbt`,
    /// `books-l2-tbt`).
    okx_book: String,
    /// OKX and Bybit: the quote channels the client subscribed to (OKX `bbo-tbt`, `tickers`;
    /// Bybit `orderbook.1`, `tickers`).
    quotes: Vec<String>,
    /// Bybit: per symbol, the best bid/offer texts of the last `tickers` push on this
    /// connection (`None`: the next push is the snapshot).
    bybit_tickers: Vec<Option<[String; 4]>>,
}

/// OKX's book channels and the depth each shows (`None`: all 400, deeper than the test books).
fn okx_book_depth(channel: &str) -> Option<Option<usize>> {
    match channel {
        "books" | "books-l2-tbt" => Some(None),
        "books50-l2-tbt" => Some(Some(50)),
        "books5" => Some(Some(5)),
        _ => None,
    }
}

/// Unix time in milliseconds.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// RFC 3339 UTC time with microseconds for a Unix time in ms (civil date after H. Hinnant).
fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = crate::md::time::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}000Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

/// A JSON number as a float serializer would print it (`45283.5`, `2.0`): Kraken v2 sends
/// prices and quantities as JSON numbers without the pair's trailing zeros.
fn json_number(v: Decimal) -> String {
    let s = v.normalize().to_string();
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// IEEE CRC-32 (zlib), bit by bit.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// OKX: `bid1px:bid1sz:ask1px:ask1sz:...` over the top 25 of each side (the longer side's
/// remaining levels alone at the end), the wire text, CRC-32 as a signed 32-bit integer.
pub(crate) fn okx_checksum(bids: &[TextLevel], asks: &[TextLevel]) -> i32 {
    let mut parts: Vec<&str> = Vec::new();
    for i in 0..25 {
        for side in [bids, asks] {
            if let Some((p, q)) = side.get(i) {
                parts.push(p);
                parts.push(q);
            }
        }
    }
    crc32(parts.join(":").as_bytes()) as i32
}

/// Kraken v2: for the top 10 asks then the top 10 bids, price then qty printed with the
/// pair's precision, `.` removed and leading zeros stripped, concatenated; CRC-32 unsigned.
pub(crate) fn kraken_checksum(
    asks: &[TextLevel],
    bids: &[TextLevel],
    price_dp: u32,
    qty_dp: u32,
) -> u32 {
    fn field(text: &str, dp: u32) -> String {
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        let mut frac = frac.to_string();
        while frac.len() < dp as usize {
            frac.push('0');
        }
        frac.truncate(dp as usize);
        format!("{int}{frac}").trim_start_matches('0').to_string()
    }
    let mut s = String::new();
    for side in [asks, bids] {
        for (p, q) in side.iter().take(10) {
            s.push_str(&field(p, price_dp));
            s.push_str(&field(q, qty_dp));
        }
    }
    crc32(s.as_bytes())
}

impl Encoder {
    /// A fresh connection's encoder.
    pub fn new(venue: Venue, syms: Vec<SymWire>) -> Self {
        let n = syms.len();
        Self {
            venue,
            syms,
            conn_seq: 0,
            heartbeats: 0,
            okx_book: "books".into(),
            quotes: Vec::new(),
            bybit_tickers: vec![None; n],
        }
    }

    /// The venue it encodes for.
    pub fn venue(&self) -> Venue {
        self.venue
    }

    /// Coinbase's next `sequence_num`.
    fn next_seq(&mut self) -> u64 {
        let s = self.conn_seq;
        self.conn_seq += 1;
        s
    }

    /// Price text as this venue prints it.
    fn price_text(&self, p: Decimal) -> String {
        match self.venue {
            Venue::Kraken => json_number(p),
            // OKX prints the shortest form (`"8477"` next to `"8476.98"`).
            Venue::Okx => p.normalize().to_string(),
            _ => p.to_string(),
        }
    }

    /// Quantity text as this venue prints it (trailing zeros kept except on Kraken).
    fn qty_text(&self, q: Decimal) -> String {
        match self.venue {
            Venue::Kraken => json_number(q),
            _ => q.to_string(),
        }
    }

    fn texts(&self, levels: &[(Decimal, Decimal)]) -> Vec<TextLevel> {
        levels
            .iter()
            .map(|&(p, q)| (self.price_text(p), self.qty_text(q)))
            .collect()
    }

    /// Replies to one client text message: subscription acks and pongs.
    pub fn on_client(&mut self, text: &str) -> Result<ClientReply, String> {
        let mut r = ClientReply::default();
        if self.venue == Venue::Okx && text == "ping" {
            r.frames.push("pong".into());
            return Ok(r);
        }
        let v: Value = serde_json::from_str(text).map_err(|e| format!("{e}: {text}"))?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
        match self.venue {
            Venue::Bybit => match s("op") {
                "ping" => r.frames.push(
                    r#"{"success":true,"ret_msg":"pong","conn_id":"test-conn","op":"ping"}"#.into(),
                ),
                "subscribe" => {
                    let args = v["args"].as_array().ok_or("no args")?;
                    for topic in args.iter().filter_map(Value::as_str) {
                        let channel = ["orderbook.1", "tickers"]
                            .into_iter()
                            .find(|c| topic.strip_prefix(c).is_some_and(|r| r.starts_with('.')));
                        if let Some(c) = channel {
                            if !self.quotes.iter().any(|q| q == c) {
                                self.quotes.push(c.to_string());
                            }
                        }
                    }
                    let syms: Vec<String> = args
                        .iter()
                        .filter_map(|a| a.as_str()?.strip_prefix("orderbook.50."))
                        .map(str::to_string)
                        .collect();
                    r.frames.push(format!(
                        r#"{{"success":true,"ret_msg":"subscribe","conn_id":"test-conn","req_id":{},"op":"subscribe"}}"#,
                        v["req_id"]
                    ));
                    if !syms.is_empty() {
                        r.book = Some((syms, None));
                    }
                }
                op => return Err(format!("unexpected op {op:?}")),
            },
            Venue::Okx => {
                if s("op") != "subscribe" {
                    return Err(format!("unexpected request {text}"));
                }
                let (mut syms, mut depth) = (Vec::new(), None);
                for a in v["args"].as_array().ok_or("no args")? {
                    r.frames.push(format!(
                        r#"{{"id":{},"event":"subscribe","arg":{a},"connId":"a4d3ae55"}}"#,
                        v["id"]
                    ));
                    let channel = a["channel"].as_str().unwrap_or_default();
                    if let Some(d) = okx_book_depth(channel) {
                        syms.push(a["instId"].as_str().unwrap_or_default().to_string());
                        (self.okx_book, depth) = (channel.to_string(), d);
                    }
                    if ["bbo-tbt", "tickers"].contains(&channel)
                        && !self.quotes.iter().any(|q| q == channel)
                    {
                        self.quotes.push(channel.to_string());
                    }
                }
                if !syms.is_empty() {
                    r.book = Some((syms, depth));
                }
            }
            Venue::Kraken => {
                let t = rfc3339(now_ms());
                match s("method") {
                    "ping" => r.frames.push(format!(
                        r#"{{"method":"pong","req_id":{},"time_in":"{t}","time_out":"{t}"}}"#,
                        v.get("req_id").cloned().unwrap_or(Value::Null)
                    )),
                    "subscribe" => {
                        let p = &v["params"];
                        let channel = p["channel"].as_str().ok_or("no channel")?;
                        let syms: Vec<String> = p["symbol"]
                            .as_array()
                            .ok_or("no symbol")?
                            .iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect();
                        for sym in &syms {
                            let mut result = p.clone();
                            result["symbol"] = Value::from(sym.as_str());
                            r.frames.push(format!(
                                r#"{{"method":"subscribe","result":{result},"success":true,"time_in":"{t}","time_out":"{t}","req_id":{}}}"#,
                                v["req_id"]
                            ));
                        }
                        if channel == "book" {
                            let depth = p["depth"].as_u64().unwrap_or(10) as usize;
                            r.book = Some((syms, Some(depth)));
                        }
                    }
                    m => return Err(format!("unexpected method {m:?}")),
                }
            }
            Venue::Coinbase => {
                if s("type") != "subscribe" {
                    return Err(format!("unexpected request {text}"));
                }
                let channel = s("channel").to_string();
                let products = v["product_ids"].clone();
                let seq = self.next_seq();
                r.frames.push(format!(
                    r#"{{"channel":"subscriptions","client_id":"","timestamp":"{}","sequence_num":{seq},"events":[{{"subscriptions":{{"{channel}":{products}}}}}]}}"#,
                    rfc3339(now_ms())
                ));
                if channel == "level2" {
                    let syms = products
                        .as_array()
                        .ok_or("no product_ids")?
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect();
                    r.book = Some((syms, None));
                }
            }
            Venue::Binance => return Err("not a test venue".into()),
        }
        Ok(r)
    }

    /// A book snapshot (`snapshot`) or delta of symbol `i`: `bids`/`asks` are the levels sent,
    /// `view` the top of the venue's book after it (for the checksum); `corrupt` sends a wrong
    /// checksum. Advances the venue's sequence fields in `seq`.
    #[allow(clippy::too_many_arguments)]
    pub fn book(
        &mut self,
        i: usize,
        seq: &mut SeqState,
        rng: &mut ChaCha8Rng,
        snapshot: bool,
        bids: &[(Decimal, Decimal)],
        asks: &[(Decimal, Decimal)],
        view: (&Levels, &Levels),
        corrupt: bool,
    ) -> String {
        let sym = self.syms[i].symbol.clone();
        let (bids, asks) = (self.texts(bids), self.texts(asks));
        let ms = now_ms();
        let kind = if snapshot { "snapshot" } else { "delta" };
        match self.venue {
            Venue::Bybit => {
                if !snapshot {
                    seq.u += 1;
                }
                seq.cross += rng.random_range(1..50);
                let arr = |l: &[TextLevel]| {
                    let v: Vec<String> =
                        l.iter().map(|(p, q)| format!(r#"["{p}","{q}"]"#)).collect();
                    format!("[{}]", v.join(","))
                };
                format!(
                    r#"{{"topic":"orderbook.50.{sym}","type":"{kind}","ts":{ms},"data":{{"s":"{sym}","b":{},"a":{},"u":{},"seq":{}}},"cts":{}}}"#,
                    arr(&bids),
                    arr(&asks),
                    seq.u,
                    seq.cross,
                    ms.saturating_sub(2)
                )
            }
            Venue::Okx if self.okx_book == "books5" => {
                // A 5-level snapshot every push (`view` is the top 5), `seqId` only.
                if !snapshot {
                    seq.seq_id += rng.random_range(1..=3);
                }
                let arr = |l: &[TextLevel]| {
                    let v: Vec<String> = l
                        .iter()
                        .map(|(p, q)| format!(r#"["{p}","{q}","0","{}"]"#, 1 + p.len() % 5))
                        .collect();
                    format!("[{}]", v.join(","))
                };
                let (vb, va) = (self.texts(view.0), self.texts(view.1));
                format!(
                    r#"{{"arg":{{"channel":"books5","instId":"{sym}"}},"data":[{{"asks":{},"bids":{},"instId":"{sym}","ts":"{ms}","seqId":{}}}]}}"#,
                    arr(&va),
                    arr(&vb),
                    seq.seq_id
                )
            }
            Venue::Okx => {
                let prev = if snapshot { -1 } else { seq.seq_id };
                if !snapshot {
                    seq.seq_id += rng.random_range(1..=3);
                }
                let channel = &self.okx_book;
                let (vb, va) = (self.texts(view.0), self.texts(view.1));
                let mut sum = okx_checksum(&vb, &va);
                if corrupt {
                    sum = sum.wrapping_add(1);
                }
                let arr = |l: &[TextLevel]| {
                    let v: Vec<String> = l
                        .iter()
                        .map(|(p, q)| {
                            let n = if q == "0" { 0 } else { 1 + p.len() % 5 };
                            format!(r#"["{p}","{q}","0","{n}"]"#)
                        })
                        .collect();
                    format!("[{}]", v.join(","))
                };
                let action = if snapshot { "snapshot" } else { "update" };
                format!(
                    r#"{{"arg":{{"channel":"{channel}","instId":"{sym}"}},"action":"{action}","data":[{{"asks":{},"bids":{},"ts":"{ms}","checksum":{sum},"prevSeqId":{prev},"seqId":{}}}]}}"#,
                    arr(&asks),
                    arr(&bids),
                    seq.seq_id
                )
            }
            Venue::Kraken => {
                let (pdp, qdp) = (self.syms[i].price_dp, self.syms[i].qty_dp);
                let (vb, va) = (self.texts(view.0), self.texts(view.1));
                let mut sum = kraken_checksum(&va, &vb, pdp, qdp);
                if corrupt {
                    sum = sum.wrapping_add(1);
                }
                let arr = |l: &[TextLevel]| {
                    let v: Vec<String> = l
                        .iter()
                        .map(|(p, q)| format!(r#"{{"price":{p},"qty":{q}}}"#))
                        .collect();
                    format!("[{}]", v.join(","))
                };
                let (kind, ts) = if snapshot {
                    ("snapshot", String::new())
                } else {
                    ("update", format!(r#","timestamp":"{}""#, rfc3339(ms)))
                };
                format!(
                    r#"{{"channel":"book","type":"{kind}","data":[{{"symbol":"{sym}","bids":{},"asks":{},"checksum":{sum}{ts}}}]}}"#,
                    arr(&bids),
                    arr(&asks)
                )
            }
            Venue::Coinbase | Venue::Binance => {
                let t = rfc3339(ms);
                let ups: Vec<String> = [("bid", &bids), ("offer", &asks)]
                    .into_iter()
                    .flat_map(|(side, l)| {
                        let t = &t;
                        l.iter().map(move |(p, q)| {
                            format!(
                                r#"{{"side":"{side}","event_time":"{t}","price_level":"{p}","new_quantity":"{q}"}}"#
                            )
                        })
                    })
                    .collect();
                let kind = if snapshot { "snapshot" } else { "update" };
                let n = self.next_seq();
                format!(
                    r#"{{"channel":"l2_data","client_id":"","timestamp":"{t}","sequence_num":{n},"events":[{{"type":"{kind}","product_id":"{sym}","updates":[{}]}}]}}"#,
                    ups.join(",")
                )
            }
        }
    }

    /// Best bid and offer of symbol `i`: one frame per quote channel (OKX `bbo-tbt` and/or
    /// `tickers`, as subscribed), one for the other venues.
    pub fn bbo(
        &mut self,
        i: usize,
        seq: &SeqState,
        bid: (Decimal, Decimal),
        ask: (Decimal, Decimal),
    ) -> Vec<String> {
        if !matches!(self.venue, Venue::Okx | Venue::Bybit) {
            return vec![self.bbo_frame(i, seq, bid, ask, "")];
        }
        let channels = self.quotes.clone();
        channels
            .iter()
            .map(|c| self.bbo_frame(i, seq, bid, ask, c))
            .collect()
    }

    /// One best bid and offer frame (`channel`: OKX's quote channel).
    fn bbo_frame(
        &mut self,
        i: usize,
        seq: &SeqState,
        bid: (Decimal, Decimal),
        ask: (Decimal, Decimal),
        channel: &str,
    ) -> String {
        let sym = self.syms[i].symbol.clone();
        let (bp, bq) = (self.price_text(bid.0), self.qty_text(bid.1));
        let (ap, aq) = (self.price_text(ask.0), self.qty_text(ask.1));
        let ms = now_ms();
        match self.venue {
            // The docs' tickers example with this book's top (`last` is the bid: any price).
            Venue::Okx if channel == "tickers" => format!(
                r#"{{"arg":{{"channel":"tickers","instId":"{sym}"}},"data":[{{"instType":"SPOT","instId":"{sym}","last":"{bp}","lastSz":"0.1","askPx":"{ap}","askSz":"{aq}","bidPx":"{bp}","bidSz":"{bq}","open24h":"{bp}","high24h":"{ap}","low24h":"{bp}","volCcy24h":"2222","vol24h":"2222","sodUtc0":"{bp}","sodUtc8":"{bp}","ts":"{ms}"}}]}}"#
            ),
            Venue::Bybit if channel == "tickers" => self.bybit_ticker(i, seq, [bp, bq, ap, aq], ms),
            Venue::Bybit => format!(
                r#"{{"topic":"orderbook.1.{sym}","type":"snapshot","ts":{ms},"data":{{"s":"{sym}","b":[["{bp}","{bq}"]],"a":[["{ap}","{aq}"]],"u":{},"seq":{}}},"cts":{ms}}}"#,
                seq.u, seq.cross
            ),
            Venue::Okx => format!(
                r#"{{"arg":{{"channel":"bbo-tbt","instId":"{sym}"}},"data":[{{"asks":[["{ap}","{aq}","0","1"]],"bids":[["{bp}","{bq}","0","1"]],"ts":"{ms}","seqId":{}}}]}}"#,
                seq.seq_id
            ),
            Venue::Kraken => format!(
                r#"{{"channel":"ticker","type":"update","data":[{{"symbol":"{sym}","bid":{bp},"bid_qty":{bq},"ask":{ap},"ask_qty":{aq},"last":{bp},"volume":1234.5,"vwap":{bp},"low":{bp},"high":{ap},"change":0.0,"change_pct":0.0}}]}}"#
            ),
            Venue::Coinbase | Venue::Binance => {
                let n = self.next_seq();
                format!(
                    r#"{{"channel":"ticker","client_id":"","timestamp":"{}","sequence_num":{n},"events":[{{"type":"update","tickers":[{{"type":"ticker","product_id":"{sym}","price":"{bp}","volume_24_h":"16038.28770938","low_24_h":"{bp}","high_24_h":"{ap}","low_52_w":"15460","high_52_w":"48240","price_percent_chg_24_h":"-4.15","best_bid":"{bp}","best_bid_quantity":"{bq}","best_ask":"{ap}","best_ask_quantity":"{aq}"}}]}}]}}"#,
                    rfc3339(ms)
                )
            }
        }
    }

    /// A Bybit linear `tickers` push of symbol `i` with this best bid/offer (`top`: bid price,
    /// bid size, ask price, ask size as printed): the docs' snapshot shape the first time on
    /// this connection, then a `delta` carrying only the fields that changed.
    fn bybit_ticker(&mut self, i: usize, seq: &SeqState, top: [String; 4], ms: u64) -> String {
        const FIELDS: [&str; 4] = ["bid1Price", "bid1Size", "ask1Price", "ask1Size"];
        let sym = self.syms[i].symbol.clone();
        let cs = seq.cross;
        let frame = match &self.bybit_tickers[i] {
            None => {
                let [bp, bq, ap, aq] = &top;
                format!(
                    r#"{{"topic":"tickers.{sym}","type":"snapshot","data":{{"symbol":"{sym}","tickDirection":"PlusTick","price24hPcnt":"0.017103","lastPrice":"{bp}","prevPrice24h":"{bp}","highPrice24h":"{ap}","lowPrice24h":"{bp}","prevPrice1h":"{bp}","markPrice":"{bp}","indexPrice":"{bp}","openInterest":"68744.761","openInterestValue":"1183601235.91","turnover24h":"1570383121.943499","volume24h":"91705.276","nextFundingTime":"1673280000000","fundingRate":"-0.000212","bid1Price":"{bp}","bid1Size":"{bq}","ask1Price":"{ap}","ask1Size":"{aq}"}},"cs":{cs},"ts":{ms}}}"#
                )
            }
            Some(last) => {
                let changed: Vec<String> = FIELDS
                    .iter()
                    .zip(top.iter().zip(last))
                    .filter(|(_, (now, before))| now != before)
                    .map(|(f, (now, _))| format!(r#","{f}":"{now}""#))
                    .collect();
                format!(
                    r#"{{"topic":"tickers.{sym}","type":"delta","data":{{"symbol":"{sym}"{}}},"cs":{cs},"ts":{ms}}}"#,
                    changed.concat()
                )
            }
        };
        self.bybit_tickers[i] = Some(top);
        frame
    }

    /// A public trade of symbol `i`.
    pub fn trade(&mut self, i: usize, t: &TradeRec) -> String {
        let sym = self.syms[i].symbol.clone();
        let (p, q, id) = (self.price_text(t.price), self.qty_text(t.qty), t.id);
        let ms = now_ms();
        match self.venue {
            Venue::Bybit => {
                let side = if t.taker_buys { "Buy" } else { "Sell" };
                format!(
                    r#"{{"topic":"publicTrade.{sym}","type":"snapshot","ts":{ms},"data":[{{"T":{ms},"s":"{sym}","S":"{side}","v":"{q}","p":"{p}","L":"PlusTick","i":"{id}","BT":false}}]}}"#
                )
            }
            Venue::Okx => {
                let side = if t.taker_buys { "buy" } else { "sell" };
                format!(
                    r#"{{"arg":{{"channel":"trades","instId":"{sym}"}},"data":[{{"instId":"{sym}","tradeId":"{id}","px":"{p}","sz":"{q}","side":"{side}","ts":"{ms}","count":"1","source":"0","seqId":{id}}}]}}"#
                )
            }
            Venue::Kraken => {
                let side = if t.taker_buys { "buy" } else { "sell" };
                format!(
                    r#"{{"channel":"trade","type":"update","data":[{{"symbol":"{sym}","side":"{side}","price":{p},"qty":{q},"ord_type":"limit","trade_id":{id},"timestamp":"{}"}}]}}"#,
                    rfc3339(ms)
                )
            }
            Venue::Coinbase | Venue::Binance => {
                // Coinbase prints the maker's side.
                let maker = if t.taker_buys { "SELL" } else { "BUY" };
                let n = self.next_seq();
                format!(
                    r#"{{"channel":"market_trades","client_id":"","timestamp":"{ts}","sequence_num":{n},"events":[{{"type":"update","trades":[{{"trade_id":"{id}","product_id":"{sym}","price":"{p}","size":"{q}","side":"{maker}","time":"{ts}"}}]}}]}}"#,
                    ts = rfc3339(ms)
                )
            }
        }
    }

    /// A server heartbeat, for the venues that send them (Kraken, Coinbase).
    pub fn heartbeat(&mut self) -> Option<String> {
        self.heartbeats += 1;
        match self.venue {
            Venue::Kraken => Some(r#"{"channel":"heartbeat"}"#.into()),
            Venue::Coinbase => {
                let n = self.next_seq();
                let t = rfc3339(now_ms());
                Some(format!(
                    r#"{{"channel":"heartbeats","client_id":"","timestamp":"{t}","sequence_num":{n},"events":[{{"current_time":"{t}","heartbeat_counter":"{}"}}]}}"#,
                    self.heartbeats
                ))
            }
            _ => None,
        }
    }

    /// A frame cut short in the middle of a book message of symbol `i` (not valid JSON).
    pub fn malformed(&self, i: usize) -> String {
        let sym = &self.syms[i].symbol;
        match self.venue {
            Venue::Bybit => format!(
                r#"{{"topic":"orderbook.50.{sym}","type":"delta","data":{{"s":"{sym}","b":[["1"#
            ),
            Venue::Okx => format!(
                r#"{{"arg":{{"channel":"books","instId":"{sym}"}},"action":"update","data":[{{"asks":[["1"#
            ),
            Venue::Kraken => format!(
                r#"{{"channel":"book","type":"update","data":[{{"symbol":"{sym}","bids":[{{"price":1"#
            ),
            Venue::Coinbase | Venue::Binance => format!(
                r#"{{"channel":"l2_data","client_id":"","events":[{{"type":"update","product_id":"{sym}","updates":[{{"#
            ),
        }
    }

    /// A valid JSON text frame of about `bytes` bytes.
    pub fn oversized(&self, bytes: usize) -> String {
        format!(r#"{{"pad":"{}"}}"#, "x".repeat(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: &str, q: &str) -> TextLevel {
        (p.to_string(), q.to_string())
    }

    #[test]
    fn okx_checksum_matches_the_documented_vectors() {
        // OKX checksum docs: bids 3366.1/7, 3366/6; asks 3366.8/9, 3368/8 -> -1881014294.
        let bids = [t("3366.1", "7"), t("3366", "6")];
        let asks = [t("3366.8", "9"), t("3368", "8")];
        assert_eq!(okx_checksum(&bids, &asks), -1_881_014_294);
        // One bid, three asks: the asks' remainder follows alone -> 831078360.
        let bids = [t("3366.1", "7")];
        let asks = [t("3366.8", "9"), t("3368", "8"), t("3372", "8")];
        assert_eq!(okx_checksum(&bids, &asks), 831_078_360);
    }

    #[test]
    fn kraken_checksum_matches_the_documented_example() {
        // Kraken guide "Spot Websockets (v2) Book Checksum", BTC/USD, precision 1 / 8.
        let asks = [
            t("45285.2", "0.001"),
            t("45286.4", "1.54571953"),
            t("45286.6", "1.54571109"),
            t("45289.6", "1.54560911"),
            t("45290.2", "0.1589066"),
            t("45291.8", "1.54553491"),
            t("45294.7", "0.04454749"),
            t("45296.1", "0.3538"),
            t("45297.5", "0.09945542"),
            t("45299.5", "0.18772827"),
        ];
        let bids = [
            t("45283.5", "0.1"),
            t("45283.4", "1.54582015"),
            t("45282.1", "0.1"),
            t("45281.0", "0.1"),
            t("45280.3", "1.54592586"),
            t("45279.0", "0.0799"),
            t("45277.6", "0.03310103"),
            t("45277.5", "0.3"),
            t("45277.3", "1.54602737"),
            t("45276.6", "0.15445238"),
        ];
        assert_eq!(kraken_checksum(&asks, &bids, 1, 8), 3_310_070_434);
    }

    #[test]
    fn times_and_numbers_print_like_the_venues() {
        assert_eq!(rfc3339(1_675_974_770_714), "2023-02-09T20:32:50.714000Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(json_number(Decimal::new(452_830, 1)), "45283.0");
        assert_eq!(json_number(Decimal::new(1_000, 4)), "0.1");
    }
}
