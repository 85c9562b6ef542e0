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
/// v5 docs, Order book channel, `books5` push data example (a 5-level snapshot every push).
pub(crate) const BOOKS5: &str = r#"{"arg":{"channel":"books5","instId":"BCH-USDT-SWAP"},"data":[{"asks":[["111.06","55154","0","2"],["111.07","53276","0","2"],["111.08","72435","0","2"],["111.09","70312","0","2"],["111.1","67272","0","2"]],"bids":[["111.05","57745","0","2"],["111.04","57109","0","2"],["111.03","69563","0","2"],["111.02","71248","0","2"],["111.01","65090","0","2"]],"instId":"BCH-USDT-SWAP","ts":"1670324386802","seqId":363996337}]}"#;
/// v5 docs, Tickers channel push data example.
pub(crate) const TICKER: &str = r#"{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"instType":"SPOT","instId":"BTC-USDT","last":"9999.99","lastSz":"0.1","askPx":"9999.99","askSz":"11","bidPx":"8888.88","bidSz":"5","open24h":"9000","high24h":"10000","low24h":"8888.88","volCcy24h":"2222","vol24h":"2222","sodUtc0":"2222","sodUtc8":"2222","ts":"1597026383085"}]}"#;
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
fn books5_is_a_snapshot_every_push() {
    let mut n = Normalizer::new();
    for _ in 0..2 {
        let (r, ev) = lines(&mut n, BOOKS5);
        assert_eq!(r.unwrap().kind, FrameKind::Data);
        let e = &ev[0];
        assert_eq!(e.kind, Some(EventKind::BookSnapshot));
        assert_eq!(e.symbol, "BCH-USDT-SWAP");
        assert_eq!(e.exch_ts_ns, Some(1_670_324_386_802_000_000));
        assert_eq!((e.bids.len(), e.asks.len()), (5, 5));
        assert_eq!(e.asks[4], [d("111.1"), d("67272")]);
        assert_eq!(e.bids[0], [d("111.05"), d("57745")]);
        assert_eq!(
            (e.seq, e.prev_seq, e.checksum),
            (Some(363_996_337), None, None)
        );
    }
}

#[test]
fn tickers_best_bid_and_offer_is_a_quote() {
    let (r, ev) = lines(&mut Normalizer::new(), TICKER);
    assert_eq!(r.unwrap().kind, FrameKind::Data);
    assert_eq!(ev.len(), 1, "last/lastSz are not a trade: no trade id");
    let e = &ev[0];
    assert_eq!(
        (e.kind, e.symbol.as_str()),
        (Some(EventKind::Quote), "BTC-USDT")
    );
    assert_eq!(
        (e.bid_px, e.bid_qty, e.ask_px, e.ask_qty),
        (
            Some(d("8888.88")),
            Some(d("5")),
            Some(d("9999.99")),
            Some(d("11"))
        )
    );
    assert_eq!(
        (e.seq, e.exch_ts_ns),
        (None, Some(1_597_026_383_085_000_000))
    );
}

/// `books-l2-tbt` and `books50-l2-tbt` push the `books` shape (docs: same page, same push
/// parameters); the documented `books` frames with only the channel renamed.
#[test]
fn tick_by_tick_books_decode_like_books() {
    let snapshot = BOOK_SNAPSHOT.replace(r#""checksum":-855196043,"#, "");
    for channel in ["books-l2-tbt", "books50-l2-tbt"] {
        let mut n = Normalizer::new();
        let rename =
            |f: &str| f.replace(r#""channel":"books""#, &format!(r#""channel":"{channel}""#));
        let (_, ev) = lines(&mut n, &rename(&snapshot));
        assert_eq!(ev[0].kind, Some(EventKind::BookSnapshot), "{channel}");
        assert_eq!((ev[0].bids.len(), ev[0].asks.len()), (8, 8), "{channel}");
        let (_, ev) = lines(&mut n, &rename(BOOK_UPDATE));
        assert_eq!(ev[0].kind, Some(EventKind::BookDelta), "{channel}");
        assert_eq!((ev[0].seq, ev[0].prev_seq), (Some(123_457), Some(123_456)));
        assert_eq!(ev[0].asks, lvls(&[("8476.98", "0"), ("8477.1", "3")]));
    }
}

#[test]
fn bad_values_of_the_new_channels_are_refused() {
    let mut n = Normalizer::new();
    let cases = [
        (
            TICKER.replace(r#""bidPx":"8888.88""#, r#""bidPx":"-1""#),
            "negative",
        ),
        (
            TICKER.replace(r#""askPx":"9999.99""#, r#""askPx":"0""#),
            "not positive",
        ),
        (
            TICKER.replace(r#""askSz":"11","#, ""),
            "missing field `askSz`",
        ),
        (
            TICKER.replace(r#""bidPx":"8888.88""#, r#""bidPx":"1.5E+4""#),
            "exponent",
        ),
        (
            TICKER.replace(r#""bidPx":"8888.88""#, r#""bidPx":"99999""#),
            "crossed quote",
        ),
        (
            TICKER.replace(r#""instId":"BTC-USDT","last""#, r#""instId":"","last""#),
            "empty symbol",
        ),
        (
            TICKER.replace(
                r#""ts":"1597026383085""#,
                r#""ts":"1597026383085","ts":"1""#,
            ),
            "duplicate key",
        ),
        (
            BOOKS5.replace(r#"["111.07","53276""#, r#"["0","53276""#),
            "not positive",
        ),
        (
            BOOKS5.replace(r#"["111.04","57109""#, r#"["111.04","-57109""#),
            "negative",
        ),
        (
            BOOKS5.replace(r#""ts":"1670324386802","#, ""),
            "missing field `ts`",
        ),
        (
            BOOKS5.replace(r#","instId":"BCH-USDT-SWAP"},"#, "},"),
            "missing field `instId`",
        ),
    ];
    for (f, want) in cases {
        assert_ne!(f, TICKER);
        assert_ne!(f, BOOKS5);
        let err = lines(&mut n, &f).0.unwrap_err().to_string();
        assert!(err.contains(want), "{f}: {err}");
    }
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
    let mut p = protocol(registry(), None);
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
    let mut swap = InstrumentSpec::from_canonical("okx", "BCH-USDT", dec!(0.01), dec!(1)).unwrap();
    swap.venue_symbol = "BCH-USDT-SWAP".into();
    r.intern(swap);
    Arc::new(r)
}

#[test]
fn configured_channels_are_subscribed_and_decoded_through_the_protocol() {
    let names: Vec<String> = ["trades", "books5", "tickers"].map(String::from).to_vec();
    let channels = Channels::parse(Venue::Okx, &names).unwrap();
    let mut p = protocol(registry(), Some(&channels));
    let sub: serde_json::Value = serde_json::from_str(&p.subscribe_messages()[0]).unwrap();
    let args: Vec<(String, String)> = sub["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["channel"].as_str().unwrap().into(),
                a["instId"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = |s: &str| ["trades", "books5", "tickers"].map(|c| (c.to_string(), s.to_string()));
    assert_eq!(args, [want("BTC-USDT"), want("BCH-USDT-SWAP")].concat());
    let mut ticks = Vec::new();
    // Every books5 push replaces the book: a snapshot of 10 levels each time, no status.
    for i in 0..3 {
        assert_eq!(
            p.on_frame(BOOKS5, i, &mut |t| ticks.push(t)),
            Ok(FrameOutcome::Data)
        );
    }
    assert_eq!(
        p.on_frame(TICKER, 4, &mut |t| ticks.push(t)),
        Ok(FrameOutcome::Data)
    );
    let snapshots = ticks
        .iter()
        .filter(|t| matches!(t.kind, TickKind::BookSnapshot { seq: 363_996_337 }))
        .count();
    let levels = ticks
        .iter()
        .filter(|t| matches!(t.kind, TickKind::BookDelta(_)))
        .count();
    assert_eq!((snapshots, levels), (3, 30));
    assert_eq!(statuses(&ticks), vec![]);
    let quote = ticks.iter().find_map(|t| match t.kind {
        TickKind::Quote(q) => Some(q),
        _ => None,
    });
    assert_eq!(
        quote.map(|q| (q.bid_px, q.ask_qty)),
        Some((dec!(8888.88), dec!(11)))
    );
    let bch = p.instruments().on_venue("okx", "BCH-USDT");
    let book = bch.and_then(|id| p.book(id)).expect("the swap's book");
    assert!(book.is_synced());
    assert_eq!(book.book().asks.levels().len(), 5);
    // A crossed ticker is refused and marks the book stale until its next snapshot.
    let crossed = TICKER.replace(r#""bidPx":"8888.88""#, r#""bidPx":"99999""#);
    let mut after = Vec::new();
    assert!(p.on_frame(&crossed, 5, &mut |t| after.push(t)).is_err());
    assert_eq!(statuses(&after), vec![FeedStatus::Stale]);
}

#[test]
fn protocol_chains_seq_ids_and_resyncs_on_gap() {
    let mut p = protocol(registry(), None);
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
        never_panics(Normalizer::new, &s, cut, &[TRADE, BOOK_SNAPSHOT, BOOK_UPDATE, BBO, BOOKS5, TICKER]);
    }
}
