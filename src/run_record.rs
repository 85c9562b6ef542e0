//! The run's row in the `runs` table: written through the sink at the start, on a heartbeat
//! every [`HEARTBEAT`], and at an orderly stop (each an upsert on the run id under the sink's
//! sequence guard, so the spool's replay of an older beat never undoes the stop).

use std::time::Duration;

use peregrine_engine::clock::Clock;
use peregrine_engine::config::Config;
use peregrine_engine::events::{RunRow, RunStatus, SinkEvent};
use peregrine_engine::sink::SinkSender;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

/// How often a running engine refreshes `runs.heartbeat_ns`.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// SHA-256 (hex) of the parsed configuration's debug form: equal for equal configurations
/// within one engine version (every map in it is ordered; keys are never in it).
pub fn config_hash(cfg: &Config) -> String {
    hex::encode(Sha256::digest(format!("{cfg:?}").as_bytes()))
}

/// Records the run; the heartbeat task is aborted if this is dropped without [`stop`].
///
/// [`stop`]: RunRecorder::stop
pub struct RunRecorder {
    sink: SinkSender,
    row: RunRow,
    beat: JoinHandle<()>,
}

impl RunRecorder {
    /// Sends the `running` row now and starts the heartbeat (on the current tokio runtime).
    pub fn start(sink: SinkSender, run_id: u64, cfg: &Config) -> Self {
        let now = Clock::wall_ns();
        let row = RunRow {
            run_id: format!("{run_id:x}"),
            version: env!("CARGO_PKG_VERSION").to_string(),
            config_hash: config_hash(cfg),
            started_ns: now,
            stopped_ns: None,
            status: RunStatus::Running,
            heartbeat_ns: now,
        };
        send(&sink, row.clone());
        let (beat_sink, mut beat_row) = (sink.clone(), row.clone());
        let beat = tokio::spawn(async move {
            let mut every = tokio::time::interval(HEARTBEAT);
            every.tick().await; // the first tick is immediate: the start row is that beat
            loop {
                every.tick().await;
                beat_row.heartbeat_ns = Clock::wall_ns();
                send(&beat_sink, beat_row.clone());
            }
        });
        Self { sink, row, beat }
    }

    /// Stops the heartbeat and sends the `stopped` row (before the sink is joined).
    pub fn stop(self) {
        self.beat.abort();
        let now = Clock::wall_ns();
        let row = RunRow {
            stopped_ns: Some(now),
            status: RunStatus::Stopped,
            heartbeat_ns: now,
            ..self.row.clone()
        };
        send(&self.sink, row);
    }
}

impl Drop for RunRecorder {
    fn drop(&mut self) {
        self.beat.abort();
    }
}

fn send(sink: &SinkSender, row: RunRow) {
    if sink.send(SinkEvent::Run(row)).is_err() {
        tracing::error!("the sink is gone; the run's row was not recorded");
    }
}
