//! The engine's side of the bus: ticks from JetStream instead of venue sockets.
//!
//! [`run_bus_feed`] reads `<prefix>.md.>` through a JetStream pull consumer (durable when
//! [`ConsumeSettings::durable`] is set: a restarted engine resumes after the last message it
//! acknowledged; acknowledgements are cumulative, sent every [`ACK_EVERY`] messages, every
//! [`ACK_INTERVAL`] and at the stop), keeps the events of the registry's instruments, orders
//! them with [`Sequencer`] (gaps mark books stale and ask the feed node for a snapshot on
//! `<prefix>.snap.<venue>.<symbol>`), and hands the core the same ticks a direct feed would
//! (`assemble::to_ticks`), into the same bounded queue (a full queue drops and counts, and a
//! book that lost a tick waits for a snapshot). The feed node's heartbeat
//! (`<prefix>.hb`) going silent marks every book stale. Each message's publish time against
//! the receive time is the `bus` latency stage.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use crossbeam_channel::{Sender, TrySendError};
use futures_util::StreamExt;
use peregrine_engine::clock::Clock;
use peregrine_engine::stages::{LatencyHub, Stage};
use peregrine_engine::tick::{FeedStatus, Tick, TickKind};
use peregrine_engine::types::{InstrumentId, Instruments};
use tokio::sync::{mpsc, watch};

use super::assemble::to_ticks;
use super::codec::{BusEvent, Kind};
use super::publish::{ensure_stream, BusError, StreamSettings};
use super::sequencer::{SeqStats, Sequencer, Want};
use super::subject::Subjects;

/// Acknowledge (cumulatively) after this many messages.
pub const ACK_EVERY: u64 = 1024;
/// Acknowledge at least this often while messages arrive.
pub const ACK_INTERVAL: Duration = Duration::from_millis(200);

/// How an engine consumes the bus.
#[derive(Clone, Debug)]
pub struct ConsumeSettings {
    /// The subjects (prefix) of the bus.
    pub subjects: Subjects,
    /// The stream (created if missing, as the feed node does).
    pub stream: StreamSettings,
    /// Durable consumer name (`None`: an ephemeral consumer from new messages on).
    pub durable: Option<String>,
    /// No feed heartbeat for this long marks every book stale.
    pub heartbeat_timeout: Duration,
    /// A snapshot request unanswered for this long is sent again.
    pub snapshot_timeout: Duration,
    /// Deltas held per book while it waits for a snapshot.
    pub max_buffered: usize,
}

/// The consumer's counters (relaxed atomics; `/metrics` and the run summary read them).
#[derive(Debug, Default)]
pub struct ConsumeStats {
    /// Bus messages received.
    pub messages: AtomicU64,
    /// Payload bytes received.
    pub bytes: AtomicU64,
    /// Ticks delivered to the core's queue.
    pub ticks: AtomicU64,
    /// Ticks lost to a full queue.
    pub dropped: AtomicU64,
    /// Messages missing by sequence (trade, quote, bar, status subjects).
    pub lost: AtomicU64,
    /// Book gaps (each marked the book stale and asked for a snapshot).
    pub book_gaps: AtomicU64,
    /// Books resynced from a snapshot.
    pub resyncs: AtomicU64,
    /// Snapshot requests sent.
    pub snapshot_requests: AtomicU64,
    /// Messages delivered again by JetStream and skipped.
    pub redelivered: AtomicU64,
    /// Messages that did not decode, or for instruments this engine does not follow.
    pub ignored: AtomicU64,
    /// Times the feed node's heartbeat went silent.
    pub feed_lost: AtomicU64,
    /// Bus lag of the last message: receive wall time - publish time, ns.
    pub lag_ns: AtomicU64,
    /// Stream sequence of the last message applied.
    pub stream_seq: AtomicU64,
}

impl ConsumeStats {
    fn add_seq(&self, s: &SeqStats, before: &SeqStats) {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        self.lost.fetch_add(
            d(s.lost, before.lost) + d(s.overflow, before.overflow),
            Ordering::Relaxed,
        );
        self.book_gaps
            .fetch_add(d(s.book_gaps, before.book_gaps), Ordering::Relaxed);
        self.resyncs
            .fetch_add(d(s.resyncs, before.resyncs), Ordering::Relaxed);
    }
}

/// Subject -> (instrument, kind), for the registry's instruments.
fn subject_map(
    subjects: &Subjects,
    instruments: &Instruments,
) -> HashMap<String, (InstrumentId, Kind)> {
    let mut m = HashMap::new();
    for (id, spec) in instruments.iter() {
        for k in Kind::ALL {
            m.insert(subjects.md(&spec.venue, &spec.symbol, k), (id, k));
        }
    }
    m
}

/// Hands ticks to the core; remembers books that lost one.
struct Delivery<'a> {
    out: &'a Sender<Tick>,
    stats: &'a ConsumeStats,
    ticks: Vec<Tick>,
}

impl Delivery<'_> {
    /// Delivers the events' ticks; returns the instruments whose book ticks were dropped.
    fn deliver(
        &mut self,
        events: &mut Vec<(InstrumentId, BusEvent)>,
        lost_books: &mut Vec<InstrumentId>,
    ) -> bool {
        let recv_ns = Clock::now_ns();
        for (id, ev) in events.drain(..) {
            self.ticks.clear();
            to_ticks(id, &ev, recv_ns, &mut self.ticks);
            for t in self.ticks.drain(..) {
                match self.out.try_send(t) {
                    Ok(()) => {
                        self.stats.ticks.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(TrySendError::Full(t)) => {
                        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                        if matches!(
                            t.kind,
                            TickKind::BookDelta(_) | TickKind::BookSnapshot { .. }
                        ) && !lost_books.contains(&id)
                        {
                            lost_books.push(id);
                        }
                    }
                    Err(TrySendError::Disconnected(_)) => return false,
                }
            }
        }
        true
    }
}

/// Runs the bus consumer for `instruments` until `stop` turns true (or the core's queue is
/// gone), delivering ticks to `out`. Connection and stream errors are returned; a lost
/// connection while running is retried by the client.
pub async fn run_bus_feed(
    client: async_nats::Client,
    settings: ConsumeSettings,
    instruments: Arc<Instruments>,
    out: Sender<Tick>,
    mut stop: watch::Receiver<bool>,
    stats: Arc<ConsumeStats>,
    hub: Arc<LatencyHub>,
) -> Result<(), BusError> {
    let subjects = settings.subjects.clone();
    let name = settings.stream.name.clone();
    let js_err = |e: String| BusError::Stream {
        stream: name.clone(),
        message: e,
    };
    ensure_stream(&client, &subjects, &settings.stream).await?;
    let js = jetstream::new(client.clone());
    let stream = js
        .get_stream(&name)
        .await
        .map_err(|e| js_err(e.to_string()))?;
    let config = consumer::pull::Config {
        durable_name: settings.durable.clone(),
        filter_subject: subjects.md_all(),
        deliver_policy: consumer::DeliverPolicy::New,
        ack_policy: consumer::AckPolicy::All,
        max_ack_pending: 1 << 20,
        inactive_threshold: Duration::from_secs(3600),
        ..Default::default()
    };
    // A durable resumes right after its acknowledgement floor: the old consumer (and what the
    // server had delivered to a stopped engine but it never processed) is replaced by one
    // starting there, so a later cumulative ack cannot cover a message never applied.
    let mut config = config;
    if let Some(d) = &settings.durable {
        if let Ok(info) = stream.consumer_info(d).await {
            let floor = info.ack_floor.stream_sequence;
            let _ = stream.delete_consumer(d).await;
            config.deliver_policy = consumer::DeliverPolicy::ByStartSequence {
                start_sequence: floor + 1,
            };
        }
    }
    let consumer: consumer::PullConsumer = match &settings.durable {
        Some(d) => stream.get_or_create_consumer(d, config).await,
        None => stream.create_consumer(config).await,
    }
    .map_err(|e| js_err(format!("consumer: {e}")))?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(1000)
        .messages()
        .await
        .map_err(|e| js_err(format!("consumer messages: {e}")))?;
    let hb_subject = subjects.heartbeat();
    let mut heartbeats =
        client
            .subscribe(hb_subject.clone())
            .await
            .map_err(|e| BusError::Subscribe {
                subject: hb_subject,
                message: e.to_string(),
            })?;

    let map = subject_map(&subjects, &instruments);
    let mut seq = Sequencer::new(instruments.len(), settings.max_buffered);
    let (reply_tx, mut replies) = mpsc::unbounded_channel::<(InstrumentId, Option<BusEvent>)>();
    let mut requested: Vec<Option<Instant>> = vec![None; instruments.len()];
    let request = |id: InstrumentId, requested: &mut Vec<Option<Instant>>| {
        requested[id.index()] = Some(Instant::now());
        stats.snapshot_requests.fetch_add(1, Ordering::Relaxed);
        let spec = instruments.spec(id);
        let subject = subjects.snapshot_request(&spec.venue, &spec.symbol);
        let (client, tx, timeout) = (client.clone(), reply_tx.clone(), settings.snapshot_timeout);
        tokio::spawn(async move {
            let reply = tokio::time::timeout(timeout, client.request(subject, "".into())).await;
            let ev = match reply {
                Ok(Ok(m)) => BusEvent::decode(&m.payload).ok(),
                _ => None,
            };
            let _ = tx.send((id, ev));
        });
    };
    for id in seq.waiting_ids().collect::<Vec<_>>() {
        request(id, &mut requested);
    }

    let mut events = Vec::with_capacity(64);
    let mut lost_books = Vec::new();
    let mut delivery = Delivery {
        out: &out,
        stats: &stats,
        ticks: Vec::with_capacity(64),
    };
    let mut last_hb = Instant::now();
    let mut feed_alive = true;
    let mut to_ack: Option<jetstream::Message> = None;
    let mut unacked = 0u64;
    let mut last_ack = Instant::now();
    let mut last_stream_seq = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let before = seq.stats;
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            m = messages.next() => {
                let m = match m {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "bus: consumer error");
                        continue;
                    }
                    None => return Err(js_err("the consumer's message stream ended".into())),
                };
                let wall = Clock::wall_ns();
                stats.messages.fetch_add(1, Ordering::Relaxed);
                stats.bytes.fetch_add(m.payload.len() as u64, Ordering::Relaxed);
                let stream_seq = m.info().map(|i| i.stream_sequence).unwrap_or(0);
                if stream_seq != 0 && stream_seq <= last_stream_seq {
                    stats.redelivered.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                last_stream_seq = stream_seq;
                let found = map.get(m.subject.as_str()).copied();
                match (found, BusEvent::decode(&m.payload)) {
                    (Some((id, kind)), Ok(ev)) if ev.payload.kind() == kind => {
                        let lag = u64::try_from(wall.saturating_sub(ev.pub_ts_ns)).unwrap_or(0);
                        stats.lag_ns.store(lag, Ordering::Relaxed);
                        hub.record_feed(Stage::Bus, lag);
                        if let Want::Snapshot(id) = seq.on_event(id, ev, &mut events) {
                            request(id, &mut requested);
                        }
                    }
                    _ => {
                        stats.ignored.fetch_add(1, Ordering::Relaxed);
                    }
                }
                stats.stream_seq.store(stream_seq, Ordering::Relaxed);
                to_ack = Some(m);
                unacked += 1;
                // A live stream proves the feed node is there even between heartbeats.
                last_hb = Instant::now();
            }
            r = replies.recv() => {
                let Some((id, ev)) = r else { continue };
                requested[id.index()] = None;
                let again = match ev {
                    Some(ev) => seq.on_snapshot_reply(id, ev, &mut events),
                    None => true,
                };
                // Ask again at the next timer turn if still waiting.
                if again && seq.waiting(id) {
                    requested[id.index()] = Some(Instant::now());
                }
            }
            h = heartbeats.next() => {
                if h.is_some() {
                    last_hb = Instant::now();
                }
            }
            _ = tick.tick() => {}
        }
        // Feed liveness.
        let silent = last_hb.elapsed() > settings.heartbeat_timeout;
        if silent && feed_alive {
            feed_alive = false;
            stats.feed_lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("bus: the feed node is silent; every book is stale until resynced");
            seq.feed_lost(&mut events);
        } else if !silent && !feed_alive {
            feed_alive = true;
            tracing::info!("bus: the feed node is back; resyncing books");
        }
        stats.add_seq(&seq.stats, &before);
        if !delivery.deliver(&mut events, &mut lost_books) {
            break;
        }
        // Books that lost a tick in the queue: stale (when there is room) and resynced.
        for id in lost_books.drain(..) {
            seq.mark_stale(id);
            let _ = out.try_send(Tick {
                instrument: id,
                exch_ts_ns: 0,
                recv_ns: Clock::now_ns(),
                kind: TickKind::Status(FeedStatus::Stale),
            });
            request(id, &mut requested);
        }
        // Snapshot requests unanswered or refused: again, while the feed is alive.
        if feed_alive {
            for id in seq.waiting_ids().collect::<Vec<_>>() {
                let due =
                    requested[id.index()].is_none_or(|t| t.elapsed() >= settings.snapshot_timeout);
                if due {
                    request(id, &mut requested);
                }
            }
        }
        if unacked >= ACK_EVERY || (unacked > 0 && last_ack.elapsed() >= ACK_INTERVAL) {
            if let Some(m) = to_ack.take() {
                if let Err(e) = m.ack().await {
                    tracing::warn!(error = %e, "bus: acknowledgement failed");
                }
            }
            unacked = 0;
            last_ack = Instant::now();
        }
    }
    if let Some(m) = to_ack.take() {
        // Double ack at the stop: the server has it before a restart reads the consumer.
        if let Err(e) = m.double_ack().await {
            tracing::warn!(error = %e, "bus: final acknowledgement failed");
        }
    }
    let _ = client.flush().await;
    Ok(())
}
