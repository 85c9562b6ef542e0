//! The shared L2 book sequencer: one state machine per instrument, with per-venue rules for
//! sequence numbers and checksums. Pure: no I/O, no clock.
//!
//! It keeps its own copy of the book (sorted vectors, allocation-free once grown) so that it
//! can verify checksums and detect a crossed book, and turns accepted venue book messages into
//! `Tick`s. Rules:
//!
//! - **Binance** (`U`/`u`/`lastUpdateId`): updates are buffered until the REST snapshot
//!   arrives; a snapshot older than the first buffered `U` asks for another one; buffered
//!   updates with `u <= lastUpdateId` are dropped; then each update with `u <= local` is old,
//!   `U > local + 1` is a gap, else it is applied and `local = u`.
//! - **Bybit** (`u`): a `snapshot` (or any message with `u == 1`, a service restart) resets the
//!   book; deltas must have `u == local + 1`; `u <= local` is a duplicate and is ignored.
//! - **OKX** (`seqId`/`prevSeqId`): a snapshot has `prevSeqId = -1`; each update's `prevSeqId`
//!   must equal the last `seqId` (an update whose `seqId < prevSeqId` is a sequence reset and
//!   is accepted); `seqId <= local` is a duplicate; the CRC32 of the top 25 levels
//!   (`bid:ask` interleaved, the venue's own decimal text) is compared as a signed 32-bit
//!   integer when the message carries a non-zero `checksum`.
//! - **Kraken v2**: no sequence numbers; after applying, the book is truncated to the
//!   subscribed depth (each level pushed out is emitted downstream as a delete: Kraken sends
//!   none) and the CRC32 of the top 10 asks then top 10 bids (price and qty at the
//!   pair's precision, `.` and leading zeros removed) is compared as unsigned.
//! - **Coinbase**: `sequence_num` is per connection, so gaps are detected by the protocol
//!   across all channels ([`crate::md::protocol`]); here only snapshot/update and crossing.
//!
//! Every rule also checks for a crossed book after applying. On a gap, a bad checksum or a
//! crossed book the sequencer emits `Status(Stale)`, counts it, forgets the book and answers
//! [`SyncOutcome::Resync`]; the next snapshot rebuilds it and emits `Status(Resynced)`. A
//! snapshot while in sync (a venue that sends only snapshots, such as OKX `books5`) replaces
//! the book and emits no status.

mod checksum;
mod side;
mod texts;

pub use checksum::{kraken_checksum, okx_checksum};
pub use side::SideBook;

use texts::{BookTexts, Spelling};

use peregrine_engine::tick::{BookDelta, FeedStatus, Tick, TickKind};
use peregrine_engine::types::{InstrumentId, Side};

use crate::md::{BookMsg, Level};

/// Which venue's sequencing rules a book follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookRule {
    /// Binance `U`/`u` against the REST snapshot's `lastUpdateId`, with buffering.
    Binance,
    /// Bybit `u` contiguity; snapshot or `u == 1` resets.
    Bybit,
    /// OKX `seqId`/`prevSeqId` and the signed CRC32 of the top 25 levels.
    Okx,
    /// Kraken v2 unsigned CRC32 of the top 10 levels at the pair's precision; the book is
    /// truncated to `depth` levels per side after every message.
    Kraken {
        /// Decimal places of the pair's prices.
        price_dp: u32,
        /// Decimal places of the pair's quantities.
        qty_dp: u32,
        /// The subscribed depth.
        depth: usize,
    },
    /// Coinbase: sequence checked per connection by the protocol.
    Coinbase,
}

/// What the sequencer did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Applied; its ticks were emitted.
    Applied,
    /// Old or duplicate, or a delta while no snapshot is awaited: dropped.
    Ignored,
    /// Buffered until the snapshot arrives (Binance).
    Buffered,
    /// The book is lost (gap, bad checksum, crossed, stale snapshot); a `Stale` status was
    /// emitted. A fresh snapshot is needed.
    Resync(String),
}

/// The sequencer's copy of one instrument's book.
#[derive(Debug, Clone)]
pub struct LocalBook {
    /// Bids, highest first.
    pub bids: SideBook,
    /// Asks, lowest first.
    pub asks: SideBook,
}

impl Default for LocalBook {
    fn default() -> Self {
        Self {
            bids: SideBook::new(true),
            asks: SideBook::new(false),
        }
    }
}

impl LocalBook {
    fn apply(&mut self, levels: &[Level]) {
        for &(side, p, q) in levels {
            match side {
                Side::Buy => self.bids.set(p, q),
                Side::Sell => self.asks.set(p, q),
            }
        }
    }

    fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    /// True if the best bid is at or above the best ask.
    pub fn is_crossed(&self) -> bool {
        matches!(
            (self.bids.levels().first(), self.asks.levels().first()),
            (Some((b, _)), Some((a, _))) if side::cmp_price(b, a).is_ge()
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No trusted book; waiting for a snapshot.
    Awaiting,
    /// In sync; the last applied sequence (if the venue has one).
    Synced { last: Option<u64> },
}

/// A buffered Binance update: `(U, u, exch_ts_ns, end index into the level buffer)`.
type Buffered = (u64, u64, i64, usize);

/// Most buffered levels kept while waiting for a snapshot; past this the buffer is cleared.
const MAX_BUFFERED_LEVELS: usize = 200_000;

/// The sync state of one instrument's book.
#[derive(Debug)]
pub struct BookSequencer {
    instrument: InstrumentId,
    rule: BookRule,
    state: State,
    book: LocalBook,
    synced_once: bool,
    stale_events: u64,
    buffered: Vec<Buffered>,
    buffered_levels: Vec<Level>,
    /// Levels a Kraken delta pushed out of the subscribed depth (sent downstream as deletes).
    pushed_out: Vec<Level>,
    /// The checksum text of the top levels, kept between messages (OKX and Kraken).
    texts: Option<BookTexts>,
}

impl BookSequencer {
    /// A new, unsynced book for `instrument` following `rule`.
    pub fn new(instrument: InstrumentId, rule: BookRule) -> Self {
        Self {
            instrument,
            rule,
            state: State::Awaiting,
            book: LocalBook::default(),
            synced_once: false,
            stale_events: 0,
            buffered: Vec::new(),
            buffered_levels: Vec::new(),
            pushed_out: Vec::new(),
            texts: match rule {
                BookRule::Okx => Some(BookTexts::new(Spelling::Okx)),
                BookRule::Kraken {
                    price_dp, qty_dp, ..
                } => Some(BookTexts::new(Spelling::Kraken { price_dp, qty_dp })),
                _ => None,
            },
        }
    }

    /// The instrument.
    pub fn instrument(&self) -> InstrumentId {
        self.instrument
    }

    /// The rule it follows.
    pub fn rule(&self) -> BookRule {
        self.rule
    }

    /// True when the book is in sync.
    pub fn is_synced(&self) -> bool {
        matches!(self.state, State::Synced { .. })
    }

    /// How many times the book was found stale (gap, checksum, crossed).
    pub fn stale_events(&self) -> u64 {
        self.stale_events
    }

    /// The sequencer's copy of the book.
    pub fn book(&self) -> &LocalBook {
        &self.book
    }

    /// Forgets the book (reconnect): waits for a new snapshot. Emits nothing.
    pub fn reset(&mut self) {
        self.state = State::Awaiting;
        self.book.clear();
        self.buffered.clear();
        self.buffered_levels.clear();
    }

    /// Marks the book stale from outside (a connection-level gap): emits `Stale`, counts it,
    /// and waits for a snapshot.
    pub fn mark_stale(&mut self, exch_ts_ns: i64, recv_ns: u64, out: &mut dyn FnMut(Tick)) {
        self.reset();
        self.stale_events += 1;
        out(self.tick(exch_ts_ns, recv_ns, TickKind::Status(FeedStatus::Stale)));
    }

    /// Feeds one book message of this instrument.
    pub fn on_book(
        &mut self,
        msg: &BookMsg<'_>,
        exch_ts_ns: i64,
        recv_ns: u64,
        out: &mut dyn FnMut(Tick),
    ) -> SyncOutcome {
        let snapshot = msg.snapshot || (self.rule == BookRule::Bybit && msg.seq == Some(1));
        if snapshot {
            return self.on_snapshot(msg, exch_ts_ns, recv_ns, out);
        }
        match self.state {
            State::Awaiting if self.rule == BookRule::Binance => {
                self.buffer(msg, exch_ts_ns);
                SyncOutcome::Buffered
            }
            State::Awaiting => SyncOutcome::Ignored,
            State::Synced { last } => self.on_delta(msg, last, exch_ts_ns, recv_ns, out),
        }
    }

    fn on_snapshot(
        &mut self,
        msg: &BookMsg<'_>,
        exch_ts_ns: i64,
        recv_ns: u64,
        out: &mut dyn FnMut(Tick),
    ) -> SyncOutcome {
        let seq = msg.seq.unwrap_or(0);
        // A snapshot into a book that is in sync (OKX `books5` sends nothing else) replaces
        // it without a `Resynced`: only a book that was lost is resynced.
        let was_lost = !self.is_synced();
        if self.rule == BookRule::Binance {
            if let Some(&(first, ..)) = self.buffered.first() {
                if seq < first {
                    self.stale_events += 1;
                    out(self.tick(exch_ts_ns, recv_ns, TickKind::Status(FeedStatus::Stale)));
                    return SyncOutcome::Resync(format!(
                        "snapshot lastUpdateId {seq} older than first buffered U {first}"
                    ));
                }
            }
        }
        self.book.clear();
        self.book.apply(msg.levels);
        if let BookRule::Kraken { depth, .. } = self.rule {
            self.book.bids.truncate(depth);
            self.book.asks.truncate(depth);
        }
        if let Some(reason) = self.verify(msg) {
            return self.stale(reason, exch_ts_ns, recv_ns, out);
        }
        out(self.tick(exch_ts_ns, recv_ns, TickKind::BookSnapshot { seq }));
        let n = self.book.bids.levels().len() + self.book.asks.levels().len();
        let levels = self
            .book
            .bids
            .levels()
            .iter()
            .map(|&(p, q)| (Side::Buy, p, q))
            .chain(
                self.book
                    .asks
                    .levels()
                    .iter()
                    .map(|&(p, q)| (Side::Sell, p, q)),
            );
        let head = self.tick(exch_ts_ns, recv_ns, TickKind::Status(FeedStatus::Stale));
        emit_levels(head, seq, BookDelta::SNAPSHOT, n, levels, out);
        self.state = State::Synced { last: msg.seq };
        let mut outcome = SyncOutcome::Applied;
        if self.rule == BookRule::Binance {
            outcome = self.replay_buffer(recv_ns, out);
        }
        if self.is_synced() && std::mem::replace(&mut self.synced_once, true) && was_lost {
            out(self.tick(exch_ts_ns, recv_ns, TickKind::Status(FeedStatus::Resynced)));
        }
        outcome
    }

    fn replay_buffer(&mut self, recv_ns: u64, out: &mut dyn FnMut(Tick)) -> SyncOutcome {
        let headers = std::mem::take(&mut self.buffered);
        let levels = std::mem::take(&mut self.buffered_levels);
        let mut start = 0;
        let mut outcome = SyncOutcome::Applied;
        for &(first, last, ts, end) in &headers {
            let msg = BookMsg {
                snapshot: false,
                levels: &levels[start..end],
                seq: Some(last),
                first_seq: Some(first),
                prev_seq: None,
                cross_seq: None,
                checksum: None,
            };
            start = end;
            if let State::Synced { last: local } = self.state {
                let o = self.on_delta(&msg, local, ts, recv_ns, out);
                if matches!(o, SyncOutcome::Resync(_)) {
                    outcome = o;
                }
            }
        }
        if self.buffered.is_empty() {
            let (mut h, mut l) = (headers, levels);
            h.clear();
            l.clear();
            self.buffered = h;
            self.buffered_levels = l;
        }
        outcome
    }

    fn on_delta(
        &mut self,
        msg: &BookMsg<'_>,
        last: Option<u64>,
        exch_ts_ns: i64,
        recv_ns: u64,
        out: &mut dyn FnMut(Tick),
    ) -> SyncOutcome {
        let mut new_last = last;
        match self.rule {
            BookRule::Binance => {
                let (Some(first), Some(u), Some(local)) = (msg.first_seq, msg.seq, last) else {
                    return self.stale("update without U/u".into(), exch_ts_ns, recv_ns, out);
                };
                if u <= local {
                    return SyncOutcome::Ignored;
                }
                if first > local + 1 {
                    return self.stale(
                        format!("gap: U {first} after local {local}"),
                        exch_ts_ns,
                        recv_ns,
                        out,
                    );
                }
                new_last = Some(u);
            }
            BookRule::Bybit => {
                let (Some(u), Some(local)) = (msg.seq, last) else {
                    return self.stale("delta without u".into(), exch_ts_ns, recv_ns, out);
                };
                if u <= local {
                    return SyncOutcome::Ignored;
                }
                if u != local + 1 {
                    return self.stale(
                        format!("gap: u {u} after {local}"),
                        exch_ts_ns,
                        recv_ns,
                        out,
                    );
                }
                new_last = Some(u);
            }
            BookRule::Okx => {
                let (Some(seq), Some(prev), Some(local)) = (msg.seq, msg.prev_seq, last) else {
                    return self.stale(
                        "update without seqId/prevSeqId".into(),
                        exch_ts_ns,
                        recv_ns,
                        out,
                    );
                };
                let reset = i64::try_from(seq).is_ok_and(|s| s < prev);
                if !reset && prev != local as i64 {
                    if seq <= local {
                        return SyncOutcome::Ignored;
                    }
                    return self.stale(
                        format!("gap: prevSeqId {prev} after seqId {local}"),
                        exch_ts_ns,
                        recv_ns,
                        out,
                    );
                }
                new_last = Some(seq);
            }
            BookRule::Kraken { .. } | BookRule::Coinbase => {}
        }
        self.book.apply(msg.levels);
        self.pushed_out.clear();
        if let BookRule::Kraken { depth, .. } = self.rule {
            // Kraken sends no delete for a level that falls out of the subscribed depth: the
            // client truncates, and downstream books must lose the level too.
            let out = &mut self.pushed_out;
            self.book.bids.truncate_into(depth, Side::Buy, out);
            self.book.asks.truncate_into(depth, Side::Sell, out);
        }
        if let Some(reason) = self.verify(msg) {
            return self.stale(reason, exch_ts_ns, recv_ns, out);
        }
        self.state = State::Synced { last: new_last };
        let head = self.tick(exch_ts_ns, recv_ns, TickKind::Status(FeedStatus::Stale));
        let seq = new_last.unwrap_or(0);
        emit_levels(
            head,
            seq,
            0,
            msg.levels.len() + self.pushed_out.len(),
            msg.levels.iter().chain(&self.pushed_out).copied(),
            out,
        );
        SyncOutcome::Applied
    }

    /// Checks the book after applying `msg`: crossed, then the venue's checksum.
    fn verify(&mut self, msg: &BookMsg<'_>) -> Option<String> {
        if self.book.is_crossed() {
            return Some("crossed book".into());
        }
        let got = match (self.rule, msg.checksum, &mut self.texts) {
            (BookRule::Okx, Some(want), Some(texts)) if want != 0 => {
                (i64::from(texts.okx(&self.book)), want)
            }
            (BookRule::Kraken { .. }, Some(want), Some(texts)) => {
                (i64::from(texts.kraken(&self.book)), want)
            }
            _ => return None,
        };
        match got {
            (got, want) if got != want => Some(format!(
                "checksum mismatch: computed {got}, venue sent {want}"
            )),
            _ => None,
        }
    }

    fn stale(
        &mut self,
        reason: String,
        exch_ts_ns: i64,
        recv_ns: u64,
        out: &mut dyn FnMut(Tick),
    ) -> SyncOutcome {
        self.mark_stale(exch_ts_ns, recv_ns, out);
        SyncOutcome::Resync(reason)
    }

    fn buffer(&mut self, msg: &BookMsg<'_>, exch_ts_ns: i64) {
        if self.buffered_levels.len() + msg.levels.len() > MAX_BUFFERED_LEVELS {
            self.buffered.clear();
            self.buffered_levels.clear();
        }
        let u = msg.seq.unwrap_or(0);
        let first = msg.first_seq.unwrap_or(u);
        self.buffered_levels.extend_from_slice(msg.levels);
        self.buffered
            .push((first, u, exch_ts_ns, self.buffered_levels.len()));
    }

    fn tick(&self, exch_ts_ns: i64, recv_ns: u64, kind: TickKind) -> Tick {
        Tick {
            instrument: self.instrument,
            exch_ts_ns,
            recv_ns,
            kind,
        }
    }
}

/// Emits `n` levels as `BookDelta` ticks with `head`'s instrument and times, `flags` on each
/// and `END_OF_BATCH` on the last. (Each tick is built field by field: copying `head` whole
/// and overwriting its kind made the compiler shuffle the level through the stack.)
#[inline]
fn emit_levels(
    head: Tick,
    seq: u64,
    flags: u8,
    n: usize,
    levels: impl Iterator<Item = Level>,
    out: &mut dyn FnMut(Tick),
) {
    let Tick {
        instrument,
        exch_ts_ns,
        recv_ns,
        ..
    } = head;
    for (i, (side, price, qty)) in levels.enumerate() {
        let end = if i + 1 == n {
            BookDelta::END_OF_BATCH
        } else {
            0
        };
        out(Tick {
            instrument,
            exch_ts_ns,
            recv_ns,
            kind: TickKind::BookDelta(BookDelta {
                side,
                price,
                qty,
                seq,
                flags: flags | end,
            }),
        });
    }
}

#[cfg(test)]
mod tests;
