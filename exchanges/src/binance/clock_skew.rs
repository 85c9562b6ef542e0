//! Clock skew: measures the offset between our clock and the venue's (`GET /api/v3/time`,
//! taken at the midpoint of the round trip), applies it to signed requests (through the
//! offset shared by [`BinanceRest`] and the signer), and raises an alarm when it drifts
//! beyond a threshold. The gateway resyncs at once when Binance answers `-1021`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::rest::{BinanceRest, RestError};

/// Receives venue-side alarms (reason, message) that the engine records as risk events.
pub type AlarmFn = Arc<dyn Fn(&'static str, String) + Send + Sync>;

/// Clock-skew monitor settings.
#[derive(Clone, Copy, Debug)]
pub struct ClockSkewConfig {
    /// Time between measurements.
    pub interval: Duration,
    /// |offset| beyond this raises a `clock_skew` alarm.
    pub alarm_threshold_ms: i64,
}

impl Default for ClockSkewConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            alarm_threshold_ms: 500,
        }
    }
}

/// Measures the offset once; raises an alarm (and logs an error) beyond the threshold.
/// Returns the offset.
pub async fn measure(
    rest: &BinanceRest,
    cfg: &ClockSkewConfig,
    alarm: &AlarmFn,
) -> Result<i64, RestError> {
    let offset = rest.sync_time().await?;
    if offset.abs() > cfg.alarm_threshold_ms {
        let msg = format!(
            "venue clock is {offset} ms from ours (threshold {} ms); signed requests now use the corrected time",
            cfg.alarm_threshold_ms
        );
        tracing::error!(offset_ms = offset, "{msg}");
        alarm("clock_skew", msg);
    } else {
        tracing::debug!(offset_ms = offset, "venue clock offset measured");
    }
    Ok(offset)
}

/// Measures the offset every `cfg.interval` until `shutdown` turns true.
pub async fn run_clock_skew(
    rest: BinanceRest,
    cfg: ClockSkewConfig,
    alarm: AlarmFn,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = measure(&rest, &cfg, &alarm).await {
            tracing::warn!(error = %e, "cannot measure the venue clock offset");
        }
        tokio::select! {
            _ = tokio::time::sleep(cfg.interval) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}
