//! Between the engine's `Tick`s and bus events.
//!
//! The feed side ([`Assembler`]) turns the connection manager's ticks, one per book level,
//! back into one event per venue message (a snapshot is its `BookSnapshot` tick and the
//! levels up to `END_OF_BATCH`) and numbers them: every subject has its own sequence from 1,
//! except that `book_delta` and `book_snapshot` of an instrument share one (the book's), so a
//! consumer sees where a snapshot sits among the deltas. A consumer that sees a number jump
//! has lost messages.
//!
//! The consumer side ([`to_ticks`]) makes the ticks the core applies, exactly as a direct
//! feed delivers them.

use peregrine_engine::tick::{BookDelta, Tick, TickKind};
use peregrine_engine::types::{InstrumentId, Side};

use super::codec::{BookLevels, BusEvent, Kind, Payload};

/// The sequence streams of one instrument: trade, quote, book (deltas and snapshots), bar,
/// status.
const STREAMS: usize = 5;

/// The sequence stream of a kind.
pub fn stream_of(kind: Kind) -> usize {
    match kind {
        Kind::Trade => 0,
        Kind::Quote => 1,
        Kind::BookDelta | Kind::BookSnapshot => 2,
        Kind::Bar => 3,
        Kind::Status => 4,
    }
}

/// A book message being collected from its level ticks.
#[derive(Debug)]
struct Pending {
    snapshot: bool,
    exch_ts_ns: i64,
    levels: BookLevels,
}

/// What the assembler threw away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AssembleStats {
    /// Book messages left incomplete (a status, a snapshot start or a level of the other
    /// kind arrived before their `END_OF_BATCH`).
    pub incomplete: u64,
    /// Snapshot levels without the snapshot's start.
    pub orphan_levels: u64,
}

/// Feed side: ticks in, numbered bus events out.
#[derive(Debug, Default)]
pub struct Assembler {
    pending: Vec<Option<Pending>>,
    seqs: Vec<[u64; STREAMS]>,
    /// What was thrown away so far.
    pub stats: AssembleStats,
}

impl Assembler {
    /// An assembler for `instruments` instruments (ids `0..instruments`; more grow on use).
    pub fn new(instruments: usize) -> Self {
        let mut a = Assembler::default();
        a.grow(instruments);
        a
    }

    fn grow(&mut self, n: usize) {
        if self.pending.len() < n {
            self.pending.resize_with(n, || None);
            self.seqs.resize(n, [0; STREAMS]);
        }
    }

    /// The last sequence given on `kind`'s stream of `instrument` (0: none yet).
    pub fn last_seq(&self, instrument: InstrumentId, kind: Kind) -> u64 {
        self.seqs
            .get(instrument.index())
            .map_or(0, |s| s[stream_of(kind)])
    }

    fn next_seq(&mut self, instrument: InstrumentId, kind: Kind) -> u64 {
        let s = &mut self.seqs[instrument.index()][stream_of(kind)];
        *s += 1;
        *s
    }

    fn emit(
        &mut self,
        instrument: InstrumentId,
        exch_ts_ns: i64,
        payload: Payload,
        now_ns: i64,
        out: &mut Vec<(InstrumentId, BusEvent)>,
    ) {
        let seq = self.next_seq(instrument, payload.kind());
        out.push((
            instrument,
            BusEvent {
                seq,
                exch_ts_ns,
                pub_ts_ns: now_ns,
                payload,
            },
        ));
    }

    /// Numbers an event made elsewhere (a bar) on its instrument's stream and appends it.
    pub fn push_event(
        &mut self,
        instrument: InstrumentId,
        exch_ts_ns: i64,
        payload: Payload,
        now_ns: i64,
        out: &mut Vec<(InstrumentId, BusEvent)>,
    ) {
        self.grow(instrument.index() + 1);
        self.emit(instrument, exch_ts_ns, payload, now_ns, out);
    }

    /// Takes one tick; appends to `out` the events it completes (`now_ns`: publish time).
    pub fn push(&mut self, tick: &Tick, now_ns: i64, out: &mut Vec<(InstrumentId, BusEvent)>) {
        let id = tick.instrument;
        self.grow(id.index() + 1);
        match tick.kind {
            TickKind::Trade(t) => self.emit(id, tick.exch_ts_ns, Payload::Trade(t), now_ns, out),
            TickKind::Quote(q) => self.emit(id, tick.exch_ts_ns, Payload::Quote(q), now_ns, out),
            TickKind::Status(s) => {
                // Ticks of an unfinished message were lost (the manager owes a Stale then).
                if self.pending[id.index()].take().is_some() {
                    self.stats.incomplete += 1;
                }
                self.emit(id, tick.exch_ts_ns, Payload::Status(s), now_ns, out);
            }
            TickKind::BookSnapshot { seq } => {
                if self.pending[id.index()].is_some() {
                    self.stats.incomplete += 1;
                }
                self.pending[id.index()] = Some(Pending {
                    snapshot: true,
                    exch_ts_ns: tick.exch_ts_ns,
                    levels: BookLevels {
                        venue_seq: seq,
                        ..BookLevels::default()
                    },
                });
            }
            TickKind::BookDelta(d) => {
                let snapshot = d.flags & BookDelta::SNAPSHOT != 0;
                let slot = &mut self.pending[id.index()];
                match slot {
                    Some(p) if p.snapshot == snapshot => {}
                    _ if snapshot => {
                        if slot.take().is_some() {
                            self.stats.incomplete += 1;
                        }
                        self.stats.orphan_levels += 1;
                        return;
                    }
                    _ => {
                        if slot.is_some() {
                            self.stats.incomplete += 1;
                        }
                        *slot = Some(Pending {
                            snapshot: false,
                            exch_ts_ns: tick.exch_ts_ns,
                            levels: BookLevels {
                                venue_seq: d.seq,
                                ..BookLevels::default()
                            },
                        });
                    }
                }
                let Some(p) = slot.as_mut() else { return };
                if !snapshot {
                    p.levels.venue_seq = d.seq;
                }
                match d.side {
                    Side::Buy => p.levels.bids.push([d.price, d.qty]),
                    Side::Sell => p.levels.asks.push([d.price, d.qty]),
                }
                if d.is_end_of_batch() {
                    if let Some(p) = slot.take() {
                        let payload = if p.snapshot {
                            Payload::BookSnapshot(p.levels)
                        } else {
                            Payload::BookDelta(p.levels)
                        };
                        self.emit(id, p.exch_ts_ns, payload, now_ns, out);
                    }
                }
            }
        }
    }
}

/// Consumer side: the ticks of one bus event for `instrument`, as a direct feed delivers them
/// (a book message is one tick per level, bids then asks, the last with `END_OF_BATCH`; a
/// snapshot starts with its `BookSnapshot` tick). A bar has no tick (the engine builds its
/// own from trades). `recv_ns` is the consumer's receive time.
pub fn to_ticks(instrument: InstrumentId, ev: &BusEvent, recv_ns: u64, out: &mut Vec<Tick>) {
    let tick = |kind| Tick {
        instrument,
        exch_ts_ns: ev.exch_ts_ns,
        recv_ns,
        kind,
    };
    match &ev.payload {
        Payload::Trade(t) => out.push(tick(TickKind::Trade(*t))),
        Payload::Quote(q) => out.push(tick(TickKind::Quote(*q))),
        Payload::Status(s) => out.push(tick(TickKind::Status(*s))),
        Payload::Bar(_) => {}
        Payload::BookDelta(b) | Payload::BookSnapshot(b) => {
            let snapshot = matches!(ev.payload, Payload::BookSnapshot(_));
            out.extend(BookDelta::message(&b.bids, &b.asks, b.venue_seq, snapshot).map(tick));
        }
    }
}

#[cfg(test)]
mod tests {
    use peregrine_engine::tick::{FeedStatus, Quote, Trade};
    use rust_decimal::Decimal;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    fn tick(i: u32, kind: TickKind) -> Tick {
        Tick {
            instrument: InstrumentId(i),
            exch_ts_ns: 1_000 + i as i64,
            recv_ns: 0,
            kind,
        }
    }

    fn level(side: Side, p: &str, q: &str, seq: u64, flags: u8) -> TickKind {
        TickKind::BookDelta(BookDelta {
            side,
            price: d(p),
            qty: d(q),
            seq,
            flags,
        })
    }

    /// What a direct feed delivers for two instruments, interleaved (two connections share
    /// the queue): snapshot, trades, deltas, a quote, a status.
    fn direct_ticks() -> Vec<Tick> {
        let s = BookDelta::SNAPSHOT;
        let e = BookDelta::END_OF_BATCH;
        vec![
            tick(0, TickKind::BookSnapshot { seq: 10 }),
            tick(0, level(Side::Buy, "99.5", "1", 10, s)),
            tick(1, TickKind::Status(FeedStatus::Connected)),
            tick(0, level(Side::Buy, "99.4", "2", 10, s)),
            tick(0, level(Side::Sell, "100.5", "3", 10, s | e)),
            tick(
                1,
                TickKind::Trade(Trade {
                    price: d("5.00"),
                    qty: d("0.1"),
                    side: Side::Buy,
                    trade_id: 9,
                }),
            ),
            tick(0, level(Side::Buy, "99.5", "0", 11, 0)),
            tick(1, level(Side::Sell, "5.01", "7", 3, e)),
            tick(0, level(Side::Sell, "100.4", "1", 11, e)),
            tick(
                0,
                TickKind::Quote(Quote {
                    bid_px: d("99.4"),
                    bid_qty: d("2"),
                    ask_px: d("100.4"),
                    ask_qty: d("1"),
                    update_id: 11,
                }),
            ),
            tick(0, TickKind::Status(FeedStatus::Stale)),
        ]
    }

    #[test]
    fn ticks_become_one_event_per_message_and_back_the_same_ticks() {
        let mut a = Assembler::new(2);
        let mut events = Vec::new();
        for t in direct_ticks() {
            a.push(&t, 77, &mut events);
        }
        let kinds: Vec<(u32, Kind, u64)> = events
            .iter()
            .map(|(i, e)| (i.0, e.payload.kind(), e.seq))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (1, Kind::Status, 1),
                (0, Kind::BookSnapshot, 1),
                (1, Kind::Trade, 1),
                (1, Kind::BookDelta, 1),
                (0, Kind::BookDelta, 2),
                (0, Kind::Quote, 1),
                (0, Kind::Status, 1),
            ]
        );
        assert_eq!(a.stats, AssembleStats::default());
        assert_eq!(a.last_seq(InstrumentId(0), Kind::BookSnapshot), 2);
        // Back to ticks, each instrument's ticks are the direct feed's, in order.
        let mut back = Vec::new();
        for (i, e) in &events {
            to_ticks(*i, e, 0, &mut back);
        }
        for inst in 0..2 {
            let want: Vec<Tick> = direct_ticks()
                .into_iter()
                .filter(|t| t.instrument.0 == inst)
                .collect();
            let got: Vec<Tick> = back
                .iter()
                .copied()
                .filter(|t| t.instrument.0 == inst)
                .collect();
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "instrument {inst}");
        }
    }

    #[test]
    fn an_unfinished_message_is_dropped_and_counted() {
        let mut a = Assembler::new(1);
        let mut events = Vec::new();
        // Levels of a delta whose end was lost, then the manager's owed Stale.
        a.push(&tick(0, level(Side::Buy, "1", "1", 5, 0)), 0, &mut events);
        a.push(
            &tick(0, TickKind::Status(FeedStatus::Stale)),
            0,
            &mut events,
        );
        // Snapshot levels without their start.
        let end = BookDelta::SNAPSHOT | BookDelta::END_OF_BATCH;
        a.push(&tick(0, level(Side::Buy, "1", "1", 5, end)), 0, &mut events);
        assert_eq!(events.len(), 1);
        assert!(matches!(
            events[0].1.payload,
            Payload::Status(FeedStatus::Stale)
        ));
        assert_eq!(
            a.stats,
            AssembleStats {
                incomplete: 1,
                orphan_levels: 1
            }
        );
    }
}
