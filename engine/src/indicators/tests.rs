//! Every indicator against reference values computed independently in the test: a naive
//! O(n) formula over the whole window (or, for the recursive Wilder/EMA smoothers, their
//! closed form as an explicitly weighted sum), for the same input series. Definitions are
//! TA-Lib's unless the indicator's docs say otherwise.

use super::*;

/// A deterministic, price-like series (linear congruential generator, random walk around 100).
fn series(n: usize) -> Vec<f64> {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut x = 100.0;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let step = ((state >> 33) % 2001) as f64 / 1000.0 - 1.0;
            x += step;
            x
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + b.abs())
}

fn mean(w: &[f64]) -> f64 {
    w.iter().sum::<f64>() / w.len() as f64
}

fn pstd(w: &[f64]) -> f64 {
    let m = mean(w);
    (w.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / w.len() as f64).sqrt()
}

/// Closed form of an SMA-seeded exponential smoother with factor `a` over `xs`, where the seed
/// is the mean of `xs[..p]`: value at the last element.
fn smoothed(xs: &[f64], p: usize, a: f64) -> f64 {
    let t = xs.len() - 1;
    let seed = mean(&xs[..p]);
    let mut v = (1.0 - a).powi((t + 1 - p) as i32) * seed;
    for (j, x) in xs.iter().enumerate().skip(p) {
        v += a * (1.0 - a).powi((t - j) as i32) * x;
    }
    v
}

#[test]
fn sma_matches_direct_average() {
    let xs = series(300);
    let mut s = Sma::new(7);
    for i in 0..xs.len() {
        let v = s.update(xs[i]);
        if i < 6 {
            assert!(v.is_nan() && !s.ready());
        } else {
            assert!(close(v, mean(&xs[i - 6..=i])), "{i}: {v}");
        }
    }
}

#[test]
fn ema_seeds_with_sma_then_smooths() {
    // Worked by hand with TA-Lib's definition: seed = SMA(first 3) = 2, alpha = 0.5:
    // 4 -> 3, 8 -> 5.5, 1 -> 3.25.
    let mut e = Ema::new(3);
    assert!(e.update(1.0).is_nan());
    assert!(e.update(2.0).is_nan());
    assert!(close(e.update(3.0), 2.0));
    assert!(close(e.update(4.0), 3.0));
    assert!(close(e.update(8.0), 5.5));
    assert!(close(e.update(1.0), 3.25));
    assert!(e.ready());
    let xs = series(200);
    let mut e = Ema::new(10);
    for i in 0..xs.len() {
        let v = e.update(xs[i]);
        if i >= 9 {
            assert!(close(v, smoothed(&xs[..=i], 10, 2.0 / 11.0)), "{i}");
        }
    }
}

#[test]
fn wma_matches_weighted_sum() {
    let xs = series(300);
    let mut w = Wma::new(5);
    for i in 0..xs.len() {
        let v = w.update(xs[i]);
        if i < 4 {
            assert!(v.is_nan());
            continue;
        }
        let win = &xs[i - 4..=i];
        let r: f64 = win
            .iter()
            .enumerate()
            .map(|(k, x)| (k + 1) as f64 * x)
            .sum::<f64>()
            / 15.0;
        assert!(close(v, r), "{i}: {v} vs {r}");
    }
}

#[test]
fn stddev_bollinger_and_zscore_match_the_window() {
    let xs = series(500);
    let mut sd = StdDev::new(20);
    let mut bb = Bollinger::new(20, 2.0);
    for i in 0..xs.len() {
        let v = sd.update(xs[i]);
        let mid = bb.update(xs[i]);
        if i < 19 {
            assert!(v.is_nan() && mid.is_nan() && !bb.ready());
            continue;
        }
        let win = &xs[i - 19..=i];
        let (m, s) = (mean(win), pstd(win));
        assert!((v - s).abs() < 1e-9, "{i}: {v} vs {s}");
        assert!((bb.upper() - (m + 2.0 * s)).abs() < 1e-9);
        assert!((bb.lower() - (m - 2.0 * s)).abs() < 1e-9);
        assert!((sd.zscore() - (xs[i] - m) / s).abs() < 1e-7);
    }
}

#[test]
fn rsi_follows_wilder() {
    // Gains/losses smoothed with factor 1/n after an SMA seed of the first n changes
    // (TA-Lib RSI); reference: the closed form over all changes so far.
    let xs = series(200);
    let n = 14;
    let mut r = Rsi::new(n);
    for i in 0..xs.len() {
        let v = r.update(xs[i]);
        if i < n {
            assert!(v.is_nan() && !r.ready());
            continue;
        }
        let ch: Vec<f64> = xs[..=i].windows(2).map(|w| w[1] - w[0]).collect();
        let g: Vec<f64> = ch.iter().map(|c| c.max(0.0)).collect();
        let l: Vec<f64> = ch.iter().map(|c| (-c).max(0.0)).collect();
        let a = 1.0 / n as f64;
        let (ag, al) = (smoothed(&g, n, a), smoothed(&l, n, a));
        assert!(close(v, 100.0 * ag / (ag + al)), "{i}");
    }
    // All gains: 100; flat: 0 (TA-Lib's convention).
    let mut up = Rsi::new(3);
    for x in [1.0, 2.0, 3.0, 4.0] {
        up.update(x);
    }
    assert!(close(up.value(), 100.0));
    let mut flat = Rsi::new(3);
    for _ in 0..4 {
        flat.update(5.0);
    }
    assert_eq!(flat.value(), 0.0);
}

#[test]
fn macd_is_the_difference_of_emas_with_an_ema_signal() {
    let xs = series(300);
    let mut m = Macd::new(12, 26, 9);
    let mut line = Vec::new();
    for i in 0..xs.len() {
        let v = m.update(xs[i]);
        if i < 25 {
            assert!(v.is_nan());
            continue;
        }
        let f = smoothed(&xs[..=i], 12, 2.0 / 13.0);
        let s = smoothed(&xs[..=i], 26, 2.0 / 27.0);
        assert!(close(v, f - s), "{i}");
        line.push(f - s);
        if line.len() >= 9 {
            let sig = smoothed(&line, 9, 0.2);
            assert!(m.ready() && (m.signal() - sig).abs() < 1e-9, "{i}");
            assert!((m.hist() - (f - s - sig)).abs() < 1e-9);
        } else {
            assert!(!m.ready());
        }
    }
}

#[test]
fn roc_highest_lowest_match_the_window() {
    let xs = series(400);
    let mut roc = Roc::new(10);
    let mut hi = Highest::new(15);
    let mut lo = Lowest::new(15);
    for i in 0..xs.len() {
        let r = roc.update(xs[i]);
        let h = hi.update(xs[i]);
        let l = lo.update(xs[i]);
        if i >= 10 {
            assert!(close(r, 100.0 * (xs[i] - xs[i - 10]) / xs[i - 10]));
        } else {
            assert!(r.is_nan());
        }
        if i >= 14 {
            let w = &xs[i - 14..=i];
            assert_eq!(h, w.iter().cloned().fold(f64::MIN, f64::max));
            assert_eq!(l, w.iter().cloned().fold(f64::MAX, f64::min));
        } else {
            assert!(h.is_nan() && l.is_nan());
        }
    }
}

/// Bars built from the series: high/low around the close.
fn bars(n: usize) -> Vec<(f64, f64, f64)> {
    let xs = series(n);
    let ys = series(n + 7);
    xs.iter()
        .zip(&ys[7..])
        .map(|(c, y)| {
            let spread = (y - 100.0).abs() * 0.1 + 0.05;
            (c + spread, c - spread * 0.7, *c)
        })
        .collect()
}

#[test]
fn atr_follows_wilder() {
    let bs = bars(200);
    let n = 14;
    let mut atr = Atr::new(n);
    for i in 0..bs.len() {
        let v = atr.update(bs[i].0, bs[i].1, bs[i].2);
        if i < n {
            assert!(v.is_nan());
            continue;
        }
        let tr: Vec<f64> = (1..=i)
            .map(|k| {
                let (h, l, pc) = (bs[k].0, bs[k].1, bs[k - 1].2);
                (h - l).max((h - pc).abs()).max((l - pc).abs())
            })
            .collect();
        assert!(close(v, smoothed(&tr, n, 1.0 / n as f64)), "{i}");
    }
}

#[test]
fn stochastic_and_vwap_match_direct_formulas() {
    let bs = bars(100);
    let mut st = StochF::new(14, 3);
    let mut ks = Vec::new();
    for i in 0..bs.len() {
        let k = st.update(bs[i].0, bs[i].1, bs[i].2);
        if i < 13 {
            assert!(k.is_nan());
            continue;
        }
        let w = &bs[i - 13..=i];
        let hh = w.iter().map(|b| b.0).fold(f64::MIN, f64::max);
        let ll = w.iter().map(|b| b.1).fold(f64::MAX, f64::min);
        let rk = 100.0 * (bs[i].2 - ll) / (hh - ll);
        assert!(close(k, rk), "{i}");
        ks.push(rk);
        if ks.len() >= 3 {
            assert!(close(st.fastd(), mean(&ks[ks.len() - 3..])));
        }
    }
    let mut v = Vwap::new();
    assert!(!v.ready() && v.value().is_nan());
    let trades = [(100.0, 2.0), (101.0, 1.0), (99.5, 4.0)];
    for (p, q) in trades {
        v.update(p, q);
    }
    assert!(close(v.value(), (200.0 + 101.0 + 398.0) / 7.0));
    v.reset();
    assert!(!v.ready());
}

#[test]
fn cross_detects_both_directions_once() {
    let mut c = Cross::new();
    assert_eq!(c.update(1.0, 2.0), 0);
    assert_eq!(c.update(3.0, 2.0), 1);
    assert!(c.above());
    assert_eq!(c.update(4.0, 2.0), 0);
    assert_eq!(c.update(2.0, 2.0), 0);
    assert_eq!(c.update(1.0, 2.0), -1);
    assert!(c.below());
    assert_eq!(c.update(f64::NAN, 2.0), 0);
    assert_eq!(cross(1.0, 1.0, 2.0, 1.0), 1);
}
