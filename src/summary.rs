//! The run summary: printed at the end of `peregrine run` and optionally written as JSON.

use peregrine_engine::core::CoreReport;
use peregrine_engine::latency::LatencySummary;
use serde::Serialize;

/// What a run did, in the shape the README documents.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    /// Ticks processed by the core loop.
    pub ticks: u64,
    /// Orders sent.
    pub orders: u64,
    /// Fills booked.
    pub fills: u64,
    /// Orders refused (risk gate + venue).
    pub rejects: u64,
    /// Realized PnL, exact decimal string.
    pub realized_pnl: String,
    /// Tick receive to signed order ready, ns.
    pub latency_ns: LatencySummary,
    /// Everything else the core reported.
    pub detail: CoreReport,
    /// Feed counters, summed over the venues, with each venue's under `venues`.
    pub feed: serde_json::Value,
    /// Rows the sink wrote.
    pub sink: serde_json::Value,
    /// Wall-clock length of the run, seconds.
    pub elapsed_s: f64,
}

impl RunSummary {
    /// Names of the strategies halted during the run (`detail.halted_strategies`).
    pub fn halted(&self) -> Vec<&str> {
        self.detail
            .halted_strategies
            .iter()
            .map(|h| h.name.as_str())
            .collect()
    }

    /// Human-readable lines for the terminal.
    pub fn render(&self) -> String {
        let l = &self.latency_ns;
        let mut s = String::new();
        s.push_str("run summary\n");
        s.push_str(&format!("  elapsed          {:.1} s\n", self.elapsed_s));
        s.push_str(&format!("  ticks processed  {}\n", self.ticks));
        s.push_str(&format!("  orders sent      {}\n", self.orders));
        s.push_str(&format!("  fills            {}\n", self.fills));
        s.push_str(&format!(
            "  rejects          {} ({} by risk)\n",
            self.rejects, self.detail.risk_rejects
        ));
        s.push_str(&format!("  realized pnl     {}\n", self.realized_pnl));
        s.push_str(&format!(
            "  tick-to-order    p50 {} us  p99 {} us  p99.9 {} us  max {} us  (n={})\n",
            us(l.p50),
            us(l.p99),
            us(l.p999),
            us(l.max),
            l.count
        ));
        for (name, l) in [
            ("  of which queue  ", &self.detail.queue_latency_ns),
            ("  of which core   ", &self.detail.core_latency_ns),
        ] {
            s.push_str(&format!(
                "{name}p50 {} us  p99 {} us  p99.9 {} us  max {} us  (n={})\n",
                us(l.p50),
                us(l.p99),
                us(l.p999),
                us(l.max),
                l.count
            ));
        }
        for st in &self.detail.stages {
            let l = &st.latency_ns;
            s.push_str(&format!(
                "  stage {:<13} p50 {} us  p99 {} us  p99.9 {} us  max {} us  (n={})\n",
                st.stage.as_str(),
                us(l.p50),
                us(l.p99),
                us(l.p999),
                us(l.max),
                l.count
            ));
        }
        if let Some(venues) = self.feed.get("venues").and_then(|v| v.as_object()) {
            for (venue, c) in venues {
                let n = |k: &str| c.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
                s.push_str(&format!(
                    "  feed {venue:<11} frames {}  ticks {}  dropped {}  reconnects {}  resyncs {}\n",
                    n("frames"),
                    n("ticks"),
                    n("dropped"),
                    n("reconnects"),
                    n("resyncs")
                ));
            }
        }
        for h in &self.detail.halted_strategies {
            s.push_str(&format!(
                "  HALTED strategy  {} after {} errors; last error: {}\n",
                h.name, h.errors, h.last_error
            ));
        }
        for p in &self.detail.positions {
            s.push_str(&format!(
                "  position         {} {} qty {} avg {} realized {}\n",
                p.strategy, p.symbol, p.qty, p.avg_price, p.realized_pnl
            ));
        }
        s
    }
}

fn us(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1000.0)
}
