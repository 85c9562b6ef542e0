//! The synthetic market without a server or a clock: steps the seeded market of
//! [`Exchange`] on a simulated time grid and hands out the market-data frames it publishes
//! (Binance `trade`, `bookTicker`, `depthUpdate` JSON), so tick files can be generated
//! offline and deterministically (same config and seed, same frames).

use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::broadcast::Receiver;

use super::config::SimConfig;
use super::error::SimError;
use super::exchange::{DepthSpeed, Exchange};
use super::fanout::{Fanout, MdFrame};

/// Interval of the fast depth stream, ms of simulated time.
const DEPTH_FAST_MS: i64 = 100;

/// A stepping, offline synthetic market.
#[derive(Debug)]
pub struct SyntheticTape {
    exchange: Exchange,
    frames: Receiver<MdFrame>,
    now_ms: i64,
    step_ms: i64,
    next_depth_ms: i64,
    lost: u64,
}

impl SyntheticTape {
    /// A market for `cfg`'s symbols and seed whose first step is at `start_ms` (ms since the
    /// epoch) and which advances `step_ms` (>= 1) per step.
    pub fn new(cfg: &SimConfig, start_ms: i64, step_ms: i64) -> Result<Self, SimError> {
        let fanout = Fanout::new();
        let frames = fanout.subscribe_market();
        let exchange = Exchange::new(cfg, fanout)?;
        Ok(Self {
            exchange,
            frames,
            now_ms: start_ms,
            step_ms: step_ms.max(1),
            next_depth_ms: start_ms + DEPTH_FAST_MS,
            lost: 0,
        })
    }

    /// Simulated time of the next step, ms since the epoch.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Frames lost because the reader fell behind the broadcast buffer (0 unless one step
    /// publishes more than its capacity).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Runs one market step and calls `each(stream, json)` for every frame it published
    /// (stream names as on Binance, e.g. `btcusdt@trade`), all at simulated time
    /// [`SyntheticTape::now_ms`] before the call. Returns that time.
    pub fn step(&mut self, mut each: impl FnMut(&str, &str)) -> i64 {
        let now = self.now_ms;
        self.exchange.market_step(now);
        if now >= self.next_depth_ms {
            self.exchange.flush_depth(DepthSpeed::Fast, now);
            self.next_depth_ms += DEPTH_FAST_MS;
        }
        loop {
            match self.frames.try_recv() {
                Ok(f) => each(&f.stream, f.raw.as_str()),
                Err(TryRecvError::Lagged(n)) => self.lost += n,
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        self.now_ms += self.step_ms;
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimSymbol;

    fn frames(seed: u64) -> Vec<String> {
        let cfg = SimConfig {
            seed,
            symbols: vec![SimSymbol::btcusdt()],
            ..SimConfig::default()
        };
        let mut tape = SyntheticTape::new(&cfg, 1_700_000_000_000, 10).unwrap();
        let mut out = Vec::new();
        for _ in 0..200 {
            tape.step(|s, j| out.push(format!("{s} {j}")));
        }
        out
    }

    #[test]
    fn same_seed_same_frames() {
        let a = frames(7);
        assert_eq!(a, frames(7));
        assert_ne!(a, frames(8));
        assert!(a.iter().any(|f| f.starts_with("btcusdt@trade ")));
        assert!(a.iter().any(|f| f.starts_with("btcusdt@bookTicker ")));
    }
}
