//! OKX v5 frames from the docs (sources in `exchanges/tests/SOURCES.md`), field by field.

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

/// v5 docs, "Trades channel" push data example.
pub(crate) const TRADE: &str = r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","ts":"1630048897897","count":"3","source":"0","seqId":1234}]}"#;
/// v5 docs, "Order book channel" push data example (`books`, snapshot).
pub(crate) const BOOK_SNAPSHOT: &str = r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["8476.98","415","0","13"],["8477","7","0","2"],["8477.34","85","0","1"],["8477.56","1","0","1"],["8505.84","8","0","1"],["8506.37","85","0","1"],["8506.49","2","0","1"],["8506.96","100","0","2"]],"bids":[["8476.97","256","0","12"],["8475.55","101","0","1"],["8475.54","100","0","1"],["8475.3","1","0","1"],["8447.32","6","0","1"],["8447.02","246","0","1"],["8446.83","24","0","1"],["8446","95","0","3"]],"ts":"1597026383085","checksum":-855196043,"prevSeqId":-1,"seqId":123456}]}"#;
/// An `update` in the documented shape, chained on the snapshot (`prevSeqId` = its `seqId`),
/// without a checksum (OKX has since dropped the field; it is optional).
pub(crate) const BOOK_UPDATE: &str = r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["8476.98","0","0","0"],["8477.1","3","0","1"]],"bids":[["8476.97","250","0","11"]],"ts":"1597026383185","prevSeqId":123456,"seqId":123457}]}"#;
/// v5 docs, `bbo-tbt` push data example.
pub(crate) const BBO: &str = r#"{"arg":{"channel":"bbo-tbt","instId":"BCH-USDT-SWAP"},"data":[{"asks":[["111.06","55154","0","2"]],"bids":[["111.05","57745","0","2"]],"ts":"1670324386802","seqId":363996337}]}"#;
/// v5 docs, subscribe success and failure responses.
const SUB_ACK: &str =
    r#"{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a4d3ae55"}"#;
const SUB_FAIL: &str = r#"{"event":"error","code":"60012","msg":"Invalid request: {\"op\": \"subscribe\", \"argss\":[{ \"channel\" : \"books\", \"instId\" : \"BTC-USDT\"}]}","connId":"a4d3ae55"}"#;

#[test]
fn trade_field_by_field() {
    let (r, ev) = lines(&mut Normalizer::new(), TRADE);
    assert_eq!(r.unwrap().kind, FrameKind::Data);
    let e = &ev[0];
    assert_eq!((e.venue.as_str(), e.symbol.as_str()), ("okx", "BTC-USDT"));
    assert_eq!(e.kind, Some(EventKind::Trade));
    assert_eq!(e.exch_ts_ns, Some(1_630_048_897_897_000_000));
    assert_eq!(e.price.unwrap().to_string(), "42219.9");
    assert_eq!(e.qty.unwrap().to_string(), "0.12060306");
    assert_eq!(e.side, Some(Side::Buy));
    assert_eq!(e.trade_id.as_deref(), Some("130639474"));
}

#[test]
fn book_snapshot_and_update_field_by_field() {
    let mut n = Normalizer::new();
    let (_, ev) = lines(&mut n, BOOK_SNAPSHOT);
    let e = &ev[0];
    assert_eq!(e.kind, Some(EventKind::BookSnapshot));
    assert_eq!(e.exch_ts_ns, Some(1_597_026_383_085_000_000));
    assert_eq!(e.asks.len(), 8);
    assert_eq!(e.asks[1], [d("8477"), d("7")]);
    assert_eq!(e.bids[3], [d("8475.3"), d("1")]);
    assert_eq!(e.bids[7], [d("8446"), d("95")]);
    assert_eq!(
        (e.seq, e.prev_seq, e.checksum),
        (Some(123_456), Some(-1), Some(-855_196_043))
    );
    let (_, ev) = lines(&mut n, BOOK_UPDATE);
    let e = &ev[0];
    assert_eq!(e.kind, Some(EventKind::BookDelta));
    assert_eq!(e.asks, lvls(&[("8476.98", "0"), ("8477.1", "3")]));
    assert_eq!(e.bids, lvls(&[("8476.97", "250")]));
    assert_eq!(
        (e.seq, e.prev_seq, e.checksum),
        (Some(123_457), Some(123_456), None)
    );
}

#[test]
fn bbo_is_a_quote() {
    let (_, ev) = lines(&mut Normalizer::new(), BBO);
    let e = &ev[0];
    assert_eq!(e.kind, Some(EventKind::Quote));
    assert_eq!(e.symbol, "BCH-USDT-SWAP");
    assert_eq!(
        (e.bid_px, e.bid_qty, e.ask_px, e.ask_qty),
        (
            Some(d("111.05")),
            Some(d("57745")),
            Some(d("111.06")),
            Some(d("55154"))
        )
    );
    assert_eq!(e.seq, Some(363_996_337));
    assert_eq!(e.exch_ts_ns, Some(1_670_324_386_802_000_000));
}

#[test]
fn control_and_errors() {
    let mut n = Normalizer::new();
    assert_eq!(lines(&mut n, "pong").0.unwrap().kind, FrameKind::Control);
    assert_eq!(lines(&mut n, SUB_ACK).0.unwrap().kind, FrameKind::Control);
    match lines(&mut n, SUB_FAIL).0.unwrap().kind {
        FrameKind::VenueError(e) => assert!(e.starts_with("error 60012: Invalid request"), "{e}"),
        k => panic!("{k:?}"),
    }
    let cases = [
        (
            TRADE.replace(r#""px":"42219.9""#, r#""px":"-1""#),
            "negative",
        ),
        (
            TRADE.replace(r#""ts":"1630048897897""#, r#""ts":"x""#),
            "bad number",
        ),
        (BOOK_UPDATE.replace(r#""action":"update","#, ""), "action"),
        (
            BOOK_UPDATE.replace(r#"["8477.1","3","0","1"]"#, r#"["8477.1"]"#),
            "malformed",
        ),
        (
            r#"{"arg":{"channel":"candle1m","instId":"BTC-USDT"},"data":[]}"#.into(),
            "unsupported",
        ),
        ("ping".to_string(), "malformed"),
    ];
    for (f, want) in cases {
        let err = lines(&mut n, &f).0.unwrap_err().to_string();
        assert!(err.contains(want), "{f}: {err}");
    }
}

#[test]
fn the_documented_snapshot_checksum_does_not_match_its_own_levels() {
    // Known docs erratum (research note §3): the example's -855196043 is not the CRC32 of its
    // levels, so a sequencer fed the frame as printed must call the book stale.
    let mut p = protocol(registry());
    let mut ticks = Vec::new();
    let out = p.on_frame(BOOK_SNAPSHOT, 1, &mut |t| ticks.push(t));
    assert!(
        matches!(out, Ok(FrameOutcome::Resync(ref s)) if s.contains("checksum")),
        "{out:?}"
    );
}

fn registry() -> Arc<Instruments> {
    let mut r = Instruments::new();
    r.intern(
        InstrumentSpec::from_canonical("okx", "BTC-USDT", dec!(0.01), dec!(0.00000001)).unwrap(),
    );
    Arc::new(r)
}

#[test]
fn protocol_chains_seq_ids_and_resyncs_on_gap() {
    let mut p = protocol(registry());
    assert_eq!(p.url(), URL);
    assert!(
        matches!(p.heartbeat(), Heartbeat::Text { ref payload, every } if payload == "ping" && every < Duration::from_secs(30))
    );
    let sub: serde_json::Value = serde_json::from_str(&p.subscribe_messages()[0]).unwrap();
    assert_eq!(
        sub["args"][2],
        serde_json::json!({"channel": "books", "instId": "BTC-USDT"})
    );
    let snapshot = BOOK_SNAPSHOT.replace(r#""checksum":-855196043,"#, "");
    let mut ticks = Vec::new();
    let mut out = |t| ticks.push(t);
    assert_eq!(p.on_frame(&snapshot, 1, &mut out), Ok(FrameOutcome::Data));
    assert_eq!(p.on_frame(BOOK_UPDATE, 2, &mut out), Ok(FrameOutcome::Data));
    assert_eq!(p.on_frame(BOOK_UPDATE, 3, &mut out), Ok(FrameOutcome::Data)); // duplicate: ignored
    let gap = BOOK_UPDATE
        .replace("123456", "123458")
        .replace("123457", "123459");
    assert!(matches!(
        p.on_frame(&gap, 4, &mut out),
        Ok(FrameOutcome::Resync(_))
    ));
    assert_eq!(p.on_frame(&snapshot, 5, &mut out), Ok(FrameOutcome::Data));
    assert_eq!(
        statuses(&ticks),
        vec![FeedStatus::Stale, FeedStatus::Resynced]
    );
    // The update's levels were applied exactly once.
    let deltas = ticks
        .iter()
        .filter(|t| matches!(t.kind, TickKind::BookDelta(b) if b.seq == 123_457))
        .count();
    assert_eq!(deltas, 3);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = lines(&mut Normalizer::new(), &s);
    }

    #[test]
    fn arbitrary_strings_and_mutated_frames_never_panic(s in ".{0,200}", cut in 0usize..600) {
        never_panics(Normalizer::new, &s, cut, &[TRADE, BOOK_SNAPSHOT, BOOK_UPDATE, BBO]);
    }
}
