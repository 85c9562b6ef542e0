//! Sequencer rules per venue and the venues' published checksum examples.
//! Sample sources: `exchanges/tests/SOURCES.md`.

use peregrine_engine::tick::{BookDelta, FeedStatus, Tick, TickKind};
use peregrine_engine::types::{InstrumentId, Side};
use rust_decimal::Decimal;

use super::*;
use crate::md::{BookMsg, Level};

fn d(s: &str) -> Decimal {
    Decimal::from_str_exact(s).unwrap()
}

fn lv(side: Side, p: &str, q: &str) -> Level {
    (side, d(p), d(q))
}

fn msg(levels: &[Level]) -> BookMsg<'_> {
    BookMsg {
        snapshot: false,
        levels,
        seq: None,
        first_seq: None,
        prev_seq: None,
        cross_seq: None,
        checksum: None,
    }
}

struct Run {
    seq: BookSequencer,
    ticks: Vec<Tick>,
}

impl Run {
    fn new(rule: BookRule) -> Self {
        Self {
            seq: BookSequencer::new(InstrumentId(3), rule),
            ticks: Vec::new(),
        }
    }
    fn feed(&mut self, m: BookMsg<'_>) -> SyncOutcome {
        let ticks = &mut self.ticks;
        self.seq.on_book(&m, 7, 9, &mut |t| ticks.push(t))
    }
    fn statuses(&self) -> Vec<FeedStatus> {
        crate::md::testutil::statuses(&self.ticks)
    }
    fn take(&mut self) -> Vec<Tick> {
        std::mem::take(&mut self.ticks)
    }
    fn bids(&self) -> Vec<(Decimal, Decimal)> {
        self.seq.book().bids.levels().to_vec()
    }
    fn asks(&self) -> Vec<(Decimal, Decimal)> {
        self.seq.book().asks.levels().to_vec()
    }
}

fn base_levels() -> Vec<Level> {
    vec![
        lv(Side::Buy, "100", "1"),
        lv(Side::Buy, "99", "2"),
        lv(Side::Sell, "101", "3"),
        lv(Side::Sell, "102", "4"),
    ]
}

// ---- checksums: the venues' own worked examples -------------------------------------------

/// Kraken "Spot Websockets (v2) Book Checksum" guide, BTC/USD example (price precision 1,
/// qty precision 8): checksum 3310070434.
#[test]
fn kraken_checksum_matches_the_documented_example() {
    let bids = [
        ("45283.5", "0.10000000"),
        ("45283.4", "1.54582015"),
        ("45282.1", "0.10000000"),
        ("45281.0", "0.10000000"),
        ("45280.3", "1.54592586"),
        ("45279.0", "0.07990000"),
        ("45277.6", "0.03310103"),
        ("45277.5", "0.30000000"),
        ("45277.3", "1.54602737"),
        ("45276.6", "0.15445238"),
    ];
    let asks = [
        ("45285.2", "0.00100000"),
        ("45286.4", "1.54571953"),
        ("45286.6", "1.54571109"),
        ("45289.6", "1.54560911"),
        ("45290.2", "0.15890660"),
        ("45291.8", "1.54553491"),
        ("45294.7", "0.04454749"),
        ("45296.1", "0.35380000"),
        ("45297.5", "0.09945542"),
        ("45299.5", "0.18772827"),
    ];
    // Fed as JSON numbers lose trailing zeros ("0.1", "45281"): the precision restores them.
    let mut book = LocalBook::default();
    for (p, q) in bids {
        book.bids.set(d(p).normalize(), d(q).normalize());
    }
    for (p, q) in asks {
        book.asks.set(d(p).normalize(), d(q).normalize());
    }
    let mut scratch = String::new();
    assert_eq!(kraken_checksum(&book, 1, 8, &mut scratch), 3_310_070_434);
    // One level off by one unit of qty changes it.
    book.asks.set(d("45299.5"), d("0.18772828"));
    assert_ne!(kraken_checksum(&book, 1, 8, &mut scratch), 3_310_070_434);
}

/// OKX checksum examples ("3366.1:7:3366.8:9:3366:6:3368:8" → -1881014294 and the uneven
/// "3366.1:7:3366.8:9:3368:8:3372:8" → 831078360), from OKX's websocket checksum docs.
#[test]
fn okx_checksum_matches_the_documented_examples() {
    let mut scratch = String::new();
    let mut book = LocalBook::default();
    book.bids.set(d("3366.1"), d("7"));
    book.bids.set(d("3366"), d("6"));
    book.asks.set(d("3366.8"), d("9"));
    book.asks.set(d("3368"), d("8"));
    assert_eq!(okx_checksum(&book, &mut scratch), -1_881_014_294);
    assert_eq!(scratch, "3366.1:7:3366.8:9:3366:6:3368:8");

    let mut book = LocalBook::default();
    book.bids.set(d("3366.1"), d("7"));
    book.asks.set(d("3366.8"), d("9"));
    book.asks.set(d("3368"), d("8"));
    book.asks.set(d("3372"), d("8"));
    assert_eq!(okx_checksum(&book, &mut scratch), 831_078_360);
    assert_eq!(scratch, "3366.1:7:3366.8:9:3368:8:3372:8");

    // The venue's text matters: "3366.0" is not "3366".
    let mut book2 = LocalBook::default();
    book2.bids.set(d("3366.10"), d("7"));
    book2.asks.set(d("3366.8"), d("9"));
    book2.asks.set(d("3368"), d("8"));
    book2.asks.set(d("3372"), d("8"));
    assert_ne!(okx_checksum(&book2, &mut scratch), 831_078_360);
}

#[test]
fn okx_checksum_uses_only_the_top_25_levels() {
    let mut scratch = String::new();
    let mut book = LocalBook::default();
    for i in 0..30 {
        book.bids.set(Decimal::from(100 - i), Decimal::ONE);
        book.asks.set(Decimal::from(200 + i), Decimal::ONE);
    }
    let full = okx_checksum(&book, &mut scratch);
    assert!(
        scratch.contains(":76:1") && !scratch.contains(":75:1"),
        "{scratch}"
    );
    book.bids.set(Decimal::from(71), Decimal::TWO); // the 30th bid
    assert_eq!(okx_checksum(&book, &mut scratch), full);
}

// ---- the local book --------------------------------------------------------------------------

#[test]
fn side_book_keeps_order_and_deletes() {
    let mut r = Run::new(BookRule::Coinbase);
    let mut snap = msg(&[]);
    let levels = base_levels();
    snap.levels = &levels;
    snap.snapshot = true;
    assert_eq!(r.feed(snap), SyncOutcome::Applied);
    let upd = [
        lv(Side::Buy, "99.5", "5"),
        lv(Side::Buy, "100", "0"),
        lv(Side::Sell, "101.5", "1"),
        lv(Side::Sell, "105", "0"), // deleting an absent level is normal
    ];
    assert_eq!(r.feed(msg(&upd)), SyncOutcome::Applied);
    assert_eq!(r.bids(), vec![(d("99.5"), d("5")), (d("99"), d("2"))]);
    assert_eq!(
        r.asks(),
        vec![(d("101"), d("3")), (d("101.5"), d("1")), (d("102"), d("4"))]
    );
}

#[test]
fn snapshot_emits_book_snapshot_then_levels_with_end_of_batch() {
    let mut r = Run::new(BookRule::Bybit);
    let levels = base_levels();
    let mut snap = msg(&levels);
    snap.snapshot = true;
    snap.seq = Some(10);
    assert_eq!(r.feed(snap), SyncOutcome::Applied);
    let ticks = r.take();
    assert_eq!(ticks[0].kind, TickKind::BookSnapshot { seq: 10 });
    assert_eq!(ticks.len(), 5);
    let deltas: Vec<BookDelta> = ticks[1..]
        .iter()
        .map(|t| match t.kind {
            TickKind::BookDelta(d) => d,
            k => panic!("{k:?}"),
        })
        .collect();
    assert!(deltas.iter().all(|x| x.flags & BookDelta::SNAPSHOT != 0));
    assert_eq!(deltas.iter().filter(|x| x.is_end_of_batch()).count(), 1);
    assert!(deltas[3].is_end_of_batch());
    assert_eq!(ticks[0].instrument, InstrumentId(3));
    assert_eq!((ticks[0].exch_ts_ns, ticks[0].recv_ns), (7, 9));
}

// ---- Bybit ------------------------------------------------------------------------------------

fn bybit_synced() -> Run {
    let mut r = Run::new(BookRule::Bybit);
    let levels = base_levels();
    let mut snap = msg(&levels);
    snap.snapshot = true;
    snap.seq = Some(100);
    assert_eq!(r.feed(snap), SyncOutcome::Applied);
    r.take();
    r
}

fn with_seq(levels: &[Level], u: u64) -> BookMsg<'_> {
    let mut m = msg(levels);
    m.seq = Some(u);
    m
}

#[test]
fn bybit_contiguous_applies_duplicate_ignored_gap_resyncs() {
    let mut r = bybit_synced();
    let l = [lv(Side::Buy, "100", "1.5")];
    assert_eq!(r.feed(with_seq(&l, 101)), SyncOutcome::Applied);
    assert_eq!(r.feed(with_seq(&l, 101)), SyncOutcome::Ignored); // duplicate
    assert_eq!(r.feed(with_seq(&l, 99)), SyncOutcome::Ignored); // old / out of order
    let gap = r.feed(with_seq(&l, 103));
    assert!(
        matches!(gap, SyncOutcome::Resync(ref s) if s.contains("gap")),
        "{gap:?}"
    );
    assert_eq!(r.statuses(), vec![FeedStatus::Stale]);
    assert_eq!(r.seq.stale_events(), 1);
    assert!(!r.seq.is_synced());
    // Deltas while waiting are dropped; the next snapshot resyncs.
    assert_eq!(r.feed(with_seq(&l, 104)), SyncOutcome::Ignored);
    let levels = base_levels();
    let mut snap = with_seq(&levels, 200);
    snap.snapshot = true;
    assert_eq!(r.feed(snap), SyncOutcome::Applied);
    assert_eq!(r.statuses(), vec![FeedStatus::Stale, FeedStatus::Resynced]);
    assert_eq!(r.bids(), vec![(d("100"), d("1")), (d("99"), d("2"))]);
}

#[test]
fn bybit_u_equal_one_is_a_snapshot_even_when_labelled_delta() {
    let mut r = bybit_synced();
    let l = [lv(Side::Buy, "50", "1"), lv(Side::Sell, "60", "1")];
    assert_eq!(r.feed(with_seq(&l, 1)), SyncOutcome::Applied);
    assert_eq!(r.bids(), vec![(d("50"), d("1"))]);
    assert_eq!(r.asks(), vec![(d("60"), d("1"))]);
    assert!(matches!(r.ticks[0].kind, TickKind::BookSnapshot { seq: 1 }));
    assert_eq!(r.feed(with_seq(&[], 2)), SyncOutcome::Applied);
}

#[test]
fn crossed_book_is_stale() {
    let mut r = bybit_synced();
    let l = [lv(Side::Buy, "101", "1")]; // bid at the best ask
    let out = r.feed(with_seq(&l, 101));
    assert!(
        matches!(out, SyncOutcome::Resync(ref s) if s == "crossed book"),
        "{out:?}"
    );
    assert_eq!(r.statuses(), vec![FeedStatus::Stale]);
    // The crossing delta itself was not passed downstream.
    assert!(!r
        .ticks
        .iter()
        .any(|t| matches!(t.kind, TickKind::BookDelta(_))));
}

// ---- OKX --------------------------------------------------------------------------------------

fn okx(levels: &[Level], prev: i64, seq: u64, checksum: Option<i64>) -> BookMsg<'_> {
    let mut m = msg(levels);
    m.prev_seq = Some(prev);
    m.seq = Some(seq);
    m.checksum = checksum;
    m
}

fn okx_synced() -> Run {
    let mut r = Run::new(BookRule::Okx);
    let levels = [
        lv(Side::Buy, "3366.1", "7"),
        lv(Side::Buy, "3366", "6"),
        lv(Side::Sell, "3366.8", "9"),
        lv(Side::Sell, "3368", "8"),
    ];
    let mut snap = okx(&levels, -1, 10, Some(-1_881_014_294));
    snap.snapshot = true;
    assert_eq!(r.feed(snap), SyncOutcome::Applied);
    r.take();
    r
}

#[test]
fn okx_prev_seq_chain_checksum_and_reset() {
    let mut r = okx_synced();
    // Remove the 3366 bid and add 3372 on the asks: the second documented example.
    let upd = [lv(Side::Buy, "3366", "0"), lv(Side::Sell, "3372", "8")];
    assert_eq!(
        r.feed(okx(&upd, 10, 11, Some(831_078_360))),
        SyncOutcome::Applied
    );
    // Keep-alive update: no levels, prevSeqId == seqId.
    assert_eq!(
        r.feed(okx(&[], 11, 11, Some(831_078_360))),
        SyncOutcome::Applied
    );
    // Duplicate of an earlier message.
    assert_eq!(r.feed(okx(&upd, 10, 11, None)), SyncOutcome::Ignored);
    // Sequence reset (seqId < prevSeqId) is accepted.
    assert_eq!(r.feed(okx(&[], 11, 3, None)), SyncOutcome::Applied);
    assert_eq!(r.feed(okx(&[], 3, 4, Some(0))), SyncOutcome::Applied); // 0 = no checksum
    assert_eq!(r.statuses(), vec![]);
}

#[test]
fn okx_gap_and_bad_checksum_resync() {
    let mut r = okx_synced();
    let out = r.feed(okx(&[], 12, 13, None));
    assert!(
        matches!(out, SyncOutcome::Resync(ref s) if s.contains("prevSeqId 12")),
        "{out:?}"
    );
    let mut r = okx_synced();
    let upd = [lv(Side::Buy, "3366", "5")];
    let out = r.feed(okx(&upd, 10, 11, Some(-1_881_014_294)));
    assert!(
        matches!(out, SyncOutcome::Resync(ref s) if s.contains("checksum")),
        "{out:?}"
    );
    assert_eq!(r.statuses(), vec![FeedStatus::Stale]);
    // A snapshot whose checksum is wrong is refused too.
    let levels = [lv(Side::Buy, "1", "1")];
    let mut snap = okx(&levels, -1, 20, Some(12345));
    snap.snapshot = true;
    assert!(matches!(r.feed(snap), SyncOutcome::Resync(_)));
    assert_eq!(r.seq.stale_events(), 2);
}

// ---- Kraken -----------------------------------------------------------------------------------

const KRAKEN: BookRule = BookRule::Kraken {
    price_dp: 1,
    qty_dp: 8,
    depth: 2,
};

fn kraken_sum(levels: &[(Side, &str, &str)]) -> i64 {
    let mut book = LocalBook::default();
    for &(s, p, q) in levels {
        match s {
            Side::Buy => book.bids.set(d(p), d(q)),
            Side::Sell => book.asks.set(d(p), d(q)),
        }
    }
    i64::from(kraken_checksum(&book, 1, 8, &mut String::new()))
}

#[test]
fn kraken_truncates_to_depth_then_checks_the_checksum() {
    let mut r = Run::new(KRAKEN);
    let levels = [
        lv(Side::Buy, "10.0", "1"),
        lv(Side::Buy, "9.5", "1"),
        lv(Side::Sell, "11", "1"),
        lv(Side::Sell, "12", "1"),
    ];
    let mut snap = msg(&levels);
    snap.snapshot = true;
    snap.checksum = Some(kraken_sum(&[
        (Side::Buy, "10", "1"),
        (Side::Buy, "9.5", "1"),
        (Side::Sell, "11", "1"),
        (Side::Sell, "12", "1"),
    ]));
    assert_eq!(r.feed(snap), SyncOutcome::Applied);
    // Insert a better bid: depth 2 pushes 9.5 out without a delete from the venue.
    let upd = [lv(Side::Buy, "10.5", "2")];
    let mut m = msg(&upd);
    m.checksum = Some(kraken_sum(&[
        (Side::Buy, "10.5", "2"),
        (Side::Buy, "10", "1"),
        (Side::Sell, "11", "1"),
        (Side::Sell, "12", "1"),
    ]));
    assert_eq!(r.feed(m), SyncOutcome::Applied);
    assert_eq!(r.bids(), vec![(d("10.5"), d("2")), (d("10.0"), d("1"))]);
    // Wrong checksum: stale.
    let upd = [lv(Side::Sell, "11", "3")];
    let mut m = msg(&upd);
    m.checksum = Some(1);
    assert!(matches!(r.feed(m), SyncOutcome::Resync(ref s) if s.contains("checksum")));
    assert_eq!(r.statuses(), vec![FeedStatus::Stale]);
}

// ---- Binance ----------------------------------------------------------------------------------

fn binance(levels: &[Level], first: u64, last: u64) -> BookMsg<'_> {
    let mut m = msg(levels);
    m.first_seq = Some(first);
    m.seq = Some(last);
    m
}

#[test]
fn binance_buffers_until_snapshot_then_replays_by_the_documented_rules() {
    let mut r = Run::new(BookRule::Binance);
    let a = [lv(Side::Buy, "100", "5")];
    let b = [lv(Side::Sell, "101", "6")];
    let c = [lv(Side::Buy, "99", "0")];
    assert_eq!(r.feed(binance(&a, 95, 99)), SyncOutcome::Buffered); // u <= lastUpdateId: dropped
    assert_eq!(r.feed(binance(&b, 100, 102)), SyncOutcome::Buffered); // straddles 101
    assert_eq!(r.feed(binance(&c, 103, 103)), SyncOutcome::Buffered);
    let levels = base_levels();
    let mut snap = msg(&levels);
    snap.snapshot = true;
    snap.seq = Some(100);
    assert_eq!(r.feed(snap), SyncOutcome::Applied);
    assert_eq!(r.bids(), vec![(d("100"), d("1"))]);
    assert_eq!(r.asks(), vec![(d("101"), d("6")), (d("102"), d("4"))]);
    // Then live: old ignored, contiguous applied, gap resyncs.
    assert_eq!(r.feed(binance(&a, 101, 103)), SyncOutcome::Ignored);
    assert_eq!(r.feed(binance(&a, 104, 104)), SyncOutcome::Applied);
    assert!(matches!(
        r.feed(binance(&a, 106, 107)),
        SyncOutcome::Resync(ref s) if s.contains("gap")
    ));
    assert_eq!(r.statuses(), vec![FeedStatus::Stale]);
}

#[test]
fn binance_snapshot_older_than_the_buffer_asks_for_another() {
    let mut r = Run::new(BookRule::Binance);
    let a = [lv(Side::Buy, "100", "5")];
    assert_eq!(r.feed(binance(&a, 200, 201)), SyncOutcome::Buffered);
    let levels = base_levels();
    let mut snap = msg(&levels);
    snap.snapshot = true;
    snap.seq = Some(150);
    assert!(matches!(r.feed(snap), SyncOutcome::Resync(ref s) if s.contains("older")));
    assert!(!r.seq.is_synced());
}

#[test]
fn binance_gap_inside_the_buffer_resyncs_after_the_snapshot() {
    let mut r = Run::new(BookRule::Binance);
    let a = [lv(Side::Buy, "100", "5")];
    r.feed(binance(&a, 101, 102));
    r.feed(binance(&a, 105, 106)); // 103..104 lost
    let levels = base_levels();
    let mut snap = msg(&levels);
    snap.snapshot = true;
    snap.seq = Some(101);
    assert!(matches!(r.feed(snap), SyncOutcome::Resync(_)));
    assert!(!r.seq.is_synced());
    assert!(r.statuses().contains(&FeedStatus::Stale));
}

#[test]
fn reset_forgets_the_book_and_resynced_follows_the_next_snapshot() {
    let mut r = bybit_synced();
    r.seq.reset();
    assert!(!r.seq.is_synced());
    let levels = base_levels();
    let mut snap = with_seq(&levels, 5);
    snap.snapshot = true;
    r.feed(snap);
    assert_eq!(r.statuses(), vec![FeedStatus::Resynced]);
}

#[test]
fn kraken_levels_pushed_out_of_the_depth_are_deleted_downstream() {
    let mut r = Run::new(KRAKEN);
    let levels = [
        lv(Side::Buy, "10.0", "1"),
        lv(Side::Buy, "9.5", "1"),
        lv(Side::Sell, "11", "1"),
    ];
    let mut snap = msg(&levels);
    snap.snapshot = true;
    snap.checksum = Some(kraken_sum(&[
        (Side::Buy, "10", "1"),
        (Side::Buy, "9.5", "1"),
        (Side::Sell, "11", "1"),
    ]));
    r.feed(snap);
    r.take();
    // A better bid pushes 9.5 out of the two-level depth; the venue sends no delete for it.
    let upd = [lv(Side::Buy, "10.5", "2")];
    let mut m = msg(&upd);
    m.checksum = Some(kraken_sum(&[
        (Side::Buy, "10.5", "2"),
        (Side::Buy, "10", "1"),
        (Side::Sell, "11", "1"),
    ]));
    assert_eq!(r.feed(m), SyncOutcome::Applied);
    let deltas: Vec<(Side, Decimal, Decimal, bool)> = r
        .take()
        .iter()
        .filter_map(|t| match t.kind {
            TickKind::BookDelta(b) => Some((b.side, b.price, b.qty, b.is_end_of_batch())),
            _ => None,
        })
        .collect();
    assert_eq!(
        deltas,
        vec![
            (Side::Buy, d("10.5"), d("2"), false),
            (Side::Buy, d("9.5"), Decimal::ZERO, true),
        ]
    );
}

/// OKX `books5` sends only snapshots: each one replaces the book in sync without a status
/// (a `Resynced` follows only a lost book), and a later gap-free snapshot after a stale one
/// resyncs it.
#[test]
fn snapshots_into_a_synced_book_replace_it_without_a_status() {
    let mut r = Run::new(BookRule::Okx);
    let levels = base_levels();
    for seq in [10, 12, 15] {
        let mut snap = msg(&levels);
        (snap.snapshot, snap.seq) = (true, Some(seq));
        assert_eq!(r.feed(snap), SyncOutcome::Applied);
    }
    assert_eq!(r.statuses(), vec![]);
    let snapshots = r
        .take()
        .iter()
        .filter(|t| matches!(t.kind, TickKind::BookSnapshot { .. }))
        .count();
    assert_eq!(snapshots, 3);
    let smaller = [lv(Side::Buy, "100", "1"), lv(Side::Sell, "101", "3")];
    let mut snap = msg(&smaller);
    (snap.snapshot, snap.seq) = (true, Some(16));
    r.feed(snap);
    assert_eq!(r.bids(), vec![(d("100"), d("1"))]);
    assert_eq!(r.asks(), vec![(d("101"), d("3"))]);
    r.seq.mark_stale(7, 9, &mut |_| {});
    let mut snap = msg(&levels);
    (snap.snapshot, snap.seq) = (true, Some(20));
    r.feed(snap);
    assert_eq!(r.statuses(), vec![FeedStatus::Resynced]);
}
