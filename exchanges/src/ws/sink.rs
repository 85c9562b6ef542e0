//! Delivery of ticks to the core's queue without ever blocking the socket.
//!
//! Ticks are pushed with `try_send`. A lost trade or quote is only counted. A lost book tick
//! leaves a hole in the downstream book: the instrument owes a `Stale` status (delivered before
//! its next tick), its further deltas are dropped until the protocol starts a new snapshot, and
//! the manager tells the protocol ([`crate::venue::VenueProtocol::on_book_tick_lost`]). A lost
//! status tick is owed and sent before that instrument's next tick.

use std::sync::Arc;

use crossbeam_channel::{Sender, TrySendError};
use peregrine_engine::tick::{BookDelta, FeedStatus, Tick, TickKind};
use peregrine_engine::types::InstrumentId;

use super::stats::{bump, FeedStats};

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// A status the queue had no room for; sent before this instrument's next tick.
    owed: Option<FeedStatus>,
    /// A book tick was lost: deltas are dropped until a snapshot or status starts afresh.
    hole: bool,
}

/// The manager's side of the tick queue.
#[derive(Debug)]
pub(crate) struct TickSink {
    out: Sender<Tick>,
    stats: Arc<FeedStats>,
    slots: Vec<Slot>,
    /// Instruments whose book lost a tick since the last [`TickSink::take_lost`].
    lost: Vec<InstrumentId>,
    receiver_gone: bool,
}

impl TickSink {
    pub(crate) fn new(out: Sender<Tick>, stats: Arc<FeedStats>) -> Self {
        Self {
            out,
            stats,
            slots: Vec::new(),
            lost: Vec::new(),
            receiver_gone: false,
        }
    }

    /// True once the receiving end of the queue is gone.
    pub(crate) fn receiver_gone(&self) -> bool {
        self.receiver_gone
    }

    /// Pops one instrument whose book lost a tick.
    pub(crate) fn take_lost(&mut self) -> Option<InstrumentId> {
        self.lost.pop()
    }

    fn slot(&mut self, id: InstrumentId) -> &mut Slot {
        let i = id.index();
        if i >= self.slots.len() {
            self.slots.resize(i + 1, Slot::default());
        }
        &mut self.slots[i]
    }

    /// Delivers `t` (after any status owed for its instrument), or counts it lost.
    pub(crate) fn push(&mut self, t: Tick) {
        if t.kind == TickKind::Status(FeedStatus::Resynced) {
            bump(&self.stats.resyncs);
        }
        let slot = *self.slot(t.instrument);
        match t.kind {
            TickKind::BookSnapshot { .. } | TickKind::Status(_) => {
                self.slot(t.instrument).hole = false;
            }
            TickKind::BookDelta(d) if d.flags & BookDelta::SNAPSHOT != 0 => {
                self.slot(t.instrument).hole = false;
            }
            TickKind::BookDelta(_) if slot.hole => {
                bump(&self.stats.dropped);
                return;
            }
            _ => {}
        }
        if let Some(owed) = slot.owed {
            let owed_tick = Tick {
                instrument: t.instrument,
                exch_ts_ns: 0,
                recv_ns: t.recv_ns,
                kind: TickKind::Status(owed),
            };
            if !self.try_send(owed_tick) {
                self.lost(t);
                return;
            }
            self.slot(t.instrument).owed = None;
        }
        if !self.try_send(t) {
            self.lost(t);
        }
    }

    fn try_send(&mut self, t: Tick) -> bool {
        match self.out.try_send(t) {
            Ok(()) => {
                bump(&self.stats.ticks);
                true
            }
            Err(TrySendError::Full(_)) => false,
            Err(TrySendError::Disconnected(_)) => {
                self.receiver_gone = true;
                false
            }
        }
    }

    fn lost(&mut self, t: Tick) {
        bump(&self.stats.dropped);
        let slot = self.slot(t.instrument);
        match t.kind {
            TickKind::BookDelta(_) | TickKind::BookSnapshot { .. } => {
                let first = !slot.hole;
                slot.hole = true;
                slot.owed = Some(FeedStatus::Stale);
                if first {
                    tracing::warn!(
                        instrument = t.instrument.index(),
                        "feed: queue full, book tick lost; book stale"
                    );
                    self.lost.push(t.instrument);
                }
            }
            TickKind::Status(s) => slot.owed = Some(s),
            TickKind::Trade(_) | TickKind::Quote(_) => {}
        }
    }
}
