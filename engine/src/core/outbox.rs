//! Signed requests on their way to the venue transport. Requests signed while a strategy's
//! actions are being applied wait here until the last action is done, then go out together,
//! in the order they were signed. Handing a request to the transport can wake its thread,
//! and on a small machine that thread then takes the CPU from the core: a cancel handed off
//! before the order that follows it was signed used to put that wake-up inside the order's
//! tick-to-order time. Outside a strategy's actions (kill switch, stop, halted strategy)
//! requests go out at once.

use crate::clock::Clock;
use crate::gateway::{SignedAction, SignedOrder};
use crate::order::{ClientOrderId, ExecKind, ExecReport};
use crate::stages::Stage;

use super::Core;

/// What a waiting request is, for what to do if the transport is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    New,
    Cancel,
}

/// Requests waiting for the end of the current batch of strategy actions.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    waiting: Vec<(SignedOrder, Purpose)>,
    /// Spare buffer, so a flush never allocates once both have grown.
    spare: Vec<(SignedOrder, Purpose)>,
    /// Open batches (strategy callbacks can nest: an order refused inside a callback calls
    /// the strategy's `on_risk_reject`, which may act again).
    depth: u8,
}

impl Outbox {
    /// Opens a batch: requests wait until the outermost batch closes.
    pub(super) fn open(&mut self) {
        self.depth = self.depth.saturating_add(1);
    }

    /// Closes a batch; true if it was the outermost one (time to flush).
    pub(super) fn close(&mut self) -> bool {
        self.depth = self.depth.saturating_sub(1);
        self.depth == 0
    }
}

impl Core {
    /// Queues a signed new order or cancel-replace for the transport (sent at once outside a
    /// batch).
    pub(super) fn wire_new(&mut self, signed: SignedOrder) {
        self.outbox.waiting.push((signed, Purpose::New));
        if self.outbox.depth == 0 {
            self.flush_outbox();
        }
    }

    /// Queues a signed cancel for the transport (sent at once outside a batch).
    pub(super) fn wire_cancel(&mut self, signed: SignedOrder) {
        self.outbox.waiting.push((signed, Purpose::Cancel));
        if self.outbox.depth == 0 {
            self.flush_outbox();
        }
    }

    /// Hands every waiting request to the transport, in order, timing each hand-off. A new
    /// order the transport cannot take (it has stopped) is reported rejected to the core, so
    /// its strategy and the database learn it; a cancel it cannot take is logged.
    pub(super) fn flush_outbox(&mut self) {
        if self.outbox.waiting.is_empty() {
            return;
        }
        // The spare (empty) buffer takes new requests while this batch goes out.
        let spare = std::mem::take(&mut self.outbox.spare);
        let mut batch = std::mem::replace(&mut self.outbox.waiting, spare);
        let mut lost: Vec<(ClientOrderId, SignedOrder)> = Vec::new();
        for (signed, purpose) in batch.drain(..) {
            let id = signed.client_order_id;
            let start = Clock::now_ns();
            let result = self.s.gateway.send(signed);
            let handed = Clock::now_ns();
            self.stages
                .record(Stage::Handoff, handed.saturating_sub(start));
            match (result, purpose) {
                (Ok(()), Purpose::New) => self.order_times.sent(id.seq, handed),
                (Ok(()), Purpose::Cancel) => {}
                (Err(e), Purpose::New) => lost.push((id, e.0)),
                (Err(_), Purpose::Cancel) => {
                    tracing::error!(order = %id, "order gateway is gone; cancel not sent");
                }
            }
        }
        // Nothing re-enters the core while the batch goes out; keep its grown buffer.
        self.outbox.spare = batch;
        for (id, signed) in lost {
            tracing::error!(order = %id, "order gateway is gone; order marked rejected");
            if let SignedAction::Replace { cancel } = signed.action {
                // The cancel half never left either: the old order is still working.
                self.on_exec(ExecReport {
                    client_order_id: cancel,
                    instrument: signed.instrument,
                    side: signed.side,
                    kind: ExecKind::CancelRejected {
                        code: 0,
                        reason: "order gateway is not running".into(),
                    },
                    recv_ns: Clock::now_ns(),
                });
            }
            self.on_exec(ExecReport {
                client_order_id: id,
                instrument: signed.instrument,
                side: signed.side,
                kind: ExecKind::Rejected {
                    code: 0,
                    reason: "order gateway is not running".into(),
                },
                recv_ns: Clock::now_ns(),
            });
        }
    }
}
