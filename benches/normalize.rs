//! Binance market-data decoding, contenders timed interleaved on this shared machine: in each
//! round every contender runs one batch of the same frame in turn (the order rotating from
//! round to round), so load that comes and goes hits them all alike. Per contender the median
//! (and p10/p90) of the rounds' ns per frame, and the median of the per-round ratios to the
//! typed serde struct (same round, same load).
//!
//! Contenders per frame: `md` (our normalizer on the shared `md` reader, to `md::Msg`s with
//! exact decimals), `md_protocol` (the Binance feed protocol: the same plus symbol lookup, to
//! `Tick`s; trade and bookTicker only), `serde_typed` (a `#[derive(Deserialize)]` struct with
//! borrowed `&str` fields, then `Decimal::from_str_exact` on each decimal), `serde_value`
//! (`serde_json::from_str::<serde_json::Value>`, the long-standing baseline).
//!
//! `cargo bench --bench normalize` runs the table (`ROUNDS`, `BATCH` env to change its size).
//! `cargo bench --bench normalize -- --count <frame> <contender> <n>` runs one contender `n`
//! times and nothing else, for callgrind: `valgrind --tool=callgrind <bench binary> --count
//! trade md 20000` minus the same with `0`, divided by 20000, is its instructions per frame.

use std::hint::black_box;
use std::time::Instant;

use peregrine_exchanges::binance::normalize::Normalizer;
use peregrine_exchanges::venue::VenueProtocol;

#[path = "support/binance_contenders.rs"]
mod contenders;

use contenders::{md, protocol, serde_typed, FRAMES};

/// The contenders, by name.
const CONTENDERS: [&str; 4] = ["md", "md_protocol", "serde_typed", "serde_value"];

/// One contender's state.
struct Runner {
    md: Normalizer,
    proto: peregrine_exchanges::binance::BinanceProtocol,
}

impl Runner {
    fn new() -> Self {
        Self {
            md: Normalizer::new(),
            proto: protocol(),
        }
    }

    /// Whether `contender` applies to `frame`.
    fn applies(contender: &str, frame: &str) -> bool {
        contender != "md_protocol" || !frame.starts_with("combined_depth")
    }

    /// Decodes `frame` once with `contender`; true if it decoded.
    #[inline(always)]
    fn run(&mut self, contender: &str, name: &str, frame: &str) -> bool {
        match contender {
            "md" => black_box(md(&mut self.md, black_box(frame))).0,
            "md_protocol" => {
                let mut last = None;
                let r = self
                    .proto
                    .on_frame(black_box(frame), 1, &mut |t| last = Some(t));
                black_box(last);
                r.is_ok()
            }
            "serde_typed" => serde_typed(name, black_box(frame)),
            _ => serde_json::from_str::<serde_json::Value>(black_box(frame))
                .map(|v| black_box(v).is_object())
                .unwrap_or(false),
        }
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `q`-quantile of sorted `v`.
fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i.min(v.len() - 1)]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

fn count_mode(args: &[String]) {
    let (Some(name), Some(contender), Some(n)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: --count <frame> <contender> <n>");
        std::process::exit(2);
    };
    let Some(&(_, frame)) = FRAMES.iter().find(|(f, _)| f == name) else {
        eprintln!("unknown frame {name}");
        std::process::exit(2);
    };
    let n: usize = n.parse().unwrap_or(0);
    let mut r = Runner::new();
    // Warm outside the counted loop is not possible under callgrind's whole-run count; the
    // n = 0 run subtracts setup and this one call alike.
    assert!(
        r.run(contender, name, frame),
        "{contender} must decode {name}"
    );
    for _ in 0..n {
        r.run(contender, name, frame);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--count") {
        count_mode(&args[i + 1..]);
        return;
    }
    let rounds = env_usize("ROUNDS", 300);
    let batch = env_usize("BATCH", 2000);
    let mut r = Runner::new();
    println!(
        "interleaved: {rounds} rounds x {batch} frames per contender per round (ns per frame)"
    );
    println!(
        "| frame | contender | median | p10 | p90 | ratio to serde_typed (median of rounds) |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, frame) in FRAMES {
        let active: Vec<&str> = CONTENDERS
            .iter()
            .copied()
            .filter(|c| Runner::applies(c, name))
            .collect();
        for c in &active {
            assert!(r.run(c, name, frame), "{c} must decode {name}");
            for _ in 0..batch {
                r.run(c, name, frame);
            }
        }
        let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); active.len()];
        for round in 0..rounds {
            for k in 0..active.len() {
                let i = (round + k) % active.len();
                let c = active[i];
                let t0 = Instant::now();
                for _ in 0..batch {
                    r.run(c, name, frame);
                }
                samples[i].push(t0.elapsed().as_nanos() as f64 / batch as f64);
            }
        }
        let typed = active.iter().position(|c| *c == "serde_typed");
        for (i, c) in active.iter().enumerate() {
            let ratio = typed.map(|t| {
                let per_round: Vec<f64> = samples[t]
                    .iter()
                    .zip(&samples[i])
                    .map(|(t, x)| t / x)
                    .collect();
                quantile(&sorted(per_round), 0.5)
            });
            let s = sorted(samples[i].clone());
            println!(
                "| {name} | {c} | {:.1} | {:.1} | {:.1} | {} |",
                quantile(&s, 0.5),
                quantile(&s, 0.1),
                quantile(&s, 0.9),
                ratio.map_or("-".into(), |r| format!("{r:.2}x faster")),
            );
        }
    }
}
