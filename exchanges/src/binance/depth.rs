//! L2 book sync for one Binance instrument: a pure state machine, no I/O.
//!
//! Binance's documented procedure ("How to manage a local order book correctly"):
//! 1. open the diff stream and buffer its events, noting `U` of the first one;
//! 2. fetch `GET /api/v3/depth?symbol=..&limit=..`;
//! 3. if the snapshot's `lastUpdateId` is strictly less than that first `U`, refetch;
//! 4. drop buffered events with `u <= lastUpdateId`; the local update id is `lastUpdateId`;
//! 5. for each event: `u <= local` is old (ignored); `U > local + 1` is a gap (discard the book
//!    and restart from 1); otherwise apply it and set `local = u`.
//!
//! Rule 5 with `local = lastUpdateId` is exactly the older "first event must straddle
//! `lastUpdateId + 1`" rule. The fetch itself is done by the feed: this machine only says when
//! one is needed ([`SyncAction::FetchSnapshot`]) and turns snapshots and events into ticks.

use peregrine_engine::tick::{BookDelta, FeedStatus, Tick, TickKind};
use peregrine_engine::types::{InstrumentId, Price, Qty, Side};

use super::normalize::DepthHeader;

/// A REST depth snapshot (`GET /api/v3/depth`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DepthSnapshot {
    /// The book's update id at the snapshot (`lastUpdateId`).
    pub last_update_id: u64,
    /// Bid levels, best first.
    pub bids: Vec<(Price, Qty)>,
    /// Ask levels, best first.
    pub asks: Vec<(Price, Qty)>,
}

/// What the feed must do after feeding the machine an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncAction {
    /// Nothing.
    None,
    /// Fetch a (new) REST snapshot and pass it to [`DepthSync::on_snapshot`].
    FetchSnapshot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No trusted book; buffering events. `requested`: a snapshot fetch is outstanding.
    Buffering { requested: bool },
    /// In sync; `local` is the last applied update id.
    Synced { local: u64 },
}

/// Most buffered levels kept while waiting for a snapshot; past this the buffer is cleared
/// (safe: the next snapshot is checked against whatever is buffered then).
const MAX_BUFFERED_LEVELS: usize = 200_000;

/// The sync state of one instrument's book.
#[derive(Debug)]
pub struct DepthSync {
    instrument: InstrumentId,
    state: State,
    /// Buffered events: headers, and their deltas back to back in `deltas`.
    headers: Vec<(DepthHeader, usize)>,
    deltas: Vec<Tick>,
    synced_once: bool,
    resyncs: u64,
}

impl DepthSync {
    /// A new, unsynced book for `instrument`. Feed it events; it asks for a snapshot with the
    /// first one.
    pub fn new(instrument: InstrumentId) -> Self {
        Self {
            instrument,
            state: State::Buffering { requested: false },
            headers: Vec::new(),
            deltas: Vec::new(),
            synced_once: false,
            resyncs: 0,
        }
    }

    /// The instrument this book is for.
    pub fn instrument(&self) -> InstrumentId {
        self.instrument
    }

    /// True when the book is in sync.
    pub fn is_synced(&self) -> bool {
        matches!(self.state, State::Synced { .. })
    }

    /// How many times the book was re-synced after having been in sync.
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// Feeds one `depthUpdate` (its header and the deltas the normalizer emitted for it).
    /// Applied deltas go to `out`; on a gap a `Status(Stale)` tick goes to `out` and the
    /// machine asks for a snapshot.
    pub fn on_update(
        &mut self,
        hdr: &DepthHeader,
        deltas: &[Tick],
        out: &mut impl FnMut(Tick),
    ) -> SyncAction {
        match self.state {
            State::Synced { local } => {
                if hdr.final_update_id <= local {
                    return SyncAction::None; // old
                }
                if hdr.first_update_id > local + 1 {
                    out(self.status(FeedStatus::Stale, hdr.exch_ts_ns, deltas));
                    self.state = State::Buffering { requested: true };
                    self.buffer(hdr, deltas);
                    return SyncAction::FetchSnapshot;
                }
                deltas.iter().for_each(|t| out(*t));
                self.state = State::Synced {
                    local: hdr.final_update_id,
                };
                SyncAction::None
            }
            State::Buffering { requested } => {
                self.buffer(hdr, deltas);
                if requested {
                    SyncAction::None
                } else {
                    self.state = State::Buffering { requested: true };
                    SyncAction::FetchSnapshot
                }
            }
        }
    }

    /// Feeds a REST snapshot. If it is usable: emits `BookSnapshot{seq}`, the levels as
    /// `SNAPSHOT` deltas (last with `END_OF_BATCH`), the buffered events that follow it, and
    /// `Status(Resynced)` if the book had been in sync before. If it is older than the buffered
    /// events, asks for another one. Ignored when the book is already in sync.
    pub fn on_snapshot(
        &mut self,
        snap: &DepthSnapshot,
        recv_ns: u64,
        out: &mut impl FnMut(Tick),
    ) -> SyncAction {
        if self.is_synced() {
            return SyncAction::None;
        }
        let last = snap.last_update_id;
        if let Some((first, _)) = self.headers.first() {
            if last < first.first_update_id {
                self.state = State::Buffering { requested: true };
                return SyncAction::FetchSnapshot;
            }
        }
        let instrument = self.instrument;
        let tick = |kind| Tick {
            instrument,
            exch_ts_ns: 0,
            recv_ns,
            kind,
        };
        out(tick(TickKind::BookSnapshot { seq: last }));
        let n = snap.bids.len() + snap.asks.len();
        let levels = snap
            .bids
            .iter()
            .map(|l| (Side::Buy, l))
            .chain(snap.asks.iter().map(|l| (Side::Sell, l)));
        for (i, (side, &(price, qty))) in levels.enumerate() {
            let end = if i + 1 == n {
                BookDelta::END_OF_BATCH
            } else {
                0
            };
            out(tick(TickKind::BookDelta(BookDelta {
                side,
                price,
                qty,
                seq: last,
                flags: BookDelta::SNAPSHOT | end,
            })));
        }
        self.state = State::Synced { local: last };
        let resync = std::mem::replace(&mut self.synced_once, true);
        let headers = std::mem::take(&mut self.headers);
        let deltas = std::mem::take(&mut self.deltas);
        let mut start = 0;
        let mut action = SyncAction::None;
        for (hdr, end) in &headers {
            let ds = &deltas[start..*end];
            start = *end;
            if self.is_synced() {
                action = self.on_update(hdr, ds, out);
            } else {
                self.buffer(hdr, ds); // a gap inside the buffer: keep what follows it
            }
        }
        self.recycle(headers, deltas);
        if self.is_synced() && resync {
            self.resyncs += 1;
            out(tick(TickKind::Status(FeedStatus::Resynced)));
        }
        action
    }

    /// Forgets the book (a delta could not be delivered, or the connection dropped): clears the
    /// buffer and asks for a snapshot with the next event. Emits nothing; the caller reports
    /// the status (`Stale` or `Disconnected`).
    pub fn invalidate(&mut self) {
        self.state = State::Buffering { requested: false };
        self.headers.clear();
        self.deltas.clear();
    }

    /// A snapshot fetch failed for good: the next event asks again.
    pub fn snapshot_failed(&mut self) {
        if let State::Buffering { .. } = self.state {
            self.state = State::Buffering { requested: false };
        }
    }

    fn status(&self, status: FeedStatus, exch_ts_ns: i64, deltas: &[Tick]) -> Tick {
        Tick {
            instrument: self.instrument,
            exch_ts_ns,
            recv_ns: deltas.first().map_or(0, |t| t.recv_ns),
            kind: TickKind::Status(status),
        }
    }

    fn buffer(&mut self, hdr: &DepthHeader, deltas: &[Tick]) {
        if self.deltas.len() + deltas.len() > MAX_BUFFERED_LEVELS {
            self.headers.clear();
            self.deltas.clear();
        }
        self.deltas.extend_from_slice(deltas);
        self.headers.push((*hdr, self.deltas.len()));
    }

    /// Gives the (emptied) buffers' capacity back when nothing was re-buffered meanwhile.
    fn recycle(&mut self, mut headers: Vec<(DepthHeader, usize)>, mut deltas: Vec<Tick>) {
        if self.headers.is_empty() {
            headers.clear();
            self.headers = headers;
        }
        if self.deltas.is_empty() {
            deltas.clear();
            self.deltas = deltas;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    const I: InstrumentId = InstrumentId(3);

    fn event(first: u64, last: u64) -> (DepthHeader, Vec<Tick>) {
        let hdr = DepthHeader {
            instrument: I,
            first_update_id: first,
            final_update_id: last,
            exch_ts_ns: 9,
        };
        let delta = |price, flags| Tick {
            instrument: I,
            exch_ts_ns: 9,
            recv_ns: 1,
            kind: TickKind::BookDelta(BookDelta {
                side: Side::Buy,
                price,
                qty: dec!(1),
                seq: last,
                flags,
            }),
        };
        (
            hdr,
            vec![
                delta(Price::from(last), 0),
                delta(Price::from(last + 1000), BookDelta::END_OF_BATCH),
            ],
        )
    }

    fn snapshot(last: u64) -> DepthSnapshot {
        DepthSnapshot {
            last_update_id: last,
            bids: vec![(dec!(10), dec!(1)), (dec!(9), dec!(2))],
            asks: vec![(dec!(11), dec!(3))],
        }
    }

    fn feed(s: &mut DepthSync, first: u64, last: u64, out: &mut Vec<Tick>) -> SyncAction {
        let (h, d) = event(first, last);
        s.on_update(&h, &d, &mut |t| out.push(t))
    }

    fn seqs(out: &[Tick]) -> Vec<String> {
        out.iter()
            .map(|t| match t.kind {
                TickKind::BookDelta(d) if d.flags & BookDelta::SNAPSHOT != 0 => {
                    format!("S{}", d.price)
                }
                TickKind::BookDelta(d) => format!("d{}", d.seq),
                TickKind::BookSnapshot { seq } => format!("snap{seq}"),
                TickKind::Status(s) => format!("{s:?}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn dedup(v: Vec<String>) -> Vec<String> {
        let mut v = v;
        v.dedup();
        v
    }

    #[test]
    fn initial_sync_drops_old_events_and_applies_straddling_one() {
        let mut s = DepthSync::new(I);
        let mut out = Vec::new();
        assert_eq!(feed(&mut s, 90, 100, &mut out), SyncAction::FetchSnapshot);
        assert_eq!(feed(&mut s, 101, 110, &mut out), SyncAction::None);
        assert_eq!(feed(&mut s, 111, 120, &mut out), SyncAction::None);
        assert!(out.is_empty());
        assert_eq!(
            s.on_snapshot(&snapshot(105), 7, &mut |t| out.push(t)),
            SyncAction::None
        );
        assert!(s.is_synced());
        assert_eq!(
            dedup(seqs(&out)),
            ["snap105", "S10", "S9", "S11", "d110", "d120"]
        );
        // Snapshot levels: SNAPSHOT flag on all, END_OF_BATCH on the last only.
        let flags: Vec<u8> = out[1..4]
            .iter()
            .map(|t| match t.kind {
                TickKind::BookDelta(d) => d.flags,
                _ => 0,
            })
            .collect();
        assert_eq!(flags, [2, 2, 3]);
        // No Resynced on the first sync.
        assert!(!out
            .iter()
            .any(|t| t.kind == TickKind::Status(FeedStatus::Resynced)));
        out.clear();
        assert_eq!(feed(&mut s, 115, 120, &mut out), SyncAction::None); // old: dropped
        assert!(out.is_empty());
        assert_eq!(feed(&mut s, 121, 125, &mut out), SyncAction::None);
        assert_eq!(dedup(seqs(&out)), ["d125"]);
    }

    #[test]
    fn snapshot_older_than_first_buffered_event_is_refetched() {
        let mut s = DepthSync::new(I);
        let mut out = Vec::new();
        feed(&mut s, 200, 210, &mut out);
        assert_eq!(
            s.on_snapshot(&snapshot(150), 7, &mut |t| out.push(t)),
            SyncAction::FetchSnapshot
        );
        assert!(out.is_empty() && !s.is_synced());
        feed(&mut s, 211, 220, &mut out);
        assert_eq!(
            s.on_snapshot(&snapshot(215), 7, &mut |t| out.push(t)),
            SyncAction::None
        );
        assert_eq!(dedup(seqs(&out)), ["snap215", "S10", "S9", "S11", "d220"]);
    }

    #[test]
    fn gap_marks_stale_asks_for_snapshot_and_resync_reports_resynced() {
        let mut s = DepthSync::new(I);
        let mut out = Vec::new();
        feed(&mut s, 1, 10, &mut out);
        s.on_snapshot(&snapshot(5), 7, &mut |t| out.push(t));
        out.clear();
        assert_eq!(feed(&mut s, 11, 12, &mut out), SyncAction::None);
        assert_eq!(feed(&mut s, 14, 15, &mut out), SyncAction::FetchSnapshot); // 13 missing
        assert_eq!(dedup(seqs(&out)), ["d12", "Stale"]);
        assert!(!s.is_synced());
        assert_eq!(feed(&mut s, 16, 18, &mut out), SyncAction::None); // already requested
        out.clear();
        s.on_snapshot(&snapshot(15), 8, &mut |t| out.push(t));
        assert_eq!(
            dedup(seqs(&out)),
            ["snap15", "S10", "S9", "S11", "d18", "Resynced"]
        );
        assert_eq!(s.resyncs(), 1);
    }

    #[test]
    fn gap_inside_the_buffer_after_snapshot_asks_again() {
        let mut s = DepthSync::new(I);
        let mut out = Vec::new();
        feed(&mut s, 1, 10, &mut out);
        feed(&mut s, 11, 20, &mut out);
        feed(&mut s, 25, 30, &mut out); // 21..24 lost
        feed(&mut s, 31, 40, &mut out);
        assert_eq!(
            s.on_snapshot(&snapshot(12), 7, &mut |t| out.push(t)),
            SyncAction::FetchSnapshot
        );
        assert_eq!(
            dedup(seqs(&out)),
            ["snap12", "S10", "S9", "S11", "d20", "Stale"]
        );
        out.clear();
        assert_eq!(
            s.on_snapshot(&snapshot(35), 7, &mut |t| out.push(t)),
            SyncAction::None
        );
        assert_eq!(
            dedup(seqs(&out)),
            ["snap35", "S10", "S9", "S11", "d40", "Resynced"]
        );
    }

    #[test]
    fn snapshot_before_any_event_requires_the_first_event_to_straddle() {
        let mut s = DepthSync::new(I);
        let mut out = Vec::new();
        s.on_snapshot(&snapshot(50), 7, &mut |t| out.push(t));
        assert!(s.is_synced());
        out.clear();
        assert_eq!(feed(&mut s, 52, 60, &mut out), SyncAction::FetchSnapshot);
        assert_eq!(seqs(&out), ["Stale"]);
    }

    #[test]
    fn invalidate_then_next_event_asks_for_snapshot_and_late_snapshot_is_ignored_when_synced() {
        let mut s = DepthSync::new(I);
        let mut out = Vec::new();
        feed(&mut s, 1, 10, &mut out);
        s.on_snapshot(&snapshot(5), 7, &mut |t| out.push(t));
        out.clear();
        assert_eq!(
            s.on_snapshot(&snapshot(8), 7, &mut |t| out.push(t)),
            SyncAction::None
        );
        assert!(out.is_empty());
        s.invalidate();
        assert!(!s.is_synced());
        assert_eq!(feed(&mut s, 11, 12, &mut out), SyncAction::FetchSnapshot);
        assert!(out.is_empty());
        s.snapshot_failed();
        assert_eq!(feed(&mut s, 13, 14, &mut out), SyncAction::FetchSnapshot);
        s.on_snapshot(&snapshot(12), 7, &mut |t| out.push(t));
        assert_eq!(
            dedup(seqs(&out)),
            ["snap12", "S10", "S9", "S11", "d14", "Resynced"]
        );
    }
}
