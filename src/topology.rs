//! Starting the feed and the core in the configured topology (`[tuning] topology`):
//! pipelined (feed task on the I/O runtime -> queue -> core thread) or inline (the feed
//! driven on the core thread by a current-thread runtime, no cross-thread hand-off).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, Sender};
use peregrine_engine::config::TuningSection;
use peregrine_engine::core::{run_core_with, CoreError, CoreReport, CoreSetup};
use peregrine_engine::stages::LatencyHub;
use peregrine_engine::tick::Tick;
use peregrine_engine::tuning::{CoreTuning, FeedPump, Topology};
use peregrine_engine::types::Instruments;
use peregrine_exchanges::binance::feed::{
    run_feed_with_stats, FeedConfig, FeedStats, FeedStatsSnapshot,
};
use tokio::sync::watch;

/// A feed, ready to be driven (the inline runtime or a task).
pub type FeedFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The feed, driven on the core thread by a current-thread runtime.
pub struct InlineFeed {
    rt: tokio::runtime::Runtime,
    feed: FeedFuture,
    done: bool,
}

impl InlineFeed {
    /// A current-thread runtime on the calling thread that will run `feed` when pumped.
    pub fn new(feed: impl Future<Output = ()> + Send + 'static) -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Self {
            rt,
            feed: Box::pin(feed),
            done: false,
        })
    }
}

impl FeedPump for InlineFeed {
    fn pump(&mut self, ticks: &Receiver<Tick>, max_wait: Option<Duration>) -> bool {
        if self.done {
            return false;
        }
        let feed = &mut self.feed;
        let done = &mut self.done;
        self.rt.block_on(async {
            match max_wait {
                // One turn: poll the feed, let the runtime poll the sockets without blocking
                // (`yield_now` makes it do a zero-timeout poll), poll the feed again.
                None => {
                    tokio::select! {
                        biased;
                        _ = &mut *feed => *done = true,
                        _ = tokio::task::yield_now() => {}
                    }
                }
                // Park in the runtime's poller until the feed has queued a tick (the feed is
                // polled inside this future, so its socket wakes this thread directly).
                Some(d) => {
                    let queued = std::future::poll_fn(|_| {
                        if ticks.is_empty() {
                            std::task::Poll::Pending
                        } else {
                            std::task::Poll::Ready(())
                        }
                    });
                    tokio::select! {
                        biased;
                        _ = &mut *feed => *done = true,
                        _ = queued => {}
                        _ = tokio::time::sleep(d) => {}
                    }
                }
            }
        });
        !self.done
    }
}

/// The tuning of the core loop from the config.
pub fn core_tuning(t: &TuningSection, hub: Arc<LatencyHub>) -> CoreTuning {
    CoreTuning {
        wait: t.wait_policy,
        spin: Duration::from_micros(t.spin_us),
        pump: None,
        hub,
        window: Duration::from_secs(t.latency_window_s),
        cpu: t.core_cpu,
    }
}

/// A running core thread (and, pipelined, the feed task).
pub struct Started {
    /// The core thread; its result is the run report.
    pub core: std::thread::JoinHandle<Result<CoreReport, CoreError>>,
    /// Fires when the core loop returns.
    pub core_done: tokio::sync::oneshot::Receiver<()>,
    /// The feed task (pipelined only; inline, the feed ends inside the core thread).
    pub feed: Option<tokio::task::JoinHandle<()>>,
}

/// What the feed needs, whichever thread runs it.
pub struct FeedParts {
    /// Feed endpoints.
    pub cfg: FeedConfig,
    /// Instruments to subscribe.
    pub instruments: Arc<Instruments>,
    /// Where ticks go.
    pub out: Sender<Tick>,
    /// Turns true to stop the feed.
    pub stop: watch::Receiver<bool>,
    /// Feed counters and feed-side stage latency.
    pub stats: Arc<FeedStats>,
    /// The `[[market_data]]` connections, run beside the trading venue's feed (same queue,
    /// same stop signal), on the same thread.
    pub market_data: Vec<MdFuture>,
    /// `[bus] consume`: the bus consumer, run instead of every venue connection.
    pub bus: Option<FeedFuture>,
}

/// A market-data connection of another venue, ready to be driven.
pub type MdFuture = Pin<Box<dyn Future<Output = FeedStatsSnapshot> + Send>>;

impl FeedParts {
    /// Runs the trading venue's feed and every market-data connection until they stop.
    pub async fn run(self) {
        self.future().await
    }

    async fn future(self) {
        if let Some(bus) = self.bus {
            return bus.await;
        }
        let trading = async move {
            let snap =
                run_feed_with_stats(self.cfg, self.instruments, self.out, self.stop, self.stats)
                    .await;
            tracing::info!(?snap, "feed stopped");
        };
        futures_util::future::join(trading, futures_util::future::join_all(self.market_data)).await;
    }
}

/// Starts the core thread and the feed in `topology`. `core_running` turns false when the
/// core loop returns.
pub fn start(
    topology: Topology,
    setup: CoreSetup,
    mut tuning: CoreTuning,
    feed: FeedParts,
    core_running: Arc<AtomicBool>,
) -> Result<Started> {
    let (core_done_tx, core_done) = tokio::sync::oneshot::channel();
    let inline = topology == Topology::Inline;
    let (feed_here, feed_task_parts) = if inline {
        (Some(feed), None)
    } else {
        (None, Some(feed))
    };
    let core = std::thread::Builder::new()
        .name("peregrine-core".into())
        .spawn(move || {
            if let Some(parts) = feed_here {
                match InlineFeed::new(parts.future()) {
                    Ok(p) => tuning.pump = Some(Box::new(p)),
                    Err(e) => tracing::error!(error = %e, "cannot start the inline feed runtime"),
                }
            }
            let result = run_core_with(setup, tuning);
            core_running.store(false, Ordering::Relaxed);
            let _ = core_done_tx.send(());
            result
        })
        .context("starting the core thread")?;
    let feed = feed_task_parts.map(|p| tokio::spawn(p.future()));
    Ok(Started {
        core,
        core_done,
        feed,
    })
}
