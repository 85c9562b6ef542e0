//! Heap allocations per frame on the steady-state market-data path of Bybit, OKX, Kraken v2
//! and Coinbase, counted by a global allocator that counts only while a test says so: a
//! trade or BBO frame through the venue's protocol to ticks, and 20-level depth updates
//! (alternating, so every one changes the book) normalized and applied by the sequencer with
//! the venue checksum verified. Once buffers have grown, none may allocate.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use peregrine_engine::types::{InstrumentId, InstrumentSpec, Instruments};
use peregrine_exchanges::book_sync::{
    kraken_checksum, okx_checksum, BookRule, BookSequencer, SyncOutcome,
};
use peregrine_exchanges::md::{BookMsg, MsgKind, VenueNormalizer};
use peregrine_exchanges::protocols::{market_data_protocol, normalizer, ProtocolOptions};
use peregrine_exchanges::venue::{FrameOutcome, Venue};
use rust_decimal_macros::dec;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNT_HERE: Cell<bool> = const { Cell::new(false) };
}

fn counted() {
    if COUNT_HERE.try_with(|c| c.get()).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn count_here(f: impl FnOnce()) -> u64 {
    COUNT_HERE.with(|c| c.set(true));
    let before = ALLOCS.load(Ordering::Relaxed);
    f();
    let n = ALLOCS.load(Ordering::Relaxed) - before;
    COUNT_HERE.with(|c| c.set(false));
    n
}

/// Price and quantity text of level `i` of a side; `k` picks the quantity set.
fn level(bid: bool, i: usize, k: usize) -> (String, String) {
    let cents = if bid {
        3_000_000 - i * 10
    } else {
        3_000_010 + i * 10
    };
    (
        format!("{}.{:02}", cents / 100, cents % 100),
        format!("{}.{:03}", 1 + i % 7, 250 * (k + 1)),
    )
}

fn levels(venue: Venue, bid: bool, n: usize, k: usize) -> String {
    let one = |i| {
        let (p, q) = level(bid, i, k);
        match venue {
            Venue::Okx => format!(r#"["{p}","{q}","0","1"]"#),
            Venue::Kraken => format!(r#"{{"price":{p},"qty":{q}}}"#),
            Venue::Coinbase => {
                let side = if bid { "bid" } else { "offer" };
                format!(
                    r#"{{"side":"{side}","event_time":"2023-02-09T20:32:50.7Z","price_level":"{p}","new_quantity":"{q}"}}"#
                )
            }
            _ => format!(r#"["{p}","{q}"]"#),
        }
    };
    (0..n).map(one).collect::<Vec<_>>().join(",")
}

/// Trade, BBO, a 50-level snapshot and two 20-level updates of `venue`.
fn frames(venue: Venue) -> (String, String, String, [String; 2]) {
    let book = |snapshot: bool, n: usize, k: usize| {
        let (b, a) = (levels(venue, true, n, k), levels(venue, false, n, k));
        match venue {
            Venue::Bybit => format!(
                r#"{{"topic":"orderbook.50.BTCUSDT","type":"{}","ts":1,"data":{{"s":"BTCUSDT","b":[{b}],"a":[{a}],"u":1,"seq":1}},"cts":1}}"#,
                if snapshot { "snapshot" } else { "delta" }
            ),
            Venue::Okx => format!(
                r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"{}","data":[{{"asks":[{a}],"bids":[{b}],"ts":"1","checksum":1,"prevSeqId":1,"seqId":2}}]}}"#,
                if snapshot { "snapshot" } else { "update" }
            ),
            Venue::Kraken => format!(
                r#"{{"channel":"book","type":"{}","data":[{{"symbol":"BTC/USD","bids":[{b}],"asks":[{a}],"checksum":1,"timestamp":"2023-10-06T17:35:55.440295Z"}}]}}"#,
                if snapshot { "snapshot" } else { "update" }
            ),
            _ => format!(
                r#"{{"channel":"l2_data","client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":0,"events":[{{"type":"{}","product_id":"BTC-USD","updates":[{b},{a}]}}]}}"#,
                if snapshot { "snapshot" } else { "update" }
            ),
        }
    };
    let (trade, bbo) = match venue {
        Venue::Bybit => (
            r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}]}"#,
            r#"{"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1672304484978,"data":{"s":"BTCUSDT","b":[["16493.50","0.006"]],"a":[["16611.00","0.029"]],"u":18521288,"seq":7961638724},"cts":1672304484976}"#,
        ),
        Venue::Okx => (
            r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","ts":"1630048897897","count":"3","source":"0","seqId":1234}]}"#,
            r#"{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT"},"data":[{"asks":[["111.06","55154","0","2"]],"bids":[["111.05","57745","0","2"]],"ts":"1670324386802","seqId":363996337}]}"#,
        ),
        Venue::Kraken => (
            r#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":45283.5,"qty":0.00100000,"ord_type":"limit","trade_id":4665846,"timestamp":"2023-09-25T07:48:36.925533Z"}]}"#,
            r#"{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":45283.5,"bid_qty":0.10000000,"ask":45285.2,"ask_qty":0.00100000,"last":45283.4}]}"#,
        ),
        _ => (
            r#"{"channel":"market_trades","client_id":"","timestamp":"2023-02-09T20:19:35.39625135Z","sequence_num":0,"events":[{"type":"update","trades":[{"trade_id":"000000000","product_id":"BTC-USD","price":"1260.01","size":"0.3","side":"BUY","time":"2019-08-14T20:42:27.265Z"}]}]}"#,
            r#"{"channel":"ticker","client_id":"","timestamp":"2023-02-09T20:30:37.167359596Z","sequence_num":0,"events":[{"type":"update","tickers":[{"type":"ticker","product_id":"BTC-USD","price":"21932.98","best_bid":"21931.98","best_bid_quantity":"8000.21","best_ask":"21933.98","best_ask_quantity":"8038.07770938"}]}]}"#,
        ),
    };
    (
        trade.to_string(),
        bbo.to_string(),
        book(true, 50, 0),
        [book(false, 10, 1), book(false, 10, 2)],
    )
}

const VENUES: [(Venue, &str); 4] = [
    (Venue::Bybit, "BTC-USDT"),
    (Venue::Okx, "BTC-USDT"),
    (Venue::Kraken, "BTC-USD"),
    (Venue::Coinbase, "BTC-USD"),
];

fn rule(venue: Venue) -> BookRule {
    match venue {
        Venue::Bybit => BookRule::Bybit,
        Venue::Okx => BookRule::Okx,
        Venue::Kraken => BookRule::Kraken {
            price_dp: 2,
            qty_dp: 3,
            depth: 50,
        },
        _ => BookRule::Coinbase,
    }
}

#[test]
fn trade_and_bbo_frames_allocate_nothing() {
    for (venue, canonical) in VENUES {
        let mut reg = Instruments::new();
        reg.intern(
            InstrumentSpec::from_canonical(venue.as_str(), canonical, dec!(0.01), dec!(0.001))
                .expect("a spec"),
        );
        let mut proto = market_data_protocol(venue, Arc::new(reg), ProtocolOptions::default())
            .expect("a protocol");
        let (trade, bbo, ..) = frames(venue);
        let mut ticks = 0u64;
        let mut run = |proto: &mut Box<dyn peregrine_exchanges::venue::VenueProtocol>| {
            for frame in [&trade, &bbo] {
                // Coinbase checks `sequence_num` per connection: replaying a frame is a gap
                // unless the connection starts again.
                proto.on_connect(&mut |_| ());
                let r = proto.on_frame(frame, 1, &mut |_| ticks += 1);
                assert_eq!(r, Ok(FrameOutcome::Data), "{venue}");
            }
        };
        run(&mut proto);
        let n = count_here(|| {
            for _ in 0..1_000 {
                run(&mut proto);
            }
        });
        assert_eq!(n, 0, "{venue}: trade/BBO frames allocated {n} times");
        assert_eq!(ticks, 2 * 1_001, "{venue}: one tick per frame");
    }
}

/// Normalizes `frame` and feeds its book message to `seq` as sequence `n` with `checksum`.
fn feed(
    norm: &mut dyn VenueNormalizer,
    seq: &mut BookSequencer,
    frame: &str,
    n: u64,
    checksum: Option<i64>,
) -> SyncOutcome {
    let mut outcome = SyncOutcome::Ignored;
    let r = norm.normalize(frame, &mut |m| {
        if let MsgKind::Book(b) = m.kind {
            let b = BookMsg {
                seq: Some(n),
                prev_seq: Some(if b.snapshot { -1 } else { n as i64 - 1 }),
                checksum,
                ..b
            };
            outcome = seq.on_book(&b, m.exch_ts_ns, 1, &mut |_| ());
        }
    });
    assert!(r.is_ok(), "{r:?}");
    outcome
}

#[test]
fn depth_updates_with_checksums_allocate_nothing() {
    for (venue, _) in VENUES {
        let (_, _, snapshot, deltas) = frames(venue);
        let mut norm = normalizer(venue).expect("a normalizer");
        let mut seq = BookSequencer::new(InstrumentId(0), rule(venue));
        assert_eq!(
            feed(&mut *norm, &mut seq, &snapshot, 1, None),
            SyncOutcome::Applied
        );
        let mut checksums = [None; 2];
        let mut scratch = String::new();
        for (k, delta) in deltas.iter().enumerate() {
            let n = 2 + k as u64;
            assert_eq!(
                feed(&mut *norm, &mut seq, delta, n, None),
                SyncOutcome::Applied
            );
            checksums[k] = match rule(venue) {
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
            };
        }
        let mut next = 3u64;
        let mut step = |seq: &mut BookSequencer, norm: &mut dyn VenueNormalizer| {
            next += 1;
            let k = (next % 2) as usize;
            let out = feed(norm, seq, &deltas[k], next, checksums[k]);
            assert_eq!(out, SyncOutcome::Applied, "{venue} update {next}");
        };
        for _ in 0..4 {
            step(&mut seq, &mut *norm);
        }
        let n = count_here(|| {
            for _ in 0..1_000 {
                step(&mut seq, &mut *norm);
            }
        });
        assert_eq!(n, 0, "{venue}: depth updates allocated {n} times");
        assert!(seq.is_synced() && seq.stale_events() == 0, "{venue}");
    }
}

#[test]
fn binance_trade_agg_trade_and_book_ticker_frames_allocate_nothing() {
    use peregrine_exchanges::binance::feed::{BinanceProtocol, FeedConfig};
    use peregrine_exchanges::venue::VenueProtocol;
    let mut reg = Instruments::new();
    reg.intern(
        InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.00001))
            .expect("a spec"),
    );
    let cfg = FeedConfig::new("ws://127.0.0.1:9", "http://127.0.0.1:9");
    let mut proto = BinanceProtocol::new(&cfg, Arc::new(reg)).expect("a protocol");
    proto.on_connect(&mut |_| ());
    let frames = [
        r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1672515782136,"s":"BTCUSDT","t":3284793015,"p":"43000.12000000","q":"0.00150000","T":1672515782136,"m":true,"M":true}}"#,
        r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1672515782136,"s":"BTCUSDT","a":12345,"p":"43000.12000000","q":"0.00150000","f":100,"l":105,"T":1672515782136,"m":true,"M":true}}"#,
        r#"{"stream":"btcusdt@bookTicker","data":{"u":400900217,"s":"BTCUSDT","b":"43000.10000000","B":"31.21000000","a":"43000.11000000","A":"40.66000000"}}"#,
    ];
    let mut ticks = 0u64;
    let mut run = |proto: &mut BinanceProtocol| {
        for frame in frames {
            let r = proto.on_frame(frame, 1, &mut |_| ticks += 1);
            assert_eq!(r, Ok(FrameOutcome::Data));
        }
    };
    run(&mut proto);
    let n = count_here(|| {
        for _ in 0..1_000 {
            run(&mut proto);
        }
    });
    assert_eq!(n, 0, "binance: frames allocated {n} times");
    assert_eq!(ticks, 3 * 1_001, "one tick per frame");
}
