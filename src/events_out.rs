//! `[bus] events = true`: orders, fills, positions, signals and risk events of the run are
//! also published on NATS, `<prefix>.ev.<user>.<kind>` (`kind`: `order`, `fill`, `position`,
//! `signal`, `risk`), as JSON `{"seq", "kind", "data"}` with money as decimal strings
//! (`engine::sink::tap::event_json`). They are taken from the sink once spooled, in the
//! sink's order with its sequence; the database stays the source of truth. Publishing runs
//! on the I/O runtime behind a bounded queue: when NATS cannot keep up, the bus copy is
//! dropped and counted, never the database's. `<user>` is the run's user id (`default`
//! without one).

use anyhow::Result;
use peregrine_engine::config::Config;
use peregrine_engine::events::SinkEvent;
use peregrine_engine::sink::tap::{event_json, kind_token, EventTap};
use peregrine_exchanges::bus::subject::check_token;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Events waiting to be published before the copy is dropped.
const QUEUE: usize = 65_536;

/// The sink's tap publishing to NATS.
#[derive(Debug)]
pub struct NatsEvents {
    tx: mpsc::Sender<(String, Vec<u8>)>,
    /// `<prefix>.ev.<user>.`
    base: String,
    /// Events not published because the queue was full or closed.
    pub dropped: AtomicU64,
}

impl EventTap for NatsEvents {
    fn event(&self, seq: u64, ev: &SinkEvent) {
        let (Some(kind), Some(json)) = (kind_token(ev), event_json(seq, ev)) else {
            return;
        };
        if self
            .tx
            .try_send((format!("{}{kind}", self.base), json))
            .is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Connects to `[bus] url` and starts the publisher task; returns the tap for the sink and
/// the task, which ends (after a flush) once the sink has dropped the tap.
pub async fn start(
    cfg: &Config,
    user: Option<&str>,
) -> Result<(Arc<NatsEvents>, tokio::task::JoinHandle<()>)> {
    let user = user.unwrap_or("default");
    check_token("user", user)?;
    let client = crate::bus_source::connect_nats(cfg).await?;
    let (tx, mut rx) = mpsc::channel::<(String, Vec<u8>)>(QUEUE);
    let tap = Arc::new(NatsEvents {
        tx,
        base: format!("{}.ev.{user}.", cfg.bus.prefix),
        dropped: AtomicU64::new(0),
    });
    let task = tokio::spawn(async move {
        while let Some((subject, payload)) = rx.recv().await {
            if let Err(e) = client.publish(subject, payload.into()).await {
                tracing::warn!(error = %e, "bus: cannot publish an event");
            }
        }
        let _ = client.flush().await;
    });
    Ok((tap, task))
}
