//! The consumer side's ordering rules, without any I/O: which bus events an engine applies,
//! when a book has lost messages, and how it is resynced from a snapshot.
//!
//! Per instrument, the book (deltas and snapshots share one sequence) is either *synced* (the
//! last applied sequence is known) or *waiting* for a snapshot (deltas are buffered, up to a
//! bound). A delta numbered above `last + 1` is a gap: the book is marked stale (a `Stale`
//! status event goes to the core) and a snapshot is wanted. A `book_snapshot`, from the stream
//! (the feed resynced) or as the feed node's reply to a request, replaces the book; buffered
//! deltas numbered above it follow. Deltas at or below the last applied sequence are old
//! (they were in flight when a snapshot reply overtook them) and skipped. Trades, quotes and
//! statuses always pass; a jump in their numbers only counts what was lost.
//!
//! When the feed node goes silent (no heartbeat), [`Sequencer::feed_lost`] marks every synced
//! book stale and waiting: a feed node that comes back numbers from 1 again and publishes a
//! snapshot first.

use peregrine_engine::tick::FeedStatus;
use peregrine_engine::types::InstrumentId;

use super::assemble::stream_of;
use super::codec::{BusEvent, Kind, Payload};

/// What the sequencer asks its driver to do after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Nothing.
    Nothing,
    /// Request a snapshot of this instrument's book from the feed node.
    Snapshot(InstrumentId),
}

/// Counters of the consumer's ordering decisions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeqStats {
    /// Book gaps seen (each one marked the book stale).
    pub book_gaps: u64,
    /// Messages missing by sequence on the trade, quote, bar and status subjects.
    pub lost: u64,
    /// Book events skipped as older than the book (already covered by a snapshot).
    pub old: u64,
    /// Books resynced from a snapshot after having waited.
    pub resyncs: u64,
    /// Buffered deltas thrown away because the buffer was full.
    pub overflow: u64,
}

#[derive(Debug)]
enum BookState {
    Synced { last: u64 },
    Waiting { buffer: Vec<BusEvent> },
}

#[derive(Debug)]
struct Instrument {
    book: BookState,
    /// Last sequence per stream (the book's slot is unused).
    last: [u64; 5],
}

impl Default for Instrument {
    fn default() -> Self {
        Instrument {
            book: BookState::Waiting { buffer: Vec::new() },
            last: [0; 5],
        }
    }
}

/// The ordering state of every instrument a consumer follows.
#[derive(Debug)]
pub struct Sequencer {
    instruments: Vec<Instrument>,
    max_buffered: usize,
    /// What was decided so far.
    pub stats: SeqStats,
}

fn status(seq: u64, s: FeedStatus) -> BusEvent {
    BusEvent {
        seq,
        exch_ts_ns: 0,
        pub_ts_ns: 0,
        payload: Payload::Status(s),
    }
}

impl Sequencer {
    /// State for `n` instruments (ids `0..n`), every book waiting for its first snapshot;
    /// at most `max_buffered` deltas are held per book while it waits.
    pub fn new(n: usize, max_buffered: usize) -> Self {
        Sequencer {
            instruments: (0..n).map(|_| Instrument::default()).collect(),
            max_buffered,
            stats: SeqStats::default(),
        }
    }

    /// True if the book of `id` waits for a snapshot.
    pub fn waiting(&self, id: InstrumentId) -> bool {
        self.instruments
            .get(id.index())
            .is_some_and(|i| matches!(i.book, BookState::Waiting { .. }))
    }

    /// The instruments whose books wait for a snapshot.
    pub fn waiting_ids(&self) -> impl Iterator<Item = InstrumentId> + '_ {
        (0..self.instruments.len())
            .map(|i| InstrumentId(i as u32))
            .filter(|id| self.waiting(*id))
    }

    /// Takes one event from the stream; appends what the core applies to `out`.
    pub fn on_event(
        &mut self,
        id: InstrumentId,
        ev: BusEvent,
        out: &mut Vec<(InstrumentId, BusEvent)>,
    ) -> Want {
        let Some(inst) = self.instruments.get_mut(id.index()) else {
            return Want::Nothing;
        };
        match ev.payload.kind() {
            Kind::BookSnapshot => {
                self.apply_snapshot(id, ev, out);
                Want::Nothing
            }
            Kind::BookDelta => match &mut inst.book {
                BookState::Synced { last } if ev.seq <= *last => {
                    self.stats.old += 1;
                    Want::Nothing
                }
                BookState::Synced { last } if ev.seq == *last + 1 => {
                    *last = ev.seq;
                    out.push((id, ev));
                    Want::Nothing
                }
                BookState::Synced { .. } => {
                    self.stats.book_gaps += 1;
                    inst.book = BookState::Waiting { buffer: vec![ev] };
                    out.push((id, status(0, FeedStatus::Stale)));
                    Want::Snapshot(id)
                }
                BookState::Waiting { buffer } => {
                    if buffer.len() >= self.max_buffered {
                        self.stats.overflow += buffer.len() as u64;
                        buffer.clear();
                    }
                    buffer.push(ev);
                    Want::Nothing
                }
            },
            kind => {
                let last = &mut inst.last[stream_of(kind)];
                if *last != 0 && ev.seq > *last + 1 {
                    self.stats.lost += ev.seq - *last - 1;
                }
                *last = ev.seq;
                out.push((id, ev));
                Want::Nothing
            }
        }
    }

    /// Takes the feed node's reply to a snapshot request: a `book_snapshot` resyncs a waiting
    /// book (a synced book ignores it); a `Stale` status means the feed's own book is not
    /// trusted yet (returns true: ask again later).
    pub fn on_snapshot_reply(
        &mut self,
        id: InstrumentId,
        ev: BusEvent,
        out: &mut Vec<(InstrumentId, BusEvent)>,
    ) -> bool {
        if !matches!(ev.payload, Payload::BookSnapshot(_)) {
            return true;
        }
        if self.waiting(id) {
            self.apply_snapshot(id, ev, out);
        }
        false
    }

    fn apply_snapshot(
        &mut self,
        id: InstrumentId,
        ev: BusEvent,
        out: &mut Vec<(InstrumentId, BusEvent)>,
    ) {
        let Some(inst) = self.instruments.get_mut(id.index()) else {
            return;
        };
        let mut last = ev.seq;
        out.push((id, ev));
        let buffered = match std::mem::replace(&mut inst.book, BookState::Synced { last }) {
            BookState::Waiting { buffer } => {
                self.stats.resyncs += 1;
                buffer
            }
            BookState::Synced { .. } => Vec::new(),
        };
        let mut rest = buffered.into_iter();
        for d in rest.by_ref() {
            if d.seq <= last {
                self.stats.old += 1;
            } else if d.seq == last + 1 {
                last = d.seq;
                out.push((id, d));
            } else {
                // Still a hole after the snapshot: wait for a newer one.
                self.stats.book_gaps += 1;
                let mut buffer = vec![d];
                buffer.extend(rest);
                inst.book = BookState::Waiting { buffer };
                out.push((id, status(0, FeedStatus::Stale)));
                return;
            }
        }
        inst.book = BookState::Synced { last };
    }

    /// The book of `id` lost ticks on the way to the core: it waits for a snapshot (the
    /// caller tells the core it is stale). False if it was waiting already.
    pub fn mark_stale(&mut self, id: InstrumentId) -> bool {
        let Some(inst) = self.instruments.get_mut(id.index()) else {
            return false;
        };
        let was_synced = matches!(inst.book, BookState::Synced { .. });
        inst.book = BookState::Waiting { buffer: Vec::new() };
        was_synced
    }

    /// The feed node went silent: every synced book becomes stale and waits for a snapshot,
    /// and the other streams' numbering starts over (a returning feed counts from 1).
    pub fn feed_lost(&mut self, out: &mut Vec<(InstrumentId, BusEvent)>) {
        for (i, inst) in self.instruments.iter_mut().enumerate() {
            if matches!(inst.book, BookState::Synced { .. }) {
                out.push((InstrumentId(i as u32), status(0, FeedStatus::Stale)));
            }
            inst.book = BookState::Waiting { buffer: Vec::new() };
            inst.last = [0; 5];
        }
    }
}

#[cfg(test)]
mod tests {
    use peregrine_engine::tick::Trade;
    use peregrine_engine::types::Side;
    use rust_decimal::Decimal;

    use super::super::codec::BookLevels;
    use super::*;

    const I: InstrumentId = InstrumentId(0);

    fn book(seq: u64, snapshot: bool) -> BusEvent {
        let l = BookLevels {
            venue_seq: 100 + seq,
            bids: vec![[Decimal::from(seq), Decimal::ONE]],
            asks: vec![],
        };
        BusEvent {
            seq,
            exch_ts_ns: 0,
            pub_ts_ns: 0,
            payload: if snapshot {
                Payload::BookSnapshot(l)
            } else {
                Payload::BookDelta(l)
            },
        }
    }

    fn trade(seq: u64) -> BusEvent {
        BusEvent {
            seq,
            exch_ts_ns: 0,
            pub_ts_ns: 0,
            payload: Payload::Trade(Trade {
                price: Decimal::ONE,
                qty: Decimal::ONE,
                side: Side::Buy,
                trade_id: seq,
            }),
        }
    }

    /// `(kind, seq)` of what went out.
    fn seen(out: &[(InstrumentId, BusEvent)]) -> Vec<(Kind, u64)> {
        out.iter().map(|(_, e)| (e.payload.kind(), e.seq)).collect()
    }

    #[test]
    fn a_gap_marks_the_book_stale_and_a_snapshot_resyncs_it_with_the_buffered_deltas() {
        let mut s = Sequencer::new(1, 100);
        let mut out = Vec::new();
        // Waiting at start: deltas are held until a snapshot.
        assert_eq!(s.on_event(I, book(1, false), &mut out), Want::Nothing);
        assert_eq!(s.on_event(I, book(2, true), &mut out), Want::Nothing);
        s.on_event(I, book(3, false), &mut out);
        assert_eq!(
            seen(&out),
            vec![(Kind::BookSnapshot, 2), (Kind::BookDelta, 3)]
        );
        assert!(!s.waiting(I));
        out.clear();
        // 4 is lost: 5 is a gap.
        assert_eq!(s.on_event(I, book(5, false), &mut out), Want::Snapshot(I));
        assert_eq!(seen(&out), vec![(Kind::Status, 0)]);
        assert!(s.waiting(I));
        s.on_event(I, book(6, false), &mut out);
        s.on_event(I, book(7, false), &mut out);
        out.clear();
        // The reply covers up to 6: 5 and 6 are old, 7 follows.
        assert!(!s.on_snapshot_reply(I, book(6, true), &mut out));
        assert_eq!(
            seen(&out),
            vec![(Kind::BookSnapshot, 6), (Kind::BookDelta, 7)]
        );
        out.clear();
        // A delta that was in flight behind the reply is old; the next one applies.
        s.on_event(I, book(7, false), &mut out);
        s.on_event(I, book(8, false), &mut out);
        assert_eq!(seen(&out), vec![(Kind::BookDelta, 8)]);
        assert_eq!(s.stats.book_gaps, 1);
        assert_eq!(s.stats.resyncs, 2);
        assert_eq!(s.stats.old, 4);
        // A late reply to a synced book changes nothing.
        out.clear();
        assert!(!s.on_snapshot_reply(I, book(3, true), &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn a_stale_reply_asks_again_and_a_reply_short_of_the_buffer_keeps_waiting() {
        let mut s = Sequencer::new(1, 100);
        let mut out = Vec::new();
        let stale = status(4, FeedStatus::Stale);
        assert!(s.on_snapshot_reply(I, stale, &mut out));
        s.on_event(I, book(9, false), &mut out);
        assert!(!s.on_snapshot_reply(I, book(5, true), &mut out));
        // Snapshot at 5, then 9: 6..8 are missing.
        assert_eq!(seen(&out), vec![(Kind::BookSnapshot, 5), (Kind::Status, 0)]);
        assert!(s.waiting(I));
    }

    #[test]
    fn a_silent_feed_makes_synced_books_stale_and_restarts_the_numbering() {
        let mut s = Sequencer::new(2, 2);
        let mut out = Vec::new();
        s.on_event(I, book(1, true), &mut out);
        s.on_event(I, trade(1), &mut out);
        s.on_event(I, trade(4), &mut out);
        assert_eq!(s.stats.lost, 2);
        out.clear();
        s.feed_lost(&mut out);
        // Only the synced book gets a Stale.
        assert_eq!(seen(&out), vec![(Kind::Status, 0)]);
        assert_eq!(s.waiting_ids().count(), 2);
        out.clear();
        // The returning feed counts from 1: no loss counted, trades pass.
        s.on_event(I, trade(1), &mut out);
        assert_eq!(s.stats.lost, 2);
        // A full buffer is emptied and counted.
        for q in 2..=4 {
            s.on_event(I, book(q, false), &mut out);
        }
        assert_eq!(s.stats.overflow, 2);
        assert_eq!(seen(&out), vec![(Kind::Trade, 1)]);
    }
}
