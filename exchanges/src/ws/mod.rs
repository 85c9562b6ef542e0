//! The shared websocket connection manager: one task per venue connection, generic over
//! [`VenueProtocol`].
//!
//! The manager owns the socket; the protocol owns the bytes. Per connection it:
//! - connects (with a timeout) and reconnects with exponential backoff and jitter
//!   ([`backoff::Backoff`], reset once a connection delivers a frame);
//! - calls [`VenueProtocol::on_connect`], then sends the subscribe messages (again after every
//!   reconnect);
//! - keeps the connection alive per [`Heartbeat`] and answers server pings (tungstenite queues
//!   the pong, the manager flushes it at once);
//! - runs a stale-feed watchdog: no text frame for `stale_after` means the feed is stale
//!   ([`VenueProtocol::on_stale`] emits `Stale` downstream) and the connection is replaced;
//! - replaces the connection on schedule before the venue's session limit
//!   ([`VenueProtocol::max_session`], or [`WsConfig::max_session`]);
//! - reconnects when the protocol says a book lost sync ([`FrameOutcome::Resync`]), and at
//!   once when the venue announces it will close the connection ([`FrameOutcome::Reconnect`]);
//! - counts and logs acks, venue error replies, malformed frames (and goes on) and oversized
//!   frames (a clear error, then a reconnect: the stream past such a frame is not trusted);
//! - hands every raw text frame and its receive time to an optional [`FrameTap`]
//!   (`peregrine record`).
//!
//! Ticks go to a bounded crossbeam queue and never block the socket (see `sink`).

pub mod backoff;
mod sink;
pub mod stats;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod venue_fault_tests;
#[cfg(test)]
mod venue_server;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;
use futures_util::{SinkExt, StreamExt};
use peregrine_engine::clock::Clock;
use peregrine_engine::tick::Tick;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::md::Reason;
use crate::venue::{FrameError, FrameOutcome, Heartbeat, Venue, VenueProtocol};
use backoff::Backoff;
use sink::TickSink;
use stats::bump;
pub use stats::{FeedStats, FeedStatsSnapshot};

/// Receives every raw text frame: `(venue, local receive time in ns since the epoch, frame)`.
/// Called on the connection's task before the frame is parsed; keep it cheap.
#[derive(Clone)]
pub struct FrameTap(pub Arc<TapFn>);

/// The function behind a [`FrameTap`].
pub type TapFn = dyn Fn(Venue, u64, &str) + Send + Sync;

impl fmt::Debug for FrameTap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FrameTap(..)")
    }
}

/// Connection-manager settings (the venue-independent feed knobs).
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// First reconnect delay; doubles up to `backoff_max`, with jitter.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// No text frame (data, ack or heartbeat) for this long: the feed is stale; reconnect.
    pub stale_after: Duration,
    /// Replace the connection after this long. `None`: 5 % before the protocol's
    /// [`VenueProtocol::max_session`] (Binance: 24 h, so after 22.8 h), or never.
    pub max_session: Option<Duration>,
    /// Largest accepted frame/message in bytes; a bigger one is an error and a reconnect.
    pub max_frame_bytes: usize,
    /// Timeout of one connection attempt (TCP, TLS and the websocket handshake).
    pub connect_timeout: Duration,
    /// Raw-frame tap, if any.
    pub tap: Option<FrameTap>,
}

impl Default for WsConfig {
    /// Backoff 250 ms .. 30 s, stale after 30 s, the venue's session limit, 16 MiB frames,
    /// 10 s connect timeout, no tap.
    fn default() -> Self {
        Self {
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            stale_after: Duration::from_secs(30),
            max_session: None,
            max_frame_bytes: 16 << 20,
            connect_timeout: Duration::from_secs(10),
            tap: None,
        }
    }
}

impl WsConfig {
    /// How long one connection may live, from the config or the protocol.
    fn session_limit(&self, proto_max: Option<Duration>) -> Option<Duration> {
        self.max_session
            .or_else(|| proto_max.map(|d| d.mul_f64(0.95)))
            .filter(|d| !d.is_zero())
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Reconnect after the backoff delay.
    Reconnect,
    /// Reconnect at once (a scheduled replacement).
    ReconnectNow,
    /// Shutdown, or nobody reads the ticks any more.
    Stop,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Runs `proto` until `shutdown` becomes `true` or the tick receiver is dropped, counting into
/// `stats`; returns the final counters.
pub async fn run_connection<P: VenueProtocol>(
    mut proto: P,
    cfg: WsConfig,
    out: Sender<Tick>,
    mut shutdown: watch::Receiver<bool>,
    stats: Arc<FeedStats>,
) -> FeedStatsSnapshot {
    let venue = proto.venue();
    let url = proto.url();
    let mut sink = TickSink::new(out, stats.clone());
    let mut backoff = Backoff::new(cfg.backoff_min, cfg.backoff_max);
    let ws_cfg = WebSocketConfig::default()
        .max_message_size(Some(cfg.max_frame_bytes))
        .max_frame_size(Some(cfg.max_frame_bytes));
    let mut connected_before = false;
    while !*shutdown.borrow() {
        let attempt = tokio::time::timeout(
            cfg.connect_timeout,
            tokio_tungstenite::connect_async_with_config(url.as_str(), Some(ws_cfg), true),
        );
        let connected = tokio::select! {
            r = attempt => Some(r),
            _ = shutdown.changed() => None,
        };
        let mut delay = true;
        match connected {
            None => break,
            Some(Ok(Ok((ws, _)))) => {
                if connected_before {
                    bump(&stats.reconnects);
                }
                connected_before = true;
                tracing::info!(%venue, "feed connected");
                let end = Conn {
                    proto: &mut proto,
                    sink: &mut sink,
                    stats: &stats,
                    cfg: &cfg,
                    venue,
                }
                .run(ws, &mut shutdown, &mut backoff)
                .await;
                proto.on_disconnect(&mut |t| sink.push(t));
                match end {
                    End::Stop => break,
                    End::ReconnectNow => delay = false,
                    End::Reconnect => {}
                }
            }
            Some(Ok(Err(e))) => tracing::warn!(%venue, error = %e, "feed: connect failed"),
            Some(Err(_)) => {
                tracing::warn!(%venue, timeout = ?cfg.connect_timeout, "feed: connect timed out")
            }
        }
        if delay && wait_or_shutdown(backoff.next_delay(), &mut shutdown).await {
            break;
        }
    }
    stats.snapshot()
}

/// Sleeps `d`; true if shutdown was requested meanwhile.
async fn wait_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *shutdown.borrow(),
        r = shutdown.changed() => r.is_err() || *shutdown.borrow(),
    }
}

/// Sends a close frame, giving up after a second (a stalled peer may not read it).
async fn close(ws: &mut Ws) {
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
}

/// One live connection's loop.
struct Conn<'a, P> {
    proto: &'a mut P,
    sink: &'a mut TickSink,
    stats: &'a FeedStats,
    cfg: &'a WsConfig,
    venue: Venue,
}

impl<P: VenueProtocol> Conn<'_, P> {
    async fn run(
        mut self,
        mut ws: Ws,
        shutdown: &mut watch::Receiver<bool>,
        backoff: &mut Backoff,
    ) -> End {
        let venue = self.venue;
        {
            let sink = &mut *self.sink;
            self.proto.on_connect(&mut |t| sink.push(t));
        }
        for msg in self.proto.subscribe_messages() {
            if let Err(e) = ws.send(Message::Text(msg.into())).await {
                tracing::warn!(%venue, error = %e, "feed: subscribe failed");
                return End::Reconnect;
            }
        }
        let (hb_every, hb_msg) = match self.proto.heartbeat() {
            Heartbeat::WsPing(every) => (Some(every), None),
            Heartbeat::Text { every, payload } => (Some(every), Some(payload)),
            Heartbeat::ServerOnly => (None, None),
        };
        let hb_period = hb_every
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(3600));
        let mut heartbeat = tokio::time::interval_at(Instant::now() + hb_period, hb_period);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stale_after = self.cfg.stale_after.max(Duration::from_millis(1));
        let watchdog = tokio::time::sleep(stale_after);
        tokio::pin!(watchdog);
        let limit = self.cfg.session_limit(self.proto.max_session());
        let session_end = tokio::time::sleep(limit.unwrap_or(Duration::from_secs(86_400 * 365)));
        tokio::pin!(session_end);
        let mut healthy = false;
        loop {
            if self.sink.receiver_gone() {
                tracing::warn!(%venue, "feed: tick receiver is gone; stopping");
                close(&mut ws).await;
                return End::Stop;
            }
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        close(&mut ws).await;
                        return End::Stop;
                    }
                }
                outcome = std::future::poll_fn(|cx| {
                    let sink = &mut *self.sink;
                    self.proto.poll_deferred(cx, &mut |t| sink.push(t))
                }) => {
                    if self.after_outcome(Ok(outcome), "") {
                        close(&mut ws).await;
                        return End::Reconnect;
                    }
                }
                _ = heartbeat.tick(), if hb_every.is_some() => {
                    let msg = match &hb_msg {
                        Some(text) => Message::Text(text.as_str().into()),
                        None => Message::Ping(Default::default()),
                    };
                    if let Err(e) = ws.send(msg).await {
                        tracing::warn!(%venue, error = %e, "feed: heartbeat failed");
                        return End::Reconnect;
                    }
                }
                () = &mut watchdog => {
                    bump(&self.stats.stale);
                    tracing::warn!(%venue, after = ?stale_after, "feed: no frames; stale, reconnecting");
                    let sink = &mut *self.sink;
                    self.proto.on_stale(&mut |t| sink.push(t));
                    close(&mut ws).await;
                    return End::Reconnect;
                }
                () = &mut session_end, if limit.is_some() => {
                    bump(&self.stats.scheduled);
                    tracing::info!(%venue, after = ?limit, "feed: scheduled reconnect before the session limit");
                    close(&mut ws).await;
                    return End::ReconnectNow;
                }
                msg = ws.next() => {
                    let recv_ns = Clock::now_ns();
                    match msg {
                        Some(Ok(Message::Text(text))) => {
                            watchdog.as_mut().reset(Instant::now() + stale_after);
                            bump(&self.stats.frames);
                            if !healthy {
                                healthy = true;
                                backoff.reset();
                            }
                            if let Some(tap) = &self.cfg.tap {
                                (tap.0)(venue, recv_ns, text.as_str());
                            }
                            let mut first_exch_ns = 0i64;
                            let result = {
                                let sink = &mut *self.sink;
                                self.proto.on_frame(text.as_str(), recv_ns, &mut |t| {
                                    if first_exch_ns == 0 {
                                        first_exch_ns = t.exch_ts_ns;
                                    }
                                    sink.push(t)
                                })
                            };
                            // Frame received -> normalized and handed to the queue; and the
                            // venue's event time -> our receive time (wall clocks).
                            let normalize_ns = Clock::now_ns().saturating_sub(recv_ns);
                            let recv_wall_ns = Clock::wall_ns()
                                .saturating_sub(i64::try_from(normalize_ns).unwrap_or(i64::MAX));
                            self.stats
                                .latency
                                .record_frame(normalize_ns, first_exch_ns, recv_wall_ns);
                            if let Ok(FrameOutcome::Reconnect(why)) = &result {
                                bump(&self.stats.scheduled);
                                tracing::warn!(%venue, reason = %why, "feed: the venue is closing the connection; replacing it now");
                                close(&mut ws).await;
                                return End::ReconnectNow;
                            }
                            if self.after_outcome(result, text.as_str()) {
                                close(&mut ws).await;
                                return End::Reconnect;
                            }
                        }
                        Some(Ok(Message::Ping(_))) => {
                            // tungstenite queued the pong (echoing the payload); push it out now.
                            if let Err(e) = ws.flush().await {
                                tracing::warn!(%venue, error = %e, "feed: pong failed");
                                return End::Reconnect;
                            }
                        }
                        Some(Ok(Message::Close(frame))) => {
                            tracing::warn!(%venue, ?frame, "feed: closed by the server");
                            return End::Reconnect;
                        }
                        Some(Ok(Message::Binary(b))) => {
                            self.stats.reject(Reason::Malformed);
                            tracing::warn!(%venue, bytes = b.len(), "feed: unexpected binary frame skipped");
                        }
                        Some(Ok(_)) => {}
                        Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                            bump(&self.stats.oversized);
                            tracing::error!(%venue, size, max_size, "feed: frame over the size limit; reconnecting");
                            return End::Reconnect;
                        }
                        Some(Err(e)) => {
                            tracing::warn!(%venue, error = %e, "feed: websocket error");
                            return End::Reconnect;
                        }
                        None => {
                            tracing::warn!(%venue, "feed: connection ended");
                            return End::Reconnect;
                        }
                    }
                }
            }
        }
    }

    /// Counts and logs what a frame (or deferred work) amounted to, then lets the protocol
    /// react to book ticks the queue could not take. True if the connection must be replaced.
    fn after_outcome(&mut self, result: Result<FrameOutcome, FrameError>, frame: &str) -> bool {
        let venue = self.venue;
        let mut resync = match result {
            Ok(FrameOutcome::Data) => None,
            Ok(FrameOutcome::Control) => {
                bump(&self.stats.control);
                tracing::debug!(%venue, frame, "feed: control frame");
                None
            }
            Ok(FrameOutcome::VenueError(msg)) => {
                bump(&self.stats.venue_errors);
                tracing::warn!(%venue, error = %msg, "feed: venue error reply");
                None
            }
            Ok(FrameOutcome::Resync(why) | FrameOutcome::Reconnect(why)) => Some(why),
            Err(e) => {
                self.stats.reject(e.reason);
                let head: String = frame.chars().take(160).collect();
                let (reason, kind) = (e.message, e.reason.as_str());
                tracing::warn!(%venue, %reason, kind, frame = %head, "feed: frame refused");
                None
            }
        };
        while let Some(id) = self.sink.take_lost() {
            if let FrameOutcome::Resync(why) = self.proto.on_book_tick_lost(id) {
                resync.get_or_insert(why);
            }
        }
        match resync {
            Some(why) => {
                bump(&self.stats.resync_requests);
                tracing::warn!(%venue, reason = %why, "feed: book lost sync; resubscribing");
                true
            }
            None => false,
        }
    }
}
