//! The SBE decoder against frames built field by field from the schema (`stream_1_0.xml`) by
//! the small encoder below, which is written from the schema text and shares no code with the
//! decoder, and against the JSON normalizer on the same market events.

use peregrine_engine::types::Side;
use rust_decimal_macros::dec;

use super::*;
use crate::binance::normalize::Normalizer;
use crate::md::VenueNormalizer;

/// One message as plain values, for comparisons (`Msg` borrows its decoder).
#[derive(Debug, Clone, PartialEq)]
enum Out {
    Trade(String, i64, Price, Price, Side, String),
    Quote(String, QuoteMsg),
    Book(String, i64, bool, Vec<Level>, Option<u64>, Option<u64>),
}

fn record(m: &Msg<'_, '_>) -> Out {
    let s = m.symbol.to_string();
    match m.kind {
        MsgKind::Trade(t) => Out::Trade(
            s,
            m.exch_ts_ns,
            t.price,
            t.qty,
            t.side,
            t.trade_id.to_string(),
        ),
        MsgKind::Quote(q) => Out::Quote(s, q),
        MsgKind::Book(b) => Out::Book(
            s,
            m.exch_ts_ns,
            b.snapshot,
            b.levels.to_vec(),
            b.seq,
            b.first_seq,
        ),
    }
}

fn sbe(frame: &[u8]) -> Result<Vec<Out>, MdError> {
    let mut out = Vec::new();
    SbeDecoder::new().decode(frame, &mut |m| out.push(record(m)))?;
    Ok(out)
}

fn json(frame: &str) -> Vec<Out> {
    let mut out = Vec::new();
    Normalizer::new()
        .normalize(frame, &mut |m| out.push(record(m)))
        .expect("a valid JSON frame");
    out
}

/// Builds SBE frames as the schema lays them out.
struct Enc(Vec<u8>);

impl Enc {
    fn header(block: u16, template: u16) -> Self {
        let mut e = Enc(Vec::new());
        e.u16(block).u16(template).u16(1).u16(0);
        e
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn i8(&mut self, v: i8) -> &mut Self {
        self.0.push(v as u8);
        self
    }
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn pad(&mut self, n: usize) -> &mut Self {
        self.0.extend(std::iter::repeat_n(0xAA, n));
        self
    }
    fn symbol(&mut self, s: &str) -> Vec<u8> {
        self.u8(s.len() as u8);
        self.0.extend_from_slice(s.as_bytes());
        self.0.clone()
    }
}

/// `TradesStreamEvent`: trades `(id, price mantissa, qty mantissa, isBuyerMaker)`.
fn trades_frame(
    event_us: i64,
    transact_us: i64,
    exps: (i8, i8),
    trades: &[(i64, i64, i64, u8)],
    symbol: &str,
) -> Vec<u8> {
    let mut e = Enc::header(18, 10000);
    e.i64(event_us).i64(transact_us).i8(exps.0).i8(exps.1);
    e.u16(25).u32(trades.len() as u32);
    for &(id, p, q, m) in trades {
        e.i64(id).i64(p).i64(q).u8(m);
    }
    e.symbol(symbol)
}

fn bba_frame(event_us: i64, update: i64, exps: (i8, i8), top: [i64; 4], symbol: &str) -> Vec<u8> {
    let mut e = Enc::header(50, 10001);
    e.i64(event_us).i64(update).i8(exps.0).i8(exps.1);
    for v in top {
        e.i64(v);
    }
    e.symbol(symbol)
}

fn depth_frame(
    diff: Option<(i64, i64)>,
    snapshot_id: i64,
    exps: (i8, i8),
    bids: &[(i64, i64)],
    asks: &[(i64, i64)],
    symbol: &str,
) -> Vec<u8> {
    let mut e = match diff {
        Some((first, last)) => {
            let mut e = Enc::header(26, 10003);
            e.i64(1_700_000_000_123_456).i64(first).i64(last);
            e
        }
        None => {
            let mut e = Enc::header(18, 10002);
            e.i64(1_700_000_000_123_456).i64(snapshot_id);
            e
        }
    };
    e.i8(exps.0).i8(exps.1);
    for side in [bids, asks] {
        e.u16(16).u16(side.len() as u16);
        for &(p, q) in side {
            e.i64(p).i64(q);
        }
    }
    e.symbol(symbol)
}

#[test]
fn a_trade_decodes_as_the_json_stream_spells_it() {
    // Binance's documented trade event, and the same trade in SBE (times in microseconds).
    let json_frame = r#"{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.00100000","q":"100.00000000","T":1672515782136,"m":true,"M":true}"#;
    let frame = trades_frame(
        1_672_515_782_136_000,
        1_672_515_782_136_000,
        (-8, -8),
        &[(12345, 100_000, 10_000_000_000, 1)],
        "BNBBTC",
    );
    let got = sbe(&frame).expect("decodes");
    assert_eq!(got, json(json_frame));
    let Out::Trade(_, _, price, qty, side, _) = &got[0] else {
        panic!("{got:?}")
    };
    assert_eq!(
        (price.to_string(), qty.to_string(), *side),
        ("0.00100000".into(), "100.00000000".into(), Side::Sell)
    );
}

#[test]
fn a_trade_event_carries_several_trades_in_order() {
    let frame = trades_frame(
        5_000_000,
        4_000_001,
        (-2, -3),
        &[(7, 4_221_990, 1_500, 0), (8, 4_221_991, 25, 1)],
        "BTCUSDT",
    );
    let got = sbe(&frame).expect("decodes");
    assert_eq!(
        got,
        [
            Out::Trade(
                "BTCUSDT".into(),
                4_000_001_000,
                dec!(42219.90),
                dec!(1.500),
                Side::Buy,
                "7".into()
            ),
            Out::Trade(
                "BTCUSDT".into(),
                4_000_001_000,
                dec!(42219.91),
                dec!(0.025),
                Side::Sell,
                "8".into()
            ),
        ]
    );
}

#[test]
fn best_bid_ask_decodes_as_book_ticker_does() {
    let json_frame = r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;
    let frame = bba_frame(
        1_700_000_000_000_000,
        400_900_217,
        (-8, -8),
        [2_535_190_000, 3_121_000_000, 2_536_520_000, 4_066_000_000],
        "BNBUSDT",
    );
    let got = sbe(&frame).expect("decodes");
    let (Out::Quote(s1, q1), Out::Quote(s2, q2)) = (&got[0], &json(json_frame)[0]) else {
        panic!("{got:?}")
    };
    assert_eq!((s1, q1), (s2, q2));
    assert_eq!(q1.bid_px.to_string(), "25.35190000");
}

#[test]
fn depth_diff_and_snapshot_decode_as_the_json_depth_streams() {
    let json_diff = r#"{"e":"depthUpdate","E":1700000000123,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"],["0.0027","0"]]}"#;
    let frame = depth_frame(
        Some((157, 160)),
        0,
        (-4, 0),
        &[(24, 10)],
        &[(26, 100), (27, 0)],
        "BNBBTC",
    );
    let got = sbe(&frame).expect("decodes");
    let (Out::Book(s1, _, snap1, l1, seq1, first1), Out::Book(s2, _, snap2, l2, seq2, first2)) =
        (&got[0], &json(json_diff)[0])
    else {
        panic!("{got:?}")
    };
    assert_eq!((s1, snap1, l1, seq1, first1), (s2, snap2, l2, seq2, first2));
    assert_eq!(*first1, Some(157));

    let frame = depth_frame(
        None,
        160,
        (-2, -5),
        &[(4_221_990, 150_000)],
        &[(4_222_000, 1)],
        "BTCUSDT",
    );
    let got = sbe(&frame).expect("decodes");
    assert_eq!(
        got,
        [Out::Book(
            "BTCUSDT".into(),
            1_700_000_000_123_456_000,
            true,
            vec![
                (Side::Buy, dec!(42219.90), dec!(1.50000)),
                (Side::Sell, dec!(42220.00), dec!(0.00001))
            ],
            Some(160),
            None
        )]
    );
}

#[test]
fn longer_blocks_and_entries_of_a_later_schema_version_are_skipped() {
    // A root block 4 bytes longer and trade entries 3 bytes longer than the fields read.
    let mut e = Enc::header(22, 10000);
    e.i64(1).i64(2_000).i8(-1).i8(0).pad(4);
    e.u16(28).u32(1);
    e.i64(9).i64(15).i64(2).u8(0).pad(3);
    let got = sbe(&e.symbol("ETHUSDT")).expect("decodes");
    assert_eq!(
        got,
        [Out::Trade(
            "ETHUSDT".into(),
            2_000_000,
            dec!(1.5),
            dec!(2),
            Side::Buy,
            "9".into()
        )]
    );
}

#[test]
fn a_positive_exponent_scales_the_mantissa() {
    let frame = bba_frame(1, 1, (2, 0), [3, 1, 4, 1], "X");
    let Out::Quote(_, q) = &sbe(&frame).expect("decodes")[0] else {
        panic!()
    };
    assert_eq!((q.bid_px, q.ask_px), (dec!(300), dec!(400)));
}

#[test]
fn bad_frames_are_refused_with_their_reason() {
    let trade = trades_frame(1, 1, (-2, -2), &[(1, 100, 100, 0)], "BTCUSDT");
    let reason = |frame: &[u8]| sbe(frame).unwrap_err().reason();
    // Cut anywhere: truncated, never a panic or a partial message.
    for cut in 0..trade.len() {
        let mut out = Vec::new();
        let r = SbeDecoder::new().decode(&trade[..cut], &mut |m| out.push(record(m)));
        assert!(r.is_err() && out.is_empty(), "cut at {cut}");
    }
    let mut other_schema = trade.clone();
    other_schema[4] = 2;
    assert!(matches!(
        sbe(&other_schema),
        Err(MdError::Invalid {
            field: "schemaId",
            ..
        })
    ));
    let mut unknown = trade.clone();
    unknown[2..4].copy_from_slice(&10009u16.to_le_bytes());
    assert_eq!(reason(&unknown), crate::md::Reason::Unsupported);
    let mut short = trade.clone();
    short[0] = 10;
    assert!(matches!(
        sbe(&short),
        Err(MdError::Invalid {
            field: "blockLength",
            ..
        })
    ));
    use crate::md::Reason;
    assert_eq!(
        reason(&trades_frame(
            1,
            1,
            (-2, -2),
            &[(1, -100, 100, 0)],
            "BTCUSDT"
        )),
        Reason::Negative
    );
    assert_eq!(
        reason(&trades_frame(1, 1, (-2, -2), &[(1, 0, 100, 0)], "BTCUSDT")),
        Reason::NonPositivePrice
    );
    assert_eq!(
        reason(&trades_frame(1, 1, (-2, -2), &[(1, 100, 0, 0)], "BTCUSDT")),
        Reason::ZeroTradeQty
    );
    assert_eq!(
        reason(&trades_frame(1, 1, (-2, -2), &[(1, 100, 1, 0)], "")),
        Reason::EmptySymbol
    );
    assert_eq!(
        reason(&trades_frame(-1, -1, (-2, -2), &[(1, 100, 1, 0)], "X")),
        Reason::Negative
    );
    assert_eq!(
        reason(&bba_frame(1, 1, (-2, -2), [101, 1, 100, 1], "X")),
        Reason::CrossedQuote
    );
    assert_eq!(
        reason(&depth_frame(None, 1, (0, 0), &[(0, 1)], &[], "X")),
        Reason::NonPositivePrice
    );
    // An exponent past the decimal range.
    assert!(sbe(&bba_frame(1, 1, (-29, 0), [1, 1, 2, 1], "X")).is_err());
}

#[test]
fn the_committed_sbe_frames_decode() {
    // `tests/frames/binance_sbe.hex` (the fuzz seeds): trades (two), bestBidAsk, depth20, diff.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/frames/binance_sbe.hex"
    );
    let text = std::fs::read_to_string(path).expect("frames file");
    let frames: Vec<Vec<u8>> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            (0..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16).expect("hex"))
                .collect()
        })
        .collect();
    let counts: Vec<usize> = frames
        .iter()
        .map(|f| sbe(f).expect("decodes").len())
        .collect();
    assert_eq!(counts, [2, 1, 1, 1]);
    assert_eq!(
        sbe(&frames[1]).unwrap(),
        sbe(&bba_frame(
            1_700_000_000_000_000,
            400_900_217,
            (-8, -8),
            [2_535_190_000, 3_121_000_000, 2_536_520_000, 4_066_000_000],
            "BNBUSDT"
        ))
        .unwrap()
    );
}
