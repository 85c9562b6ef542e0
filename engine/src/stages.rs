//! Per-stage latency: a fixed array of hdrhistograms indexed by [`Stage`], recorded on every
//! event without allocating, published per window (log line, `latency_stats` rows) and
//! accumulated in a shared [`LatencyHub`] that the metrics endpoint reads.
//!
//! Who records what: the feed thread records [`Stage::FeedDelay`] and [`Stage::Normalize`]
//! into the hub's feed window (one uncontended lock per frame); the core thread records every
//! other stage into its own [`StageSet`] and, once per window, merges the feed window into it,
//! emits the rows and adds the window to the hub's cumulative histograms.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;

use crate::events::LatencyStatRow;
use crate::latency::{LatencyRecorder, LatencySummary};

/// One timed stage of the pipeline. Every stage is an interval in nanoseconds between two
/// monotonic timestamps, except [`Stage::FeedDelay`] (wall clocks of two machines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Exchange event time -> frame received (wall clocks; includes clock skew).
    FeedDelay,
    /// Frame received -> ticks normalized (feed thread: parse, decimal fields, book sync).
    Normalize,
    /// Feed node's publish -> the engine's receive of a bus message (wall clocks of the two
    /// processes): what the NATS bus adds when an engine consumes it (`[bus] consume`) in
    /// place of its own venue connections (whose feed delay and normalize are the feed node's).
    Bus,
    /// An external signal's send (its `ts_ns`, the sender's wall clock) -> the core hands it
    /// to the strategy's `on_signal` (wall clocks of two processes).
    Signal,
    /// Frame received -> tick dequeued by the core (normalize + hand-off + wake-up).
    Queue,
    /// Time inside the strategy callbacks for one tick (ticks some strategy trades; the risk
    /// check and signing of the orders they place are not included).
    Strategy,
    /// One order intent through the risk gate.
    Risk,
    /// Risk approved -> order built and signed (bytes ready for the wire).
    Sign,
    /// Signed order -> handed to the venue transport (channel send, including waking the
    /// transport's thread when it sleeps).
    Handoff,
    /// Frame received -> signed order bytes ready: the end-to-end figure the latency target
    /// is set on. Add [`Stage::Handoff`] for the moment the transport owns the order.
    TickToOrder,
    /// Order handed to the transport -> venue acknowledgement received.
    Ack,
    /// Venue acknowledgement -> each fill received.
    Fill,
    /// Order handed to the transport -> first venue answer (ack or reject) received.
    RoundTrip,
}

impl Stage {
    /// Number of stages.
    pub const COUNT: usize = 13;
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; Stage::COUNT] = [
        Stage::FeedDelay,
        Stage::Normalize,
        Stage::Bus,
        Stage::Signal,
        Stage::Queue,
        Stage::Strategy,
        Stage::Risk,
        Stage::Sign,
        Stage::Handoff,
        Stage::TickToOrder,
        Stage::Ack,
        Stage::Fill,
        Stage::RoundTrip,
    ];

    /// Stored and exported name (`latency_stats.stage`, the metrics `stage` label).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::FeedDelay => "feed_delay",
            Stage::Normalize => "normalize",
            Stage::Bus => "bus",
            Stage::Signal => "signal",
            Stage::Queue => "queue",
            Stage::Strategy => "strategy",
            Stage::Risk => "risk",
            Stage::Sign => "sign",
            Stage::Handoff => "handoff",
            Stage::TickToOrder => "tick_to_order",
            Stage::Ack => "ack",
            Stage::Fill => "fill",
            Stage::RoundTrip => "round_trip",
        }
    }

    /// Position in [`Stage::ALL`].
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A histogram per [`Stage`]. Recording never allocates.
#[derive(Clone, Debug)]
pub struct StageSet {
    hists: [LatencyRecorder; Stage::COUNT],
}

impl Default for StageSet {
    fn default() -> Self {
        Self::new()
    }
}

/// Percentiles of one stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StageSummary {
    /// The stage.
    pub stage: Stage,
    /// Its percentiles, ns.
    pub latency_ns: LatencySummary,
}

impl StageSet {
    /// Empty histograms for every stage.
    pub fn new() -> Self {
        Self {
            hists: std::array::from_fn(|_| LatencyRecorder::new()),
        }
    }

    /// Records one sample of `stage`.
    #[inline]
    pub fn record(&mut self, stage: Stage, ns: u64) {
        self.hists[stage.index()].record(ns);
    }

    /// The histogram of `stage`.
    pub fn get(&self, stage: Stage) -> &LatencyRecorder {
        &self.hists[stage.index()]
    }

    /// Percentiles of `stage`.
    pub fn summary(&self, stage: Stage) -> LatencySummary {
        self.hists[stage.index()].summary()
    }

    /// Percentiles of every stage that has samples, in pipeline order.
    pub fn summaries(&self) -> Vec<StageSummary> {
        Stage::ALL
            .iter()
            .filter(|s| !self.get(**s).is_empty())
            .map(|s| StageSummary {
                stage: *s,
                latency_ns: self.summary(*s),
            })
            .collect()
    }

    /// Adds every sample of `other` into `self`.
    pub fn add(&mut self, other: &StageSet) {
        for (a, b) in self.hists.iter_mut().zip(other.hists.iter()) {
            a.add(b);
        }
    }

    /// Empties every histogram (keeps the memory).
    pub fn reset(&mut self) {
        for h in &mut self.hists {
            h.reset();
        }
    }

    /// True if no stage has a sample.
    pub fn is_empty(&self) -> bool {
        self.hists.iter().all(|h| h.is_empty())
    }

    /// One `latency_stats` row per stage with samples, for the window `[start, end]` (wall ns).
    pub fn rows(
        &self,
        run_id: &str,
        window_start_ns: i64,
        window_end_ns: i64,
    ) -> Vec<LatencyStatRow> {
        self.summaries()
            .into_iter()
            .map(|s| LatencyStatRow {
                run_id: run_id.to_string(),
                stage: s.stage.as_str().to_string(),
                window_start_ns,
                window_end_ns,
                count: clamp_i64(s.latency_ns.count),
                p50_ns: clamp_i64(s.latency_ns.p50),
                p99_ns: clamp_i64(s.latency_ns.p99),
                p999_ns: clamp_i64(s.latency_ns.p999),
                max_ns: clamp_i64(s.latency_ns.max),
            })
            .collect()
    }
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Engine counters the metrics endpoint exports (relaxed atomics; written by the core thread).
#[derive(Debug, Default)]
pub struct EngineCounters {
    /// Ticks processed by the core.
    pub ticks: AtomicU64,
    /// Orders handed to the venue transport.
    pub orders: AtomicU64,
    /// Orders refused (risk gate or venue).
    pub rejects: AtomicU64,
    /// Fills booked.
    pub fills: AtomicU64,
    /// Ticks waiting in the market-data queue, as last seen by the core.
    pub queue_depth: AtomicU64,
}

impl EngineCounters {
    /// Adds one to `c`.
    #[inline]
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads `c`.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Latency and counters shared between the threads that record and the ones that read
/// (metrics endpoint, run summary). Share it as `Arc<LatencyHub>`.
#[derive(Debug, Default)]
pub struct LatencyHub {
    feed_window: Mutex<StageSet>,
    cumulative: Mutex<StageSet>,
    /// Engine counters.
    pub counters: EngineCounters,
    /// Windows published so far.
    pub windows: AtomicU64,
}

fn lock(m: &Mutex<StageSet>) -> MutexGuard<'_, StageSet> {
    // A panic while holding the lock leaves histograms that are still valid data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LatencyHub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one feed-side sample ([`Stage::FeedDelay`], [`Stage::Normalize`], [`Stage::Bus`]) into the
    /// current window. Takes an uncontended lock; does not allocate.
    #[inline]
    pub fn record_feed(&self, stage: Stage, ns: u64) {
        lock(&self.feed_window).record(stage, ns);
    }

    /// Records both feed-side samples of one frame under one lock: normalize time and, when
    /// the venue gave an event time (`exch_ts_ns > 0`), the feed delay to `recv_wall_ns`.
    #[inline]
    pub fn record_frame(&self, normalize_ns: u64, exch_ts_ns: i64, recv_wall_ns: i64) {
        let mut w = lock(&self.feed_window);
        w.record(Stage::Normalize, normalize_ns);
        if exch_ts_ns > 0 {
            w.record(
                Stage::FeedDelay,
                u64::try_from(recv_wall_ns.saturating_sub(exch_ts_ns)).unwrap_or(0),
            );
        }
    }

    /// Closes a window: moves the feed window into `window` (which holds the core's samples),
    /// adds the result to the cumulative histograms, and leaves the feed window empty. The
    /// caller then turns `window` into rows and resets it.
    pub fn close_window(&self, window: &mut StageSet) {
        {
            let mut f = lock(&self.feed_window);
            window.add(&f);
            f.reset();
        }
        lock(&self.cumulative).add(window);
        self.windows.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs `f` on the cumulative histograms (every closed window since start).
    pub fn with_cumulative<R>(&self, f: impl FnOnce(&StageSet) -> R) -> R {
        f(&lock(&self.cumulative))
    }
}

/// When each recent order was handed to the transport and acknowledged, keyed by its
/// sequence number in a fixed ring (no allocation): the core uses it to time ack, fill and
/// round trip from exec reports.
#[derive(Clone, Debug)]
pub struct OrderTimes {
    slots: Box<[OrderTime]>,
}

#[derive(Clone, Copy, Debug, Default)]
struct OrderTime {
    seq: u32,
    sent_ns: u64,
    ack_ns: u64,
    answered: bool,
}

impl OrderTimes {
    /// A ring of `capacity` orders (rounded up to a power of two); older orders are forgotten.
    pub fn new(capacity: usize) -> Self {
        let n = capacity.max(2).next_power_of_two();
        Self {
            slots: vec![OrderTime::default(); n].into_boxed_slice(),
        }
    }

    #[inline]
    fn slot(&mut self, seq: u32) -> &mut OrderTime {
        let mask = self.slots.len() - 1;
        &mut self.slots[seq as usize & mask]
    }

    /// Order `seq` was handed to the transport at `now_ns`.
    #[inline]
    pub fn sent(&mut self, seq: u32, now_ns: u64) {
        *self.slot(seq) = OrderTime {
            seq,
            sent_ns: now_ns,
            ack_ns: 0,
            answered: false,
        };
    }

    /// An exec report for order `seq` arrived at `recv_ns`; records the stages it completes.
    pub fn on_report(&mut self, seq: u32, kind: ReportKind, recv_ns: u64, set: &mut StageSet) {
        let s = self.slot(seq);
        if s.seq != seq || s.sent_ns == 0 {
            return;
        }
        let first_answer = !s.answered && matches!(kind, ReportKind::Ack | ReportKind::Reject);
        if first_answer {
            s.answered = true;
            set.record(Stage::RoundTrip, recv_ns.saturating_sub(s.sent_ns));
        }
        match kind {
            ReportKind::Ack if s.ack_ns == 0 => {
                s.ack_ns = recv_ns;
                set.record(Stage::Ack, recv_ns.saturating_sub(s.sent_ns));
            }
            ReportKind::Fill => {
                let from = if s.ack_ns != 0 { s.ack_ns } else { s.sent_ns };
                set.record(Stage::Fill, recv_ns.saturating_sub(from));
            }
            _ => {}
        }
    }
}

/// What an exec report means for [`OrderTimes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportKind {
    /// The venue accepted the order.
    Ack,
    /// The venue refused it.
    Reject,
    /// A fill.
    Fill,
    /// Anything else (cancel, expiry).
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_names_are_unique_and_indexed_in_order() {
        for (i, s) in Stage::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
        let mut names: Vec<_> = Stage::ALL.iter().map(|s| s.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Stage::COUNT);
    }

    #[test]
    fn window_merges_feed_samples_and_accumulates() {
        let hub = LatencyHub::new();
        let mut w = StageSet::new();
        hub.record_frame(400, 1_000, 3_000);
        hub.record_frame(600, 0, 3_000); // no exchange time: no feed delay sample
        w.record(Stage::Strategy, 2_000);
        hub.close_window(&mut w);
        assert_eq!(w.summary(Stage::Normalize).count, 2);
        assert_eq!(w.summary(Stage::FeedDelay).count, 1);
        assert_eq!(w.summary(Stage::FeedDelay).max, 2_000);
        let rows = w.rows("ab", 1, 2);
        let names: Vec<_> = rows.iter().map(|r| r.stage.as_str()).collect();
        assert_eq!(names, ["feed_delay", "normalize", "strategy"]);
        assert_eq!(rows[1].count, 2);
        w.reset();
        // The second window starts empty; the cumulative view keeps both.
        hub.record_frame(500, 0, 0);
        hub.close_window(&mut w);
        assert_eq!(w.summary(Stage::Normalize).count, 1);
        hub.with_cumulative(|c| {
            assert_eq!(c.summary(Stage::Normalize).count, 3);
            assert_eq!(c.summary(Stage::Strategy).count, 1);
        });
        assert_eq!(hub.windows.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn order_times_time_ack_fill_and_round_trip_once() {
        let mut t = OrderTimes::new(4);
        let mut set = StageSet::new();
        t.sent(7, 1_000);
        t.on_report(7, ReportKind::Ack, 1_500, &mut set);
        t.on_report(7, ReportKind::Fill, 2_500, &mut set);
        t.on_report(7, ReportKind::Fill, 3_500, &mut set);
        assert_eq!(set.summary(Stage::RoundTrip).count, 1);
        assert_eq!(set.summary(Stage::Ack).max, 500);
        assert_eq!(set.summary(Stage::Fill).count, 2);
        assert_eq!(set.summary(Stage::Fill).max, 2_000);
        // seq 11 shares slot 3 with seq 7 in a ring of 4: a report for the evicted 7 is ignored.
        t.sent(11, 4_000);
        t.on_report(7, ReportKind::Reject, 5_000, &mut set);
        assert_eq!(set.summary(Stage::RoundTrip).count, 1);
        t.on_report(11, ReportKind::Reject, 4_100, &mut set);
        assert_eq!(set.summary(Stage::RoundTrip).count, 2);
        assert_eq!(set.summary(Stage::Ack).count, 1);
    }
}
