//! Bybit v5 frames from the docs (sources in `exchanges/tests/SOURCES.md`), field by field.

use std::sync::Arc;

use peregrine_engine::interchange::EventKind;
use peregrine_engine::tick::{FeedStatus, TickKind};
use peregrine_engine::types::{InstrumentSpec, Instruments, Side};
use proptest::prelude::*;
use rust_decimal_macros::dec;

use super::*;
use crate::md::testutil::{d, lines, lvls, never_panics, statuses};
use crate::md::FrameKind;
use crate::venue::{FrameOutcome, VenueProtocol};

/// v5 docs, "Trade" (publicTrade) push example.
pub(crate) const TRADE: &str = r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}]}"#;
/// v5 docs, "Orderbook" snapshot push example (the docs elide the middle levels with `...`;
/// the first two levels of each side are kept).
pub(crate) const BOOK_SNAPSHOT: &str = r#"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1671179923028,"data":{"s":"BTCUSDT","b":[["17440.00","40.833"],["17439.50","0.513"]],"a":[["17440.50","78.815"],["17441.00","8.858"]],"u":13079592,"seq":22520573250}}"#;
/// v5 docs, "Orderbook" delta push example, with `u` the snapshot's + 1 and the `cts` field
/// of the current docs.
pub(crate) const BOOK_DELTA: &str = r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1671179923046,"data":{"s":"BTCUSDT","b":[],"a":[["17440.50","78.857"],["17442.00","1.510"]],"u":13079593,"seq":22520573260},"cts":1671179923040}"#;
/// Level-1 book (BBO), same shape as the orderbook example.
pub(crate) const BBO: &str = r#"{"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1672304484978,"data":{"s":"BTCUSDT","b":[["16493.50","0.006"]],"a":[["16611.00","0.029"]],"u":18521288,"seq":7961638724},"cts":1672304484976}"#;
/// v5 docs, "Connect": pong and subscribe ack on spot/linear public; a failed subscribe.
const PONG: &str = r#"{"success":true,"ret_msg":"pong","conn_id":"0970e817-426e-429a-a679-ff7f55e0b16a","op":"ping"}"#;
const SUB_ACK: &str = r#"{"success":true,"ret_msg":"subscribe","conn_id":"2324d924-aa4d-45b0-a858-7b8be29ab52b","req_id":"10001","op":"subscribe"}"#;
const SUB_FAIL: &str = r#"{"success":false,"ret_msg":"error:handler not found","conn_id":"2324d924-aa4d-45b0-a858-7b8be29ab52b","req_id":"10001","op":"subscribe"}"#;
const OPTION_PONG: &str = r#"{"args":["1672916271846"],"op":"pong"}"#;

#[test]
fn trade_field_by_field() {
    let (r, ev) = lines(&mut Normalizer::new(), TRADE);
    assert_eq!(r.unwrap().kind, FrameKind::Data);
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!((e.venue.as_str(), e.symbol.as_str()), ("bybit", "BTC-USDT"));
    assert_eq!(e.kind, Some(EventKind::Trade));
    assert_eq!(e.exch_ts_ns, Some(1_672_304_486_865_000_000));
    assert_eq!(e.price.unwrap().to_string(), "16578.50");
    assert_eq!(e.qty.unwrap().to_string(), "0.001");
    assert_eq!(e.side, Some(Side::Buy));
    assert_eq!(
        e.trade_id.as_deref(),
        Some("20f43950-d8dd-5b31-9112-a178eb6023af")
    );
}

#[test]
fn book_snapshot_and_delta_field_by_field() {
    let mut n = Normalizer::new();
    let (_, ev) = lines(&mut n, BOOK_SNAPSHOT);
    let e = &ev[0];
    assert_eq!(e.kind, Some(EventKind::BookSnapshot));
    assert_eq!(e.exch_ts_ns, Some(1_671_179_923_028_000_000));
    assert_eq!(
        e.bids,
        lvls(&[("17440.00", "40.833"), ("17439.50", "0.513")])
    );
    assert_eq!(
        e.asks,
        lvls(&[("17440.50", "78.815"), ("17441.00", "8.858")])
    );
    assert_eq!(
        (e.seq, e.cross_seq),
        (Some(13_079_592), Some(22_520_573_250))
    );
    let (_, ev) = lines(&mut n, BOOK_DELTA);
    let e = &ev[0];
    assert_eq!(e.kind, Some(EventKind::BookDelta));
    assert_eq!(
        e.exch_ts_ns,
        Some(1_671_179_923_040_000_000),
        "cts wins over ts"
    );
    assert!(e.bids.is_empty());
    assert_eq!(
        e.asks,
        lvls(&[("17440.50", "78.857"), ("17442.00", "1.510")])
    );
    assert_eq!(e.seq, Some(13_079_593));
}

#[test]
fn level_one_book_is_a_quote() {
    let (_, ev) = lines(&mut Normalizer::new(), BBO);
    let e = &ev[0];
    assert_eq!(e.kind, Some(EventKind::Quote));
    assert_eq!(
        (e.bid_px, e.bid_qty, e.ask_px, e.ask_qty),
        (
            Some(d("16493.50")),
            Some(d("0.006")),
            Some(d("16611.00")),
            Some(d("0.029"))
        )
    );
    assert_eq!(e.seq, Some(18_521_288));
}

#[test]
fn control_and_errors() {
    let mut n = Normalizer::new();
    for f in [PONG, SUB_ACK, OPTION_PONG] {
        assert_eq!(lines(&mut n, f).0.unwrap().kind, FrameKind::Control, "{f}");
    }
    assert_eq!(
        lines(&mut n, SUB_FAIL).0.unwrap().kind,
        FrameKind::VenueError("subscribe failed: error:handler not found".into())
    );
    let cases = [
        (
            TRADE.replace(r#""p":"16578.50""#, r#""p":"1x""#),
            "bad number",
        ),
        (
            TRADE.replace(r#""S":"Buy""#, r#""S":"Up""#),
            "expected buy or sell",
        ),
        (
            BOOK_DELTA.replace(r#""type":"delta""#, r#""type":"x""#),
            "type",
        ),
        (
            BOOK_DELTA.replace(r#""u":13079593,"#, ""),
            "missing field `u`",
        ),
        (
            r#"{"topic":"kline.1.BTCUSDT","ts":1,"data":[]}"#.to_string(),
            "unsupported",
        ),
        (r#"{"ts":1}"#.to_string(), "topic"),
        ("[1,2]".to_string(), "malformed"),
    ];
    for (f, want) in cases {
        let err = lines(&mut n, &f).0.unwrap_err().to_string();
        assert!(err.contains(want), "{f}: {err}");
    }
}

#[test]
fn subscribe_messages_chunk_by_ten_args() {
    let msgs = subscribe_messages(
        &["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"],
        &Channels::of(&DEFAULT_CHANNELS),
    );
    assert_eq!(msgs.len(), 2);
    let first: serde_json::Value = serde_json::from_str(&msgs[0]).unwrap();
    assert_eq!(first["op"], "subscribe");
    assert_eq!(first["args"].as_array().unwrap().len(), 10);
    assert_eq!(first["args"][0], "publicTrade.BTCUSDT");
    assert_eq!(first["args"][2], "orderbook.50.BTCUSDT");
}

fn registry() -> Arc<Instruments> {
    let mut r = Instruments::new();
    r.intern(InstrumentSpec::from_canonical("bybit", "BTC-USDT", dec!(0.01), dec!(0.001)).unwrap());
    Arc::new(r)
}

#[test]
fn protocol_resyncs_on_gap_and_recovers_on_snapshot() {
    let mut p = protocol(registry(), Category::Linear, None);
    assert_eq!(p.url(), "wss://stream.bybit.com/v5/public/linear");
    assert!(
        matches!(p.heartbeat(), Heartbeat::Text { ref payload, every } if payload == r#"{"op":"ping"}"# && every == Duration::from_secs(20))
    );
    let mut ticks = Vec::new();
    let mut out = |t| ticks.push(t);
    p.on_connect(&mut out);
    assert_eq!(
        p.on_frame(BOOK_SNAPSHOT, 1, &mut out),
        Ok(FrameOutcome::Data)
    );
    assert_eq!(p.on_frame(BOOK_DELTA, 2, &mut out), Ok(FrameOutcome::Data));
    assert_eq!(p.on_frame(TRADE, 3, &mut out), Ok(FrameOutcome::Data));
    assert_eq!(p.on_frame(PONG, 4, &mut out), Ok(FrameOutcome::Control));
    let gap = BOOK_DELTA.replace("13079593", "13079595");
    assert!(matches!(
        p.on_frame(&gap, 5, &mut out),
        Ok(FrameOutcome::Resync(_))
    ));
    assert!(p.on_frame("{", 6, &mut out).is_err());
    assert_eq!(
        p.on_frame(BOOK_SNAPSHOT, 7, &mut out),
        Ok(FrameOutcome::Data)
    );
    assert_eq!(
        statuses(&ticks),
        vec![FeedStatus::Stale, FeedStatus::Resynced]
    );
    assert_eq!(p.stale_events(), 1);
    assert!(ticks
        .iter()
        .any(|t| matches!(t.kind, TickKind::Trade(tr) if tr.price == dec!(16578.50))));
    let book = p.book(ticks[0].instrument).unwrap().book();
    assert_eq!(book.asks.levels()[0], (dec!(17440.50), dec!(78.815)));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = lines(&mut Normalizer::new(), &s);
    }

    #[test]
    fn arbitrary_strings_and_mutated_frames_never_panic(s in ".{0,200}", cut in 0usize..400) {
        never_panics(Normalizer::new, &s, cut, &[TRADE, BOOK_SNAPSHOT, BOOK_DELTA, BBO]);
    }
}

#[test]
fn a_crossed_quote_is_refused_and_marks_the_book_stale() {
    let mut p = protocol(registry(), Category::Spot, None);
    let mut ticks = Vec::new();
    let mut out = |t| ticks.push(t);
    p.on_connect(&mut out);
    assert_eq!(
        p.on_frame(BOOK_SNAPSHOT, 1, &mut out),
        Ok(FrameOutcome::Data)
    );
    let crossed = BBO.replace(r#"[["16493.50","0.006"]]"#, r#"[["16611.00","0.006"]]"#);
    let e = p.on_frame(&crossed, 2, &mut out).unwrap_err();
    assert_eq!(e.reason, crate::md::Reason::CrossedQuote);
    assert_eq!(statuses(&ticks), [FeedStatus::Stale]);
    assert!(
        !ticks.iter().any(|t| matches!(t.kind, TickKind::Quote(_))),
        "the crossed quote is not passed on"
    );
    assert_eq!(p.stale_events(), 1);
}

/// v5 docs, "Ticker" linear response example (snapshot).
const TICKER_LINEAR: &str = r#"{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","tickDirection":"PlusTick","price24hPcnt":"0.017103","lastPrice":"17216.00","prevPrice24h":"16926.50","highPrice24h":"17281.50","lowPrice24h":"16915.00","prevPrice1h":"17238.00","markPrice":"17217.33","indexPrice":"17227.36","openInterest":"68744.761","openInterestValue":"1183601235.91","turnover24h":"1570383121.943499","volume24h":"91705.276","nextFundingTime":"1673280000000","fundingRate":"-0.000212","bid1Price":"17215.50","bid1Size":"84.489","ask1Price":"17216.00","ask1Size":"83.020"},"cs":24987956059,"ts":1673272861686}"#;
/// A linear delta in the documented shape: only the fields that changed.
const TICKER_DELTA: &str = r#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","bid1Price":"17215.00","bid1Size":"1.250"},"cs":24987956060,"ts":1673272861786}"#;
/// v5 docs, "Ticker" spot response example (no best bid/offer fields).
const TICKER_SPOT: &str = r#"{"topic":"tickers.BTCUSDT","ts":1672305380595,"type":"snapshot","cs":496622841,"data":{"symbol":"BTCUSDT","lastPrice":"16363.78","highPrice24h":"16566.64","lowPrice24h":"16009.19","prevPrice24h":"16443.66","volume24h":"5865.470182","turnover24h":"95949815.680875","price24hPcnt":"-0.0049"}}"#;

#[test]
fn tickers_linear_snapshot_and_delta_merge_into_a_full_quote() {
    let mut n = Normalizer::new();
    let (r, ev) = lines(&mut n, TICKER_LINEAR);
    assert_eq!(r.unwrap().kind, FrameKind::Data);
    let q = &ev[0];
    assert_eq!(q.kind, Some(EventKind::Quote));
    assert_eq!(q.symbol, "BTC-USDT");
    assert_eq!(
        (q.bid_px, q.bid_qty, q.ask_px, q.ask_qty),
        (
            Some(d("17215.50")),
            Some(d("84.489")),
            Some(d("17216.00")),
            Some(d("83.020"))
        )
    );
    assert_eq!(q.seq, Some(24_987_956_059));
    assert_eq!(q.exch_ts_ns, Some(1_673_272_861_686_000_000));
    let (_, ev) = lines(&mut n, TICKER_DELTA);
    let q = &ev[0];
    assert_eq!(
        (q.bid_px, q.bid_qty, q.ask_px, q.ask_qty),
        (
            Some(d("17215.00")),
            Some(d("1.250")),
            Some(d("17216.00")),
            Some(d("83.020"))
        ),
        "the ask is the snapshot's"
    );
    // A delta before any snapshot is not a full quote yet.
    let (r, ev) = lines(&mut Normalizer::new(), TICKER_DELTA);
    assert!(r.is_ok() && ev.is_empty());
}

#[test]
fn tickers_spot_snapshots_are_read_and_carry_no_quote() {
    let (r, ev) = lines(&mut Normalizer::new(), TICKER_SPOT);
    assert_eq!(r.unwrap().kind, FrameKind::Data);
    assert!(ev.is_empty());
    // A crossed linear ticker is refused like any quote.
    let crossed = TICKER_LINEAR.replace(r#""bid1Price":"17215.50""#, r#""bid1Price":"17216.00""#);
    assert!(matches!(
        lines(&mut Normalizer::new(), &crossed).0,
        Err(MdError::CrossedQuote { .. })
    ));
}
