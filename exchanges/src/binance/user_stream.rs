//! The user data stream: our orders' `executionReport`s as [`ExecReport`]s.
//!
//! This is the only source of fills, cancels and expiries (see [`super::gateway`]). It must be
//! connected before the engine sends its first order: [`run_user_stream`] flips its `ready`
//! watch to `true` once the socket is open (and back to `false` while reconnecting), so the
//! wiring can `ready_rx.wait_for(|r| *r).await` before starting the core loop.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use peregrine_engine::clock::Clock;
use peregrine_engine::gateway::ExecSender;
use peregrine_engine::order::{ClientOrderId, ExecKind, ExecReport, FillInfo};
use peregrine_engine::types::{Instruments, Side};
use serde::Deserialize;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::backoff::Backoff;
use super::ledger::ExecLedger;
use super::normalize::{decimal, NormalizeError};
use super::rest::BinanceRest;

/// What one user-stream message was.
#[derive(Debug, Clone, PartialEq)]
pub enum UserEvent {
    /// A report about one of our orders.
    Exec(ExecReport),
    /// An `executionReport` for an order that is not ours (client id not a [`ClientOrderId`])
    /// or for a symbol we don't trade.
    NotOurs,
    /// An `executionReport` with an execution type we don't report (e.g. `REPLACED`).
    Skipped,
    /// Another event (`outboundAccountPosition`, `balanceUpdate`, ...).
    Other,
    /// `listenKeyExpired`: the stream is dead; reconnect with a new key.
    ListenKeyExpired,
}

/// Why a user-stream message could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UserStreamError {
    /// Not JSON, or not an event of the documented shape.
    #[error("malformed user stream event: {0}")]
    Malformed(String),
    /// A number field could not be read.
    #[error(transparent)]
    Field(#[from] NormalizeError),
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    e: &'a str,
}

#[derive(Deserialize)]
struct RawExecutionReport<'a> {
    #[serde(rename = "s")]
    symbol: &'a str,
    #[serde(rename = "c")]
    client_order_id: &'a str,
    #[serde(rename = "C", default, borrow)]
    orig_client_order_id: Option<&'a str>,
    #[serde(rename = "S")]
    side: &'a str,
    #[serde(rename = "x")]
    exec_type: &'a str,
    #[serde(rename = "r", default, borrow)]
    reject_reason: Option<&'a str>,
    #[serde(rename = "i")]
    order_id: u64,
    #[serde(rename = "q")]
    order_qty: &'a str,
    #[serde(rename = "l")]
    last_qty: &'a str,
    #[serde(rename = "z")]
    cum_qty: &'a str,
    #[serde(rename = "L")]
    last_price: &'a str,
    #[serde(rename = "n", default, borrow)]
    commission: Option<&'a str>,
    #[serde(rename = "N", default, borrow)]
    commission_asset: Option<&'a str>,
    #[serde(rename = "T")]
    transact_time: i64,
    #[serde(rename = "t")]
    trade_id: i64,
    #[serde(rename = "m")]
    is_maker: bool,
}

/// Reads one user-stream text message received at `recv_ns`.
pub fn parse_user_event(
    text: &str,
    instruments: &Instruments,
    recv_ns: u64,
) -> Result<UserEvent, UserStreamError> {
    let head: Head<'_> =
        serde_json::from_str(text).map_err(|e| UserStreamError::Malformed(e.to_string()))?;
    match head.e {
        "executionReport" => {}
        "listenKeyExpired" => return Ok(UserEvent::ListenKeyExpired),
        _ => return Ok(UserEvent::Other),
    }
    let r: RawExecutionReport<'_> =
        serde_json::from_str(text).map_err(|e| UserStreamError::Malformed(e.to_string()))?;
    let coid_text = match r.orig_client_order_id {
        Some(c) if !c.is_empty() => c,
        _ => r.client_order_id,
    };
    let Ok(client_order_id) = coid_text.parse::<ClientOrderId>() else {
        tracing::debug!(
            client_order_id = coid_text,
            "executionReport for an order that is not ours"
        );
        return Ok(UserEvent::NotOurs);
    };
    let Some(instrument) = instruments.by_venue_symbol(r.symbol) else {
        tracing::debug!(
            symbol = r.symbol,
            "executionReport for a symbol we don't trade"
        );
        return Ok(UserEvent::NotOurs);
    };
    let side = match r.side {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        other => {
            return Err(UserStreamError::Malformed(format!(
                "field `S`: unknown side {other:?}"
            )))
        }
    };
    let kind = match r.exec_type {
        "NEW" => ExecKind::Ack {
            venue_order_id: r.order_id,
        },
        "TRADE" => {
            let qty = decimal("l", r.last_qty)?;
            let leaves_qty = decimal("q", r.order_qty)? - decimal("z", r.cum_qty)?;
            let trade_id = u64::try_from(r.trade_id).map_err(|_| {
                UserStreamError::Malformed(format!("field `t`: bad trade id {}", r.trade_id))
            })?;
            let exch_ts_ns = r.transact_time.checked_mul(1_000_000).ok_or_else(|| {
                UserStreamError::Malformed("field `T`: time overflows".to_string())
            })?;
            ExecKind::Fill(FillInfo {
                trade_id,
                price: decimal("L", r.last_price)?,
                qty,
                fee: decimal("n", r.commission.unwrap_or("0"))?,
                fee_asset: r.commission_asset.unwrap_or("").to_string(),
                is_maker: r.is_maker,
                leaves_qty,
                exch_ts_ns,
            })
        }
        "CANCELED" => ExecKind::Cancelled,
        "EXPIRED" | "TRADE_PREVENTION" => ExecKind::Expired,
        "REJECTED" => ExecKind::Rejected {
            code: 0,
            reason: r.reject_reason.unwrap_or("REJECTED").to_string(),
        },
        _ => return Ok(UserEvent::Skipped),
    };
    Ok(UserEvent::Exec(ExecReport {
        client_order_id,
        instrument,
        side,
        kind,
        recv_ns,
    }))
}

/// User-stream tuning.
#[derive(Debug, Clone)]
pub struct UserStreamConfig {
    /// Websocket base, e.g. `wss://stream.binance.com:9443` or the simulator's `ws://127.0.0.1:PORT`.
    pub ws_base: String,
    /// Listen-key keepalive period (Binance: keys expire after 60 min; ping every 30).
    pub keepalive_every: Duration,
    /// First reconnect delay; doubles up to `reconnect_max`, with jitter.
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// We send a ping this often (the stream can be quiet for hours).
    pub ping_interval: Duration,
    /// No frame (event, ping or pong) for this long means the connection is dead.
    pub idle_timeout: Duration,
    /// Notified after every REconnect (not the first connect), so reconciliation can look for
    /// what was missed while disconnected.
    pub on_reconnect: Option<Arc<tokio::sync::Notify>>,
}

impl UserStreamConfig {
    /// Defaults for `ws_base`: keepalive every 30 min, reconnect 250 ms .. 30 s, ping every
    /// 20 s, idle timeout 60 s.
    pub fn new(ws_base: impl Into<String>) -> Self {
        Self {
            ws_base: ws_base.into(),
            keepalive_every: Duration::from_secs(30 * 60),
            reconnect_min: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(30),
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            on_reconnect: None,
        }
    }
}

/// Counters returned by [`run_user_stream`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserStreamStats {
    /// Text messages received.
    pub messages: u64,
    /// Reports sent to the engine.
    pub reports: u64,
    /// Acks/rejects not sent because the gateway had already reported them.
    pub deduplicated: u64,
    /// Unreadable messages.
    pub malformed: u64,
    /// Reconnections after the first connection.
    pub reconnects: u64,
}

/// Runs the user data stream until `shutdown` becomes `true` (or the engine's exec receiver is
/// gone): creates a listen key, connects `{ws_base}/ws/<listenKey>`, sends [`ExecReport`]s to
/// `exec_tx` (Ack/Rejected through `ledger`), keeps the key alive, reconnects with backoff
/// (new key) on any drop. `ready` is `true` exactly while connected.
pub async fn run_user_stream(
    cfg: UserStreamConfig,
    rest: BinanceRest,
    instruments: Arc<Instruments>,
    exec_tx: ExecSender,
    ledger: Arc<ExecLedger>,
    ready: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) -> UserStreamStats {
    let mut stats = UserStreamStats::default();
    let mut backoff = Backoff::new(cfg.reconnect_min, cfg.reconnect_max);
    let mut connected_before = false;
    let base = cfg.ws_base.trim_end_matches('/').to_string();
    'outer: while !*shutdown.borrow() {
        let key = match rest.create_listen_key().await {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(error = %e, "binance user stream: cannot create a listen key");
                if wait_or_shutdown(backoff.next_delay(), &mut shutdown).await {
                    break;
                }
                continue;
            }
        };
        let url = format!("{base}/ws/{}", key.expose());
        let mut ws = match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok((ws, _)) => ws,
            Err(e) => {
                tracing::warn!(error = %e, "binance user stream: connect failed");
                if wait_or_shutdown(backoff.next_delay(), &mut shutdown).await {
                    break;
                }
                continue;
            }
        };
        drop(url);
        if connected_before {
            stats.reconnects += 1;
            if let Some(n) = &cfg.on_reconnect {
                n.notify_one();
            }
        }
        connected_before = true;
        ready.send_replace(true);
        tracing::info!("binance user stream connected");
        let mut keepalive = tokio::time::interval_at(
            tokio::time::Instant::now() + cfg.keepalive_every,
            cfg.keepalive_every,
        );
        let start = tokio::time::Instant::now();
        let mut ping = tokio::time::interval_at(start + cfg.ping_interval, cfg.ping_interval);
        let idle = tokio::time::sleep(cfg.idle_timeout);
        tokio::pin!(idle);
        loop {
            tokio::select! {
                _ = ping.tick() => {
                    if let Err(e) = ws.send(Message::Ping(Default::default())).await {
                        tracing::warn!(error = %e, "binance user stream: ping failed");
                        break;
                    }
                }
                () = &mut idle => {
                    tracing::warn!(timeout = ?cfg.idle_timeout, "binance user stream: silent; reconnecting");
                    break;
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        let _ = ws.close(None).await;
                        break 'outer;
                    }
                }
                _ = keepalive.tick() => {
                    if let Err(e) = rest.keepalive_listen_key(&key).await {
                        tracing::warn!(error = %e, "binance user stream: listen key keepalive failed");
                    }
                }
                msg = ws.next() => {
                    let recv_ns = Clock::now_ns();
                    idle.as_mut().reset(tokio::time::Instant::now() + cfg.idle_timeout);
                    match msg {
                        Some(Ok(Message::Text(text))) => {
                            stats.messages += 1;
                            backoff.reset();
                            match parse_user_event(text.as_str(), &instruments, recv_ns) {
                                Ok(UserEvent::Exec(report)) => {
                                    let dedup = matches!(report.kind, ExecKind::Ack { .. } | ExecKind::Rejected { .. });
                                    if dedup && !ledger.first_outcome(report.client_order_id) {
                                        stats.deduplicated += 1;
                                        continue;
                                    }
                                    if exec_tx.send(report).is_err() {
                                        tracing::error!("exec report receiver is gone; stopping the user stream");
                                        break 'outer;
                                    }
                                    stats.reports += 1;
                                }
                                Ok(UserEvent::ListenKeyExpired) => {
                                    tracing::warn!("binance user stream: listen key expired; reconnecting");
                                    break;
                                }
                                Ok(_) => {}
                                Err(e) => {
                                    stats.malformed += 1;
                                    tracing::warn!(error = %e, "binance user stream: malformed message");
                                }
                            }
                        }
                        Some(Ok(Message::Ping(_))) => {
                            // tungstenite queued the pong; push it out now.
                            let _ = ws.flush().await;
                        }
                        Some(Ok(Message::Close(frame))) => {
                            tracing::warn!(?frame, "binance user stream closed by the server");
                            break;
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "binance user stream error");
                            break;
                        }
                        None => break,
                    }
                }
            }
        }
        ready.send_replace(false);
        if wait_or_shutdown(backoff.next_delay(), &mut shutdown).await {
            break;
        }
    }
    ready.send_replace(false);
    stats
}

/// Sleeps `d`; true if shutdown was requested meanwhile.
pub(crate) async fn wait_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    let stop = tokio::select! {
        _ = tokio::time::sleep(d) => None,
        // Ok: shutdown requested; Err: the sender is gone, which also means stop.
        _ = shutdown.wait_for(|s| *s) => Some(true),
    };
    stop.unwrap_or_else(|| *shutdown.borrow())
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_engine::types::{InstrumentId, InstrumentSpec};
    use rust_decimal_macros::dec;

    fn registry() -> Instruments {
        let mut r = Instruments::new();
        r.intern(
            InstrumentSpec::from_canonical("binance", "ETH-BTC", dec!(0.000001), dec!(0.001))
                .unwrap(),
        );
        r
    }

    /// Shape from Binance's "User Data Streams" documentation (executionReport payload).
    pub(crate) fn report(x: &str, c: &str, cc: &str) -> String {
        format!(
            r#"{{"e":"executionReport","E":1499405658658,"s":"ETHBTC","c":"{c}","S":"BUY","o":"LIMIT","f":"GTC",
            "q":"1.00000000","p":"0.10264410","P":"0.00000000","F":"0.00000000","g":-1,"C":"{cc}","x":"{x}",
            "X":"PARTIALLY_FILLED","r":"NONE","i":4293153,"l":"0.40000000","z":"0.40000000","L":"0.10264400",
            "n":"0.00004000","N":"BNB","T":1499405658657,"t":42,"v":3,"I":8641984,"w":true,"m":false,"M":false,
            "O":1499405658657,"Z":"0.04105760","Y":"0.04105760","Q":"0.00000000","W":1499405658657,"V":"NONE"}}"#
        )
    }

    fn exec(text: &str) -> ExecReport {
        match parse_user_event(text, &registry(), 5).unwrap() {
            UserEvent::Exec(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn execution_types_map_to_reports() {
        let me = ClientOrderId { run: 0x1f, seq: 3 };
        let r = exec(&report("TRADE", "pg1f-3", ""));
        assert_eq!(
            (r.client_order_id, r.instrument, r.side, r.recv_ns),
            (me, InstrumentId(0), Side::Buy, 5)
        );
        assert_eq!(
            r.kind,
            ExecKind::Fill(FillInfo {
                trade_id: 42,
                price: dec!(0.102644),
                qty: dec!(0.4),
                fee: dec!(0.00004),
                fee_asset: "BNB".into(),
                is_maker: false,
                leaves_qty: dec!(0.6),
                exch_ts_ns: 1_499_405_658_657_000_000,
            })
        );
        assert_eq!(
            exec(&report("NEW", "pg1f-3", "")).kind,
            ExecKind::Ack {
                venue_order_id: 4293153
            }
        );
        // A cancel carries the cancel request's id in `c` and ours in `C`.
        let c = exec(&report("CANCELED", "web_abc", "pg1f-3"));
        assert_eq!((c.client_order_id, c.kind), (me, ExecKind::Cancelled));
        assert_eq!(
            exec(&report("EXPIRED", "pg1f-3", "")).kind,
            ExecKind::Expired
        );
        assert!(matches!(
            exec(&report("REJECTED", "pg1f-3", "")).kind,
            ExecKind::Rejected { .. }
        ));
    }

    #[test]
    fn foreign_orders_other_events_and_malformed() {
        let reg = registry();
        assert_eq!(
            parse_user_event(&report("NEW", "web_123", ""), &reg, 0),
            Ok(UserEvent::NotOurs)
        );
        assert_eq!(
            parse_user_event(&report("REPLACED", "pg1-1", ""), &reg, 0),
            Ok(UserEvent::Skipped)
        );
        let other = r#"{"e":"outboundAccountPosition","E":1,"u":1,"B":[]}"#;
        assert_eq!(parse_user_event(other, &reg, 0), Ok(UserEvent::Other));
        assert_eq!(
            parse_user_event(r#"{"e":"listenKeyExpired","E":1,"listenKey":"x"}"#, &reg, 0),
            Ok(UserEvent::ListenKeyExpired)
        );
        assert!(matches!(
            parse_user_event("nope", &reg, 0),
            Err(UserStreamError::Malformed(_))
        ));
        let bad = report("TRADE", "pg1-1", "").replace(r#""l":"0.40000000""#, r#""l":"0.4x""#);
        assert!(matches!(
            parse_user_event(&bad, &reg, 0),
            Err(UserStreamError::Field(NormalizeError::BadNumber {
                field: "l",
                ..
            }))
        ));
    }
}
