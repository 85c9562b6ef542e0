//! Live counters of one market-data connection, shared with whoever watches them.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::md::Reason;

/// Live feed counters. Every field is a monotonic count since the feed started.
#[derive(Debug, Default)]
pub struct FeedStats {
    /// Websocket text frames received.
    pub frames: AtomicU64,
    /// Ticks delivered to the queue.
    pub ticks: AtomicU64,
    /// Frames that could not be understood or were refused by a value check (logged with the
    /// reason), including binary frames. Split by reason in [`FeedStats::rejected`].
    pub malformed: AtomicU64,
    /// The refused frames of [`FeedStats::malformed`] per reason, indexed by
    /// [`Reason::index`].
    pub rejected: [AtomicU64; Reason::COUNT],
    /// Ticks lost to a full queue.
    pub dropped: AtomicU64,
    /// Successful reconnections after the first connection.
    pub reconnects: AtomicU64,
    /// Books resynced after having been in sync (`Resynced` status ticks).
    pub resyncs: AtomicU64,
    /// Control frames: subscription acks, pongs, heartbeats.
    pub control: AtomicU64,
    /// Error replies from the venue (refused subscriptions, bad requests).
    pub venue_errors: AtomicU64,
    /// Frames over the size limit (each one ends the connection).
    pub oversized: AtomicU64,
    /// Times the stale-feed watchdog fired (no text frame for the configured interval).
    pub stale: AtomicU64,
    /// Reconnects the protocol asked for because a book lost sync ([`crate::venue::FrameOutcome::Resync`]).
    pub resync_requests: AtomicU64,
    /// Connections replaced on schedule before the venue's session limit, or at once on the
    /// venue's notice ([`crate::venue::FrameOutcome::Reconnect`]).
    pub scheduled: AtomicU64,
    /// Where the feed's stage latency (normalize, feed delay) is recorded.
    pub latency: std::sync::Arc<peregrine_engine::stages::LatencyHub>,
}

/// A point-in-time copy of [`FeedStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedStatsSnapshot {
    /// See [`FeedStats::frames`].
    pub frames: u64,
    /// See [`FeedStats::ticks`].
    pub ticks: u64,
    /// See [`FeedStats::malformed`].
    pub malformed: u64,
    /// See [`FeedStats::rejected`].
    pub rejected: [u64; Reason::COUNT],
    /// See [`FeedStats::dropped`].
    pub dropped: u64,
    /// See [`FeedStats::reconnects`].
    pub reconnects: u64,
    /// See [`FeedStats::resyncs`].
    pub resyncs: u64,
    /// See [`FeedStats::control`].
    pub control: u64,
    /// See [`FeedStats::venue_errors`].
    pub venue_errors: u64,
    /// See [`FeedStats::oversized`].
    pub oversized: u64,
    /// See [`FeedStats::stale`].
    pub stale: u64,
    /// See [`FeedStats::resync_requests`].
    pub resync_requests: u64,
    /// See [`FeedStats::scheduled`].
    pub scheduled: u64,
}

impl FeedStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> FeedStatsSnapshot {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        FeedStatsSnapshot {
            frames: r(&self.frames),
            ticks: r(&self.ticks),
            malformed: r(&self.malformed),
            rejected: std::array::from_fn(|i| r(&self.rejected[i])),
            dropped: r(&self.dropped),
            reconnects: r(&self.reconnects),
            resyncs: r(&self.resyncs),
            control: r(&self.control),
            venue_errors: r(&self.venue_errors),
            oversized: r(&self.oversized),
            stale: r(&self.stale),
            resync_requests: r(&self.resync_requests),
            scheduled: r(&self.scheduled),
        }
    }
}

impl FeedStats {
    /// Counts one refused frame under `reason` (and in [`FeedStats::malformed`]).
    pub fn reject(&self, reason: Reason) {
        bump(&self.malformed);
        bump(&self.rejected[reason.index()]);
    }
}

impl FeedStatsSnapshot {
    /// Refused frames of one reason.
    pub fn rejected(&self, reason: Reason) -> u64 {
        self.rejected[reason.index()]
    }
}

/// Adds one to a counter.
pub(crate) fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}
