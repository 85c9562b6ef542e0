//! Latency knobs of the core loop: topology, wait policy, CPU pinning, latency windows.
//! Each is a config key under `[engine]` (see `config/default.toml`).

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;
use serde::Deserialize;

use crate::stages::LatencyHub;
use crate::tick::Tick;

/// Where the core loop runs relative to the market-data feed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topology {
    /// Feed on the I/O runtime -> bounded queue -> core on its own thread. The feed never
    /// waits for the core; costs one cross-thread hand-off (and a wake-up unless spinning).
    Pipelined,
    /// The feed runs on the core's thread: a frame is normalized and its ticks processed by
    /// the core on the same thread, with no cross-thread hand-off. A slow strategy delays
    /// reading the socket. The default: with the core parking, it had the lower p99 in every
    /// end-to-end run on a 2-vCPU VM and the lower p50 in most (benches/README.md).
    #[default]
    Inline,
}

/// How the core thread waits for the next tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitPolicy {
    /// Busy-poll: lowest wake-up latency, burns a whole CPU even when idle.
    Spin,
    /// Busy-poll for `spin_us`, then park: low latency while ticks flow, idle CPU when quiet.
    SpinThenPark,
    /// Park at once (futex wake-up by the producer, tens of microseconds on a shared VM).
    /// The default: measured best on a loaded 2-vCPU VM (benches/README.md).
    #[default]
    Park,
}

/// Drives the market-data feed on the core thread ([`Topology::Inline`]): the core calls it
/// instead of waiting on another thread.
pub trait FeedPump: Send {
    /// Runs the feed until a tick is queued in `ticks`, `max_wait` passes, or (with `None`)
    /// after one non-blocking turn. Returns false once the feed has ended.
    fn pump(&mut self, ticks: &Receiver<Tick>, max_wait: Option<Duration>) -> bool;
}

/// Latency tuning of one core loop; [`CoreTuning::default`] is a parking loop fed by its tick
/// queue (no `pump`, as in the pipelined topology and the backtest) with a private hub. The
/// config's default topology is inline (`src/topology.rs` adds the pump).
pub struct CoreTuning {
    /// How the core waits.
    pub wait: WaitPolicy,
    /// Spin budget before parking ([`WaitPolicy::SpinThenPark`]).
    pub spin: Duration,
    /// Inline topology: the feed, driven on the core thread.
    pub pump: Option<Box<dyn FeedPump>>,
    /// Where stage latency and counters are published.
    pub hub: Arc<LatencyHub>,
    /// Length of a latency window (log line + `latency_stats` rows); zero = only at the end.
    pub window: Duration,
    /// Pin the core thread to this CPU.
    pub cpu: Option<usize>,
}

impl Default for CoreTuning {
    fn default() -> Self {
        Self {
            wait: WaitPolicy::default(),
            spin: Duration::from_micros(default_spin_us()),
            pump: None,
            hub: Arc::new(LatencyHub::new()),
            window: Duration::from_secs(default_latency_window_s()),
            cpu: None,
        }
    }
}

/// Default spin budget, microseconds.
pub fn default_spin_us() -> u64 {
    200
}

/// Default latency window, seconds.
pub fn default_latency_window_s() -> u64 {
    10
}

/// Pins the calling thread to CPU `cpu`; logs and carries on if the OS refuses or the CPU
/// does not exist (pinning is an optimisation, never a reason to stop).
pub fn pin_current_thread(cpu: usize, what: &str) -> bool {
    // Not looked up in `get_core_ids()`: that lists only the CPUs this thread may use now, so
    // a thread started from one pinned elsewhere could never move. The OS refuses a CPU that
    // does not exist.
    let ok = core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
    if ok {
        tracing::info!(cpu, thread = what, "thread pinned");
    } else {
        tracing::warn!(
            cpu,
            thread = what,
            "could not pin the thread to this CPU; running unpinned"
        );
    }
    ok
}
