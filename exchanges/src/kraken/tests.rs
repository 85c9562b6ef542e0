//! Kraken v2 frames from the docs (sources in `exchanges/tests/SOURCES.md`), field by field.

use std::sync::Arc;

use peregrine_engine::interchange::EventKind;
use peregrine_engine::tick::FeedStatus;
use peregrine_engine::types::{InstrumentSpec, Instruments, Side};
use proptest::prelude::*;
use rust_decimal_macros::dec;

use super::*;
use crate::md::testutil::{d, lines, lvls, never_panics, statuses};
use crate::md::FrameKind;
use crate::venue::{FrameOutcome, VenueProtocol};

/// Docs "trade" channel update example.
pub(crate) const TRADE: &str = r#"{"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"buy","price":0.5147,"qty":6423.46326,"ord_type":"limit","trade_id":4665846,"timestamp":"2023-09-25T07:48:36.925533Z"},{"symbol":"MATIC/USD","side":"sell","price":0.5147,"qty":1136.19677815,"ord_type":"limit","trade_id":4665847,"timestamp":"2023-09-25T07:49:36.925603Z"}]}"#;
/// Docs "ticker" channel snapshot example.
pub(crate) const TICKER: &str = r#"{"channel":"ticker","type":"snapshot","data":[{"symbol":"ALGO/USD","bid":0.10025,"bid_qty":740.0,"ask":0.10036,"ask_qty":1361.44813783,"last":0.10035,"volume":997038.98383185,"vwap":0.10148,"low":0.09979,"high":0.10285,"change":-0.00017,"change_pct":-0.17}]}"#;
/// The "Spot Websockets (v2) Book Checksum" guide's BTC/USD snapshot (checksum 3310070434).
pub(crate) const BOOK_SNAPSHOT: &str = r#"{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":0.10000000},{"price":45283.4,"qty":1.54582015},{"price":45282.1,"qty":0.10000000},{"price":45281.0,"qty":0.10000000},{"price":45280.3,"qty":1.54592586},{"price":45279.0,"qty":0.07990000},{"price":45277.6,"qty":0.03310103},{"price":45277.5,"qty":0.30000000},{"price":45277.3,"qty":1.54602737},{"price":45276.6,"qty":0.15445238}],"asks":[{"price":45285.2,"qty":0.00100000},{"price":45286.4,"qty":1.54571953},{"price":45286.6,"qty":1.54571109},{"price":45289.6,"qty":1.54560911},{"price":45290.2,"qty":0.15890660},{"price":45291.8,"qty":1.54553491},{"price":45294.7,"qty":0.04454749},{"price":45296.1,"qty":0.35380000},{"price":45297.5,"qty":0.09945542},{"price":45299.5,"qty":0.18772827}],"checksum":3310070434}]}"#;
/// Docs "book" channel update example (MATIC/USD).
pub(crate) const BOOK_UPDATE: &str = r#"{"channel":"book","type":"update","data":[{"symbol":"MATIC/USD","bids":[{"price":0.5657,"qty":1098.3947558}],"asks":[],"checksum":2114181697,"timestamp":"2023-10-06T17:35:55.440295Z"}]}"#;
const HEARTBEAT: &str = r#"{"channel":"heartbeat"}"#;
const STATUS: &str = r#"{"channel":"status","data":[{"api_version":"v2","connection_id":12393906104898154338,"system":"online","version":"2.0.4"}],"type":"update"}"#;
const PONG: &str = r#"{"method":"pong","req_id":101,"time_in":"2023-09-24T14:10:23.799685Z","time_out":"2023-09-24T14:10:23.799703Z"}"#;
const SUB_ACK: &str = r#"{"method":"subscribe","result":{"channel":"book","depth":10,"snapshot":true,"symbol":"ALGO/USD"},"success":true,"time_in":"2023-10-06T17:35:55.219022Z","time_out":"2023-10-06T17:35:55.219067Z"}"#;
const SUB_FAIL: &str = r#"{"error":"Currency pair not supported","method":"subscribe","req_id":3,"success":false,"symbol":"BTC/EUX","time_in":"2023-10-06T17:35:55.219022Z","time_out":"2023-10-06T17:35:55.219067Z"}"#;

#[test]
fn trades_field_by_field_numbers_kept_exact() {
    let (r, ev) = lines(&mut Normalizer::new(), TRADE);
    assert_eq!(r.unwrap().kind, FrameKind::Data);
    assert_eq!(ev.len(), 2);
    let e = &ev[0];
    assert_eq!(
        (e.venue.as_str(), e.symbol.as_str()),
        ("kraken", "MATIC-USD")
    );
    assert_eq!(e.kind, Some(EventKind::Trade));
    assert_eq!(e.exch_ts_ns, Some(1_695_628_116_925_533_000));
    assert_eq!(e.price.unwrap().to_string(), "0.5147");
    assert_eq!(e.qty.unwrap().to_string(), "6423.46326");
    assert_eq!(e.side, Some(Side::Buy));
    assert_eq!(e.trade_id.as_deref(), Some("4665846"));
    assert_eq!(ev[1].side, Some(Side::Sell));
    assert_eq!(ev[1].qty.unwrap().to_string(), "1136.19677815");
}

#[test]
fn ticker_is_a_quote() {
    let (_, ev) = lines(&mut Normalizer::new(), TICKER);
    let e = &ev[0];
    assert_eq!(e.kind, Some(EventKind::Quote));
    assert_eq!(e.symbol, "ALGO-USD");
    assert_eq!(e.bid_px.unwrap().to_string(), "0.10025");
    assert_eq!(e.bid_qty.unwrap().to_string(), "740.0");
    assert_eq!(e.ask_px.unwrap().to_string(), "0.10036");
    assert_eq!(e.ask_qty.unwrap().to_string(), "1361.44813783");
    assert_eq!(e.exch_ts_ns, None);
}

#[test]
fn book_snapshot_and_update_field_by_field() {
    let mut n = Normalizer::new();
    let (_, ev) = lines(&mut n, BOOK_SNAPSHOT);
    let e = &ev[0];
    assert_eq!(e.kind, Some(EventKind::BookSnapshot));
    assert_eq!(e.bids.len(), 10);
    assert_eq!(e.bids[0], [d("45283.5"), d("0.10000000")]);
    assert_eq!(e.bids[0][1].to_string(), "0.10000000");
    assert_eq!(e.asks[9], [d("45299.5"), d("0.18772827")]);
    assert_eq!(e.checksum, Some(3_310_070_434));
    let (_, ev) = lines(&mut n, BOOK_UPDATE);
    let e = &ev[0];
    assert_eq!(e.kind, Some(EventKind::BookDelta));
    assert_eq!(e.bids, lvls(&[("0.5657", "1098.3947558")]));
    assert!(e.asks.is_empty());
    assert_eq!(e.checksum, Some(2_114_181_697));
    assert_eq!(e.exch_ts_ns, Some(1_696_613_755_440_295_000));
}

#[test]
fn control_and_errors() {
    let mut n = Normalizer::new();
    for f in [HEARTBEAT, STATUS, PONG, SUB_ACK] {
        assert_eq!(lines(&mut n, f).0.unwrap().kind, FrameKind::Control, "{f}");
    }
    assert_eq!(
        lines(&mut n, SUB_FAIL).0.unwrap().kind,
        FrameKind::VenueError("subscribe failed: Currency pair not supported".into())
    );
    let cases = [
        (
            TRADE.replacen(r#""trade_id":4665846"#, r#""trade_id":"x""#, 1),
            "trade_id",
        ),
        (
            TRADE.replacen(r#""price":0.5147"#, r#""price":true"#, 1),
            "bad number",
        ),
        (
            TRADE.replacen(
                r#""timestamp":"2023-09-25T07:48:36.925533Z""#,
                r#""timestamp":"yesterday""#,
                1,
            ),
            "RFC 3339",
        ),
        (BOOK_UPDATE.replace(r#""type":"update","#, ""), "type"),
        (r#"{"channel":"ohlc","data":[]}"#.to_string(), "unsupported"),
        (r#"{"data":[]}"#.to_string(), "channel"),
    ];
    for (f, want) in cases {
        let err = lines(&mut n, &f).0.unwrap_err().to_string();
        assert!(err.contains(want), "{f}: {err}");
    }
}

fn registry() -> Arc<Instruments> {
    let mut r = Instruments::new();
    r.intern(
        InstrumentSpec::from_canonical("kraken", "BTC-USD", dec!(0.1), dec!(0.00000001)).unwrap(),
    );
    Arc::new(r)
}

#[test]
fn protocol_verifies_the_documented_checksum_and_resyncs_on_a_bad_one() {
    let reg = registry();
    assert_eq!(
        precision(reg.spec(peregrine_engine::types::InstrumentId(0))),
        (1, 8)
    );
    let mut p = protocol(reg, None);
    assert_eq!(p.url(), URL);
    let subs = p.subscribe_messages();
    assert!(
        subs[2].contains(r#""channel":"book""#) && subs[2].contains(r#""symbol":["BTC/USD"]"#),
        "{subs:?}"
    );
    let mut ticks = Vec::new();
    let mut out = |t| ticks.push(t);
    assert_eq!(
        p.on_frame(BOOK_SNAPSHOT, 1, &mut out),
        Ok(FrameOutcome::Data)
    );
    assert_eq!(
        p.on_frame(HEARTBEAT, 2, &mut out),
        Ok(FrameOutcome::Control)
    );
    // Removing the best bid with the snapshot's checksum unchanged cannot verify.
    let bad = r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":0}],"asks":[],"checksum":3310070434,"timestamp":"2023-10-06T17:35:55.440295Z"}]}"#;
    assert!(
        matches!(p.on_frame(bad, 3, &mut out), Ok(FrameOutcome::Resync(ref s)) if s.contains("checksum"))
    );
    assert_eq!(
        p.on_frame(BOOK_SNAPSHOT, 4, &mut out),
        Ok(FrameOutcome::Data)
    );
    assert_eq!(
        statuses(&ticks),
        vec![FeedStatus::Stale, FeedStatus::Resynced]
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = lines(&mut Normalizer::new(), &s);
    }

    #[test]
    fn arbitrary_strings_and_mutated_frames_never_panic(s in ".{0,200}", cut in 0usize..1200) {
        never_panics(Normalizer::new, &s, cut, &[TRADE, TICKER, BOOK_SNAPSHOT, BOOK_UPDATE]);
    }
}
