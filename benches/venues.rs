//! Bybit, OKX, Kraken v2 and Coinbase market data: per venue a trade frame and a BBO frame
//! through the venue's `VenueProtocol` to `Tick`s, and a 20-level depth update (10 bids, 10
//! asks) parsed and applied to a synced 50-level book by the shared sequencer (sequence
//! rules, crossed-book check, and the venue checksum where it has one: Kraken top-10, OKX
//! top-25). Two depth updates alternate, setting different quantities at the same 20 prices,
//! so every iteration really changes the book (and the checksum). Each against a
//! `serde_json::Value` parse of the same frames in the same run.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use peregrine_engine::types::{InstrumentId, InstrumentSpec, Instruments};
use peregrine_exchanges::book_sync::{
    kraken_checksum, okx_checksum, BookRule, BookSequencer, SyncOutcome,
};
use peregrine_exchanges::md::{BookMsg, MsgKind, VenueNormalizer};
use peregrine_exchanges::protocols::{market_data_protocol, normalizer, ProtocolOptions};
use peregrine_exchanges::venue::{FrameOutcome, Venue};
use rust_decimal_macros::dec;

/// `(price, qty)` text of level `i` of a side around 30000.
fn px(bid: bool, i: usize) -> String {
    let cents = if bid {
        3_000_000 - i * 10
    } else {
        3_000_010 + i * 10
    };
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Quantity text of level `i` in the snapshot (`bump` 0) or in depth update A (1) or B (2).
fn qty(i: usize, bump: usize) -> String {
    format!("{}.{:03}", 1 + i % 7, 250 * (bump + 1))
}

struct Frames {
    trade: String,
    bbo: String,
    snapshot: String,
    /// Depth updates A and B.
    deltas: [String; 2],
}

fn pairs(bid: bool, n: usize, bump: usize, okx: bool) -> String {
    (0..n)
        .map(|i| {
            if okx {
                format!(r#"["{}","{}","0","1"]"#, px(bid, i), qty(i, bump))
            } else {
                format!(r#"["{}","{}"]"#, px(bid, i), qty(i, bump))
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn objects(bid: bool, n: usize, bump: usize) -> String {
    (0..n)
        .map(|i| format!(r#"{{"price":{},"qty":{}}}"#, px(bid, i), qty(i, bump)))
        .collect::<Vec<_>>()
        .join(",")
}

fn coinbase_updates(n: usize, bump: usize) -> String {
    (0..n)
        .flat_map(|i| {
            [("bid", px(true, i)), ("offer", px(false, i))].map(|(s, p)| {
                format!(r#"{{"side":"{s}","event_time":"2023-02-09T20:32:50.7Z","price_level":"{p}","new_quantity":"{}"}}"#, qty(i, bump))
            })
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn frames(venue: Venue) -> Frames {
    match venue {
        Venue::Bybit => Frames {
            trade: r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}]}"#.into(),
            bbo: r#"{"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1672304484978,"data":{"s":"BTCUSDT","b":[["16493.50","0.006"]],"a":[["16611.00","0.029"]],"u":18521288,"seq":7961638724},"cts":1672304484976}"#.into(),
            snapshot: format!(r#"{{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{{"s":"BTCUSDT","b":[{}],"a":[{}],"u":100,"seq":5}},"cts":1}}"#, pairs(true, 50, 0, false), pairs(false, 50, 0, false)),
            deltas: [1, 2].map(|b| format!(r#"{{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":2,"data":{{"s":"BTCUSDT","b":[{}],"a":[{}],"u":101,"seq":6}},"cts":2}}"#, pairs(true, 10, b, false), pairs(false, 10, b, false))),
        },
        Venue::Okx => Frames {
            trade: r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","ts":"1630048897897","count":"3","source":"0","seqId":1234}]}"#.into(),
            bbo: r#"{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT"},"data":[{"asks":[["111.06","55154","0","2"]],"bids":[["111.05","57745","0","2"]],"ts":"1670324386802","seqId":363996337}]}"#.into(),
            snapshot: format!(r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"snapshot","data":[{{"asks":[{}],"bids":[{}],"ts":"1597026383085","prevSeqId":-1,"seqId":100}}]}}"#, pairs(false, 50, 0, true), pairs(true, 50, 0, true)),
            deltas: [1, 2].map(|b| format!(r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"update","data":[{{"asks":[{}],"bids":[{}],"ts":"1597026383185","checksum":1,"prevSeqId":100,"seqId":101}}]}}"#, pairs(false, 10, b, true), pairs(true, 10, b, true))),
        },
        Venue::Kraken => Frames {
            trade: r#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":45283.5,"qty":0.00100000,"ord_type":"limit","trade_id":4665846,"timestamp":"2023-09-25T07:48:36.925533Z"}]}"#.into(),
            bbo: r#"{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":45283.5,"bid_qty":0.10000000,"ask":45285.2,"ask_qty":0.00100000,"last":45283.4,"volume":997.98383185,"vwap":45000.1,"low":44000.0,"high":46000.0,"change":-10.5,"change_pct":-0.02}]}"#.into(),
            snapshot: format!(r#"{{"channel":"book","type":"snapshot","data":[{{"symbol":"BTC/USD","bids":[{}],"asks":[{}],"checksum":0}}]}}"#, objects(true, 50, 0), objects(false, 50, 0)),
            deltas: [1, 2].map(|b| format!(r#"{{"channel":"book","type":"update","data":[{{"symbol":"BTC/USD","bids":[{}],"asks":[{}],"checksum":1,"timestamp":"2023-10-06T17:35:55.440295Z"}}]}}"#, objects(true, 10, b), objects(false, 10, b))),
        },
        Venue::Coinbase | Venue::Binance => Frames {
            trade: r#"{"channel":"market_trades","client_id":"","timestamp":"2023-02-09T20:19:35.39625135Z","sequence_num":0,"events":[{"type":"update","trades":[{"trade_id":"000000000","product_id":"BTC-USD","price":"1260.01","size":"0.3","side":"BUY","time":"2019-08-14T20:42:27.265Z"}]}]}"#.into(),
            bbo: r#"{"channel":"ticker","client_id":"","timestamp":"2023-02-09T20:30:37.167359596Z","sequence_num":0,"events":[{"type":"update","tickers":[{"type":"ticker","product_id":"BTC-USD","price":"21932.98","volume_24_h":"16038.28770938","low_24_h":"21835.29","high_24_h":"23011.18","low_52_w":"15460","high_52_w":"48240","price_percent_chg_24_h":"-4.15775596190603","best_bid":"21931.98","best_bid_quantity":"8000.21","best_ask":"21933.98","best_ask_quantity":"8038.07770938"}]}]}"#.into(),
            snapshot: format!(r#"{{"channel":"l2_data","client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":0,"events":[{{"type":"snapshot","product_id":"BTC-USD","updates":[{}]}}]}}"#, coinbase_updates(50, 0)),
            deltas: [1, 2].map(|b| format!(r#"{{"channel":"l2_data","client_id":"","timestamp":"2023-02-09T20:32:51.714964855Z","sequence_num":1,"events":[{{"type":"update","product_id":"BTC-USD","updates":[{}]}}]}}"#, coinbase_updates(10, b))),
        },
    }
}

fn registry(venue: Venue, canonical: &str) -> Arc<Instruments> {
    let mut r = Instruments::new();
    if let Some(spec) =
        InstrumentSpec::from_canonical(venue.as_str(), canonical, dec!(0.01), dec!(0.001))
    {
        r.intern(spec);
    }
    Arc::new(r)
}

fn rule(venue: Venue) -> BookRule {
    match venue {
        Venue::Bybit => BookRule::Bybit,
        Venue::Okx => BookRule::Okx,
        Venue::Kraken => BookRule::Kraken {
            price_dp: 2,
            qty_dp: 3,
            depth: 50,
        },
        Venue::Coinbase | Venue::Binance => BookRule::Coinbase,
    }
}

fn bench(c: &mut Criterion) {
    for (venue, canonical) in [
        (Venue::Bybit, "BTC-USDT"),
        (Venue::Okx, "BTC-USDT"),
        (Venue::Kraken, "BTC-USD"),
        (Venue::Coinbase, "BTC-USD"),
    ] {
        let f = frames(venue);
        let Some(mut proto) = market_data_protocol(
            venue,
            registry(venue, canonical),
            ProtocolOptions::default(),
        ) else {
            continue;
        };
        for (kind, frame) in [("trade", &f.trade), ("bbo", &f.bbo)] {
            let mut n = 0;
            proto.on_connect(&mut |_| ());
            assert_eq!(
                proto.on_frame(frame, 0, &mut |_| n += 1),
                Ok(FrameOutcome::Data),
                "{venue} {kind}"
            );
            assert_eq!(n, 1, "{venue} {kind}: one tick");
            let mut g = c.benchmark_group(format!("venues/{venue}/{kind}"));
            // Coinbase checks `sequence_num` per connection: replaying one frame is a gap
            // unless the connection state is reset (cheap: one empty book) each time.
            let reconnect = venue == Venue::Coinbase;
            g.bench_function("peregrine", |b| {
                b.iter(|| {
                    if reconnect {
                        proto.on_connect(&mut |_| ());
                    }
                    let mut last = None;
                    let r = proto.on_frame(black_box(frame), 1, &mut |t| last = Some(t));
                    black_box((r, last))
                })
            });
            g.bench_function("baseline_serde_json_value", |b| {
                b.iter(|| {
                    black_box(serde_json::from_str::<serde_json::Value>(black_box(frame)).is_ok())
                })
            });
            g.finish();
        }

        // Depth: normalize, then the sequencer applies the 20 levels to a synced 50-level
        // book. Updates A and B set absolute quantities at the same prices, so applying them
        // in turn moves the book between two states; each iteration is renumbered as the next
        // sequence and carries the checksum of the state it leads to, so every iteration is
        // an in-order, verified update that changes 20 levels.
        let Some(mut norm) = normalizer(venue) else {
            continue;
        };
        let mut seq = BookSequencer::new(InstrumentId(0), rule(venue));
        let snap = feed(&mut *norm, &mut seq, &f.snapshot, true, 999, None);
        assert_eq!(snap.1, SyncOutcome::Applied, "{venue} snapshot");
        let mut checksums = [None; 2];
        for (k, delta) in f.deltas.iter().enumerate() {
            let n = 1_000 + k as u64;
            let applied = feed(&mut *norm, &mut seq, delta, false, n, None);
            assert_eq!(
                applied,
                (true, SyncOutcome::Applied, 20),
                "{venue} update {k}"
            );
            checksums[k] = checksum(venue, &seq);
        }
        assert_ne!(checksums[0], Some(0), "{venue}");
        if checksums[0].is_some() {
            assert_ne!(
                checksums[0], checksums[1],
                "{venue}: the updates change the book"
            );
        }
        let mut next = 1_001u64;
        for (k, (delta, checksum)) in f.deltas.iter().zip(checksums).enumerate() {
            next += 1;
            let verified = feed(&mut *norm, &mut seq, delta, false, next, checksum);
            assert_eq!(
                verified,
                (true, SyncOutcome::Applied, 20),
                "{venue} verified update {k}"
            );
        }
        let mut g = c.benchmark_group(format!("venues/{venue}/depth20_applied"));
        g.bench_function("peregrine", |b| {
            b.iter(|| {
                next += 1;
                let k = (next % 2) as usize;
                black_box(feed(
                    &mut *norm,
                    &mut seq,
                    black_box(&f.deltas[k]),
                    false,
                    next,
                    checksums[k],
                ))
            })
        });
        let mut k = 0;
        g.bench_function("baseline_serde_json_value", |b| {
            b.iter(|| {
                k ^= 1;
                black_box(
                    serde_json::from_str::<serde_json::Value>(black_box(&f.deltas[k])).is_ok(),
                )
            })
        });
        g.finish();
        assert!(
            seq.is_synced(),
            "{venue}: the book stayed in sync through the bench"
        );
    }
}

/// The venue checksum of the sequencer's book, for the venues that send one.
fn checksum(venue: Venue, seq: &BookSequencer) -> Option<i64> {
    let mut scratch = String::new();
    match rule(venue) {
        BookRule::Okx => Some(i64::from(okx_checksum(seq.book(), &mut scratch))),
        BookRule::Kraken {
            price_dp, qty_dp, ..
        } => Some(i64::from(kraken_checksum(
            seq.book(),
            price_dp,
            qty_dp,
            &mut scratch,
        ))),
        _ => None,
    }
}

/// Normalizes `frame` and feeds its book message to `seq` as sequence `n` (previous `n - 1`)
/// with `checksum`; returns (parsed ok, outcome, ticks emitted).
fn feed(
    norm: &mut dyn VenueNormalizer,
    seq: &mut BookSequencer,
    frame: &str,
    snapshot: bool,
    n: u64,
    checksum: Option<i64>,
) -> (bool, SyncOutcome, u32) {
    let mut outcome = SyncOutcome::Ignored;
    let mut ticks = 0u32;
    let r = norm.normalize(frame, &mut |m| {
        if let MsgKind::Book(b) = m.kind {
            let b = BookMsg {
                seq: Some(n),
                prev_seq: Some(if snapshot { -1 } else { n as i64 - 1 }),
                checksum,
                ..b
            };
            outcome = seq.on_book(&b, m.exch_ts_ns, 1, &mut |_| ticks += 1);
        }
    });
    (r.is_ok(), outcome, ticks)
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
