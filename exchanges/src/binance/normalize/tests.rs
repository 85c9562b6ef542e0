//! Binance frames from the docs ("WebSocket Streams for Binance", REST "Order book"; sources
//! in `exchanges/tests/SOURCES.md`), field by field.

use peregrine_engine::interchange::EventKind;
use peregrine_engine::types::Side;
use proptest::prelude::*;

use super::*;
use crate::md::testutil::{lines, lvls, never_panics};
use crate::md::FrameKind;

pub(crate) const TRADE: &str = r#"{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}"#;
pub(crate) const AGG_TRADE: &str = r#"{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001","q":"100","f":100,"l":105,"T":1672515782136,"m":true,"M":true}"#;
pub(crate) const BOOK_TICKER: &str = r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;
pub(crate) const DEPTH: &str = r#"{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"],["0.0027","0"]]}"#;
pub(crate) const PARTIAL: &str =
    r#"{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}"#;
pub(crate) const REST_DEPTH: &str = r#"{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}"#;

fn combined(stream: &str, payload: &str) -> String {
    format!(r#"{{"stream":"{stream}","data":{payload}}}"#)
}

#[test]
fn trade_aggressor_sold_when_buyer_is_maker() {
    let (r, ev) = lines(&mut Normalizer::new(), TRADE);
    assert_eq!(r.unwrap().kind, FrameKind::Data);
    let e = &ev[0];
    assert_eq!(
        (e.venue.as_str(), e.symbol.as_str()),
        ("binance", "BNB-BTC")
    );
    assert_eq!(e.kind, Some(EventKind::Trade));
    assert_eq!(e.exch_ts_ns, Some(1_672_515_782_136_000_000));
    assert_eq!(e.price.unwrap().to_string(), "0.001");
    assert_eq!(e.qty.unwrap().to_string(), "100");
    assert_eq!(e.side, Some(Side::Sell));
    assert_eq!(e.trade_id.as_deref(), Some("12345"));
    let buyer_taker = TRADE.replace(r#""m":true"#, r#""m":false"#);
    assert_eq!(
        lines(&mut Normalizer::new(), &buyer_taker).1[0].side,
        Some(Side::Buy)
    );
}

#[test]
fn combined_trade_with_order_ids_in_b_and_a_uses_trade_time() {
    let f = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":7,"p":"43000.10","q":"0.5","b":88,"a":50,"T":2,"m":false,"M":true}}"#;
    let (r, ev) = lines(&mut Normalizer::new(), f);
    assert!(r.is_ok());
    assert_eq!(ev[0].symbol, "BTC-USDT");
    assert_eq!(ev[0].exch_ts_ns, Some(2_000_000));
    assert_eq!(ev[0].trade_id.as_deref(), Some("7"));
}

#[test]
fn agg_trade_takes_its_aggregate_id() {
    for f in [
        AGG_TRADE.to_string(),
        combined("bnbbtc@aggTrade", AGG_TRADE),
    ] {
        let (r, ev) = lines(&mut Normalizer::new(), &f);
        assert!(r.is_ok(), "{f}");
        let e = &ev[0];
        assert_eq!(e.kind, Some(EventKind::Trade));
        assert_eq!(e.trade_id.as_deref(), Some("12345"));
        assert_eq!(e.side, Some(Side::Sell));
        assert_eq!(e.price.unwrap().to_string(), "0.001");
    }
}

#[test]
fn book_ticker_raw_by_shape_and_combined_by_stream_name() {
    let raw = lines(&mut Normalizer::new(), BOOK_TICKER).1;
    let comb = lines(
        &mut Normalizer::new(),
        &combined("bnbusdt@bookTicker", BOOK_TICKER),
    )
    .1;
    assert_eq!(raw, comb);
    let e = &raw[0];
    assert_eq!(e.kind, Some(EventKind::Quote));
    assert_eq!(e.symbol, "BNB-USDT");
    assert_eq!(e.bid_px.unwrap().to_string(), "25.35190000");
    assert_eq!(e.ask_qty.unwrap().to_string(), "40.66000000");
    assert_eq!(e.seq, Some(400_900_217));
    assert_eq!(e.exch_ts_ns, None);
}

#[test]
fn depth_update_diff_streams_at_both_speeds() {
    for stream in ["bnbbtc@depth@100ms", "bnbbtc@depth"] {
        for f in [DEPTH.to_string(), combined(stream, DEPTH)] {
            let (r, ev) = lines(&mut Normalizer::new(), &f);
            assert!(r.is_ok(), "{f}");
            let e = &ev[0];
            assert_eq!(e.kind, Some(EventKind::BookDelta));
            assert_eq!((e.first_seq, e.seq), (Some(157), Some(160)));
            assert_eq!(e.bids, lvls(&[("0.0024", "10")]));
            assert_eq!(e.asks, lvls(&[("0.0026", "100"), ("0.0027", "0")]));
            assert_eq!(e.exch_ts_ns, Some(1_672_515_782_136_000_000));
        }
    }
    let empty = r#"{"e":"depthUpdate","E":1,"s":"BNBBTC","U":5,"u":5,"b":[],"a":[]}"#;
    let (r, ev) = lines(&mut Normalizer::new(), empty);
    assert!(r.is_ok());
    assert_eq!(ev[0].seq, Some(5));
}

#[test]
fn partial_depth_named_by_its_stream_or_unnamed() {
    for stream in [
        "bnbbtc@depth5",
        "bnbbtc@depth10@100ms",
        "bnbbtc@depth20@1000ms",
    ] {
        let (r, ev) = lines(&mut Normalizer::new(), &combined(stream, PARTIAL));
        assert!(r.is_ok(), "{stream}");
        let e = &ev[0];
        assert_eq!(e.kind, Some(EventKind::BookSnapshot));
        assert_eq!(e.symbol, "BNB-BTC", "{stream}");
        assert_eq!(e.seq, Some(160));
        assert_eq!(e.bids, lvls(&[("0.0024", "10")]));
    }
    let mut n = Normalizer::new();
    let mut symbols = Vec::new();
    let r = n.normalize(REST_DEPTH, &mut |m| symbols.push(m.symbol.to_string()));
    assert!(r.is_ok());
    assert_eq!(symbols, [""], "the REST snapshot names no symbol");
    assert!(matches!(
        lines(&mut Normalizer::new(), &combined("bnbbtc@depth7", PARTIAL)).0,
        Err(MdError::Unsupported(_))
    ));
}

#[test]
fn control_frames_and_venue_errors() {
    let mut n = Normalizer::new();
    for f in [
        r#"{"result":null,"id":1}"#,
        r#"{"result":["btcusdt@trade"],"id":"x"}"#,
    ] {
        assert_eq!(lines(&mut n, f).0.unwrap().kind, FrameKind::Control, "{f}");
    }
    assert_eq!(
        lines(
            &mut n,
            r#"{"code":2,"msg":"Invalid request: unknown variant"}"#
        )
        .0
        .unwrap()
        .kind,
        FrameKind::VenueError("code 2: Invalid request: unknown variant".into())
    );
}

#[test]
fn malformed_frames_are_typed_errors() {
    let cases: Vec<(String, MdError)> = vec![
        (
            TRADE.replace(r#""p":"0.001""#, r#""p":"0.0x1""#),
            MdError::BadNumber {
                field: "p",
                value: "0.0x1".into(),
            },
        ),
        (
            TRADE.replace(r#","t":12345"#, ""),
            MdError::MissingField("t"),
        ),
        (
            DEPTH.replace(r#""U":157"#, r#""U":161"#),
            MdError::Invalid {
                field: "U",
                problem: "greater than u",
            },
        ),
        (
            BOOK_TICKER.replace(r#","A":"40.66000000""#, ""),
            MdError::MissingField("A"),
        ),
        (
            r#"{"e":"kline","s":"BNBBTC"}"#.to_string(),
            MdError::Unsupported("kline".into()),
        ),
        (
            r#"{"stream":"bnbbtc@kline_1m","data":{"s":"BNBBTC"}}"#.to_string(),
            MdError::Unsupported("bnbbtc@kline_1m".into()),
        ),
        (r#"{"s":"BNBBTC"}"#.to_string(), MdError::MissingField("e")),
    ];
    for (frame, want) in cases {
        let (r, ev) = lines(&mut Normalizer::new(), &frame);
        assert_eq!(r, Err(want), "{frame}");
        assert!(ev.is_empty());
    }
    for bad in [
        "",
        "[]",
        "{",
        "null",
        r#"{"e":"trade","t":"x"}"#,
        r#"{"e":"depthUpdate","b":[["1"]]}"#,
        r#"{"e":"trade","E":-1,"s":"BNBBTC"}"#,
        "{} x",
    ] {
        assert!(
            matches!(
                lines(&mut Normalizer::new(), bad).0,
                Err(MdError::Malformed(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn the_batch_is_reset_between_frames() {
    let mut n = Normalizer::new();
    let bad = DEPTH.replace(r#""0.0027","0""#, r#""0.0027","x""#);
    assert!(lines(&mut n, &bad).0.is_err());
    let (r, ev) = lines(&mut n, DEPTH);
    assert!(r.is_ok());
    assert_eq!(ev[0].asks.len() + ev[0].bids.len(), 3);
}

proptest! {
    #[test]
    fn never_panics_on_mutated_frames(s in ".{0,16}", cut in 0usize..200) {
        never_panics(Normalizer::new, &s, cut, &[TRADE, AGG_TRADE, BOOK_TICKER, DEPTH, PARTIAL]);
    }
}
