//! Coinbase Advanced Trade frames from the docs (sources in `exchanges/tests/SOURCES.md`),
//! field by field.

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

/// Docs "Level2 channel" example (snapshot).
pub(crate) const L2_SNAPSHOT: &str = r#"{"channel":"l2_data","client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":0,"events":[{"type":"snapshot","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"1970-01-01T00:00:00Z","price_level":"21921.73","new_quantity":"0.06317902"},{"side":"bid","event_time":"1970-01-01T00:00:00Z","price_level":"21921.3","new_quantity":"0.02"},{"side":"offer","event_time":"1970-01-01T00:00:00Z","price_level":"21921.74","new_quantity":"0.4"}]}]}"#;
/// An `update` event in the documented shape, next on the connection.
pub(crate) const L2_UPDATE: &str = r#"{"channel":"l2_data","client_id":"","timestamp":"2023-02-09T20:32:51.714964855Z","sequence_num":1,"events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"2023-02-09T20:32:51.70Z","price_level":"21921.3","new_quantity":"0"},{"side":"offer","event_time":"2023-02-09T20:32:51.70Z","price_level":"21922.00","new_quantity":"1.50"}]}]}"#;
/// Docs "Market Trades channel" example.
pub(crate) const TRADE: &str = r#"{"channel":"market_trades","client_id":"","timestamp":"2023-02-09T20:19:35.39625135Z","sequence_num":2,"events":[{"type":"snapshot","trades":[{"trade_id":"000000000","product_id":"BTC-USD","price":"1260.01","size":"0.3","side":"BUY","time":"2019-08-14T20:42:27.265Z"}]}]}"#;
/// Docs "Ticker channel" example.
pub(crate) const TICKER: &str = r#"{"channel":"ticker","client_id":"","timestamp":"2023-02-09T20:30:37.167359596Z","sequence_num":3,"events":[{"type":"snapshot","tickers":[{"type":"ticker","product_id":"BTC-USD","price":"21932.98","volume_24_h":"16038.28770938","low_24_h":"21835.29","high_24_h":"23011.18","low_52_w":"15460","high_52_w":"48240","price_percent_chg_24_h":"-4.15775596190603","best_bid":"21931.98","best_bid_quantity":"8000.21","best_ask":"21933.98","best_ask_quantity":"8038.07770938"}]}]}"#;
/// Docs "Heartbeats channel" example.
const HEARTBEAT: &str = r#"{"channel":"heartbeats","client_id":"","timestamp":"2023-06-23T20:31:26.122969572Z","sequence_num":4,"events":[{"current_time":"2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.525857105","heartbeat_counter":"3049"}]}"#;
const SUBSCRIPTIONS: &str = r#"{"channel":"subscriptions","client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":5,"events":[{"subscriptions":{"level2":["BTC-USD"]}}]}"#;
const ERROR: &str = r#"{"type":"error","message":"failure to subscribe"}"#;

#[test]
fn level2_snapshot_and_update_field_by_field() {
    let mut n = Normalizer::new();
    let (r, ev) = lines(&mut n, L2_SNAPSHOT);
    assert_eq!(r.unwrap().conn_seq, Some(0));
    let e = &ev[0];
    assert_eq!(
        (e.venue.as_str(), e.symbol.as_str()),
        ("coinbase", "BTC-USD")
    );
    assert_eq!(e.kind, Some(EventKind::BookSnapshot));
    assert_eq!(e.exch_ts_ns, Some(1_675_974_770_714_964_855));
    assert_eq!(
        e.bids,
        lvls(&[("21921.73", "0.06317902"), ("21921.3", "0.02")])
    );
    assert_eq!(e.asks, lvls(&[("21921.74", "0.4")]));
    assert_eq!(e.seq, Some(0));
    let (_, ev) = lines(&mut n, L2_UPDATE);
    let e = &ev[0];
    assert_eq!(e.kind, Some(EventKind::BookDelta));
    assert_eq!(e.bids, lvls(&[("21921.3", "0")]));
    assert_eq!(e.asks[0][1].to_string(), "1.50");
    assert_eq!(e.seq, Some(1));
}

#[test]
fn trade_side_is_the_makers_so_the_aggressor_is_opposite() {
    let (r, ev) = lines(&mut Normalizer::new(), TRADE);
    assert_eq!(r.unwrap().conn_seq, Some(2));
    let e = &ev[0];
    assert_eq!(e.kind, Some(EventKind::Trade));
    assert_eq!(e.exch_ts_ns, Some(1_565_815_347_265_000_000));
    assert_eq!(e.price.unwrap().to_string(), "1260.01");
    assert_eq!(e.qty.unwrap().to_string(), "0.3");
    assert_eq!(e.side, Some(Side::Sell));
    assert_eq!(e.trade_id.as_deref(), Some("000000000"));
}

#[test]
fn ticker_is_a_quote() {
    let (_, ev) = lines(&mut Normalizer::new(), TICKER);
    let e = &ev[0];
    assert_eq!(e.kind, Some(EventKind::Quote));
    assert_eq!(
        (e.bid_px, e.bid_qty, e.ask_px, e.ask_qty),
        (
            Some(d("21931.98")),
            Some(d("8000.21")),
            Some(d("21933.98")),
            Some(d("8038.07770938"))
        )
    );
    assert_eq!(e.exch_ts_ns, Some(1_675_974_637_167_359_596));
}

#[test]
fn control_and_errors() {
    let mut n = Normalizer::new();
    let hb = lines(&mut n, HEARTBEAT).0.unwrap();
    assert_eq!((hb.kind, hb.conn_seq), (FrameKind::Control, Some(4)));
    assert_eq!(
        lines(&mut n, SUBSCRIPTIONS).0.unwrap().kind,
        FrameKind::Control
    );
    assert_eq!(
        lines(&mut n, ERROR).0.unwrap().kind,
        FrameKind::VenueError("failure to subscribe".into())
    );
    let cases = [
        (
            L2_UPDATE.replace(r#""side":"offer""#, r#""side":"middle""#),
            "bid or offer",
        ),
        (
            L2_UPDATE.replace(r#""type":"update""#, r#""type":"other""#),
            "snapshot or update",
        ),
        (
            TRADE.replace(r#""size":"0.3""#, r#""size":"0,3""#),
            "bad number",
        ),
        (
            TICKER.replace(r#","best_ask_quantity":"8038.07770938""#, ""),
            "best_ask_quantity",
        ),
        (
            r#"{"channel":"candles","events":[]}"#.to_string(),
            "unsupported",
        ),
        (r#"{"events":[]}"#.to_string(), "channel"),
    ];
    for (f, want) in cases {
        let err = lines(&mut n, &f).0.unwrap_err().to_string();
        assert!(err.contains(want), "{f}: {err}");
    }
}

fn registry() -> Arc<Instruments> {
    let mut r = Instruments::new();
    r.intern(
        InstrumentSpec::from_canonical("coinbase", "BTC-USD", dec!(0.01), dec!(0.00000001))
            .unwrap(),
    );
    Arc::new(r)
}

#[test]
fn protocol_detects_connection_sequence_gaps_across_channels() {
    let mut p = protocol(registry(), None);
    assert_eq!(p.heartbeat(), Heartbeat::ServerOnly);
    assert_eq!(p.subscribe_messages().len(), 4);
    assert!(p.subscribe_messages()[0].contains(r#""channel":"heartbeats""#));
    let mut ticks = Vec::new();
    let mut out = |t| ticks.push(t);
    p.on_connect(&mut out);
    assert_eq!(p.on_frame(L2_SNAPSHOT, 1, &mut out), Ok(FrameOutcome::Data));
    assert_eq!(p.on_frame(L2_UPDATE, 2, &mut out), Ok(FrameOutcome::Data));
    assert_eq!(p.on_frame(TRADE, 3, &mut out), Ok(FrameOutcome::Data));
    assert_eq!(p.on_frame(TICKER, 4, &mut out), Ok(FrameOutcome::Data));
    assert_eq!(
        p.on_frame(HEARTBEAT, 5, &mut out),
        Ok(FrameOutcome::Control)
    );
    // sequence_num 4 -> 7: two messages lost on the connection.
    let lost = HEARTBEAT.replace(r#""sequence_num":4"#, r#""sequence_num":7"#);
    assert!(
        matches!(p.on_frame(&lost, 6, &mut out), Ok(FrameOutcome::Resync(ref s)) if s.contains("gap"))
    );
    p.on_connect(&mut out);
    assert_eq!(p.on_frame(L2_SNAPSHOT, 7, &mut out), Ok(FrameOutcome::Data));
    assert_eq!(
        statuses(&ticks),
        vec![FeedStatus::Stale, FeedStatus::Resynced]
    );
    let id = ticks[0].instrument;
    let book = p.book(id).unwrap().book();
    assert_eq!(
        book.bids.levels(),
        &[
            (dec!(21921.73), dec!(0.06317902)),
            (dec!(21921.3), dec!(0.02))
        ]
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = lines(&mut Normalizer::new(), &s);
    }

    #[test]
    fn arbitrary_strings_and_mutated_frames_never_panic(s in ".{0,200}", cut in 0usize..700) {
        never_panics(Normalizer::new, &s, cut, &[L2_SNAPSHOT, L2_UPDATE, TRADE, TICKER]);
    }
}
