//! Every indicator against reference values computed outside this code base:
//! `engine/tests/indicators/reference.json`, written by `gen_reference.py` beside it with
//! TA-Lib's C library (through its Python wrapper) and, for the indicators TA-Lib lacks
//! (Keltner, Donchian, Supertrend, VWAP), numpy from the textbook definition. The same
//! deterministic OHLCV series goes through our incremental types bar by bar; wherever the
//! reference has a value ours must be ready and equal (relative 1e-9), and ours must not be
//! ready before the reference's first value.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::*;

const REFERENCE: &str = include_str!("../../tests/indicators/reference.json");

#[derive(Deserialize)]
struct Reference {
    input: Input,
    expected: BTreeMap<String, Vec<Option<f64>>>,
}

#[derive(Deserialize)]
struct Input {
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
}

fn reference() -> Reference {
    serde_json::from_str(REFERENCE).expect("reference.json parses")
}

/// One output series of ours, bar by bar: (value, ready).
type Series = Vec<(f64, bool)>;

fn assert_matches(name: &str, ours: &Series, expected: &BTreeMap<String, Vec<Option<f64>>>) {
    let want = expected
        .get(name)
        .unwrap_or_else(|| panic!("{name}: not in reference.json"));
    assert_eq!(want.len(), ours.len(), "{name}: length");
    let first = want
        .iter()
        .position(Option::is_some)
        .unwrap_or_else(|| panic!("{name}: reference has no value"));
    let mut compared = 0;
    for (i, (w, &(v, ready))) in want.iter().zip(ours).enumerate() {
        if i < first {
            assert!(
                !ready,
                "{name}[{i}]: ready before the reference's first value ({first})"
            );
        }
        if let Some(w) = w {
            assert!(ready, "{name}[{i}]: not ready where the reference has {w}");
            assert!(
                (v - w).abs() <= 1e-9 * (1.0 + w.abs()),
                "{name}[{i}]: ours {v}, reference {w}"
            );
            compared += 1;
        }
    }
    assert!(compared > 300, "{name}: only {compared} values compared");
}

/// Feeds every close to a one-input indicator.
fn on_close<T>(
    r: &Reference,
    mut ind: T,
    mut step: impl FnMut(&mut T, f64) -> (f64, bool),
) -> Series {
    r.input.close.iter().map(|&c| step(&mut ind, c)).collect()
}

/// Feeds every bar; `read` gives each output (value, ready) after the update.
fn on_bars<T, const N: usize>(
    r: &Reference,
    mut ind: T,
    update: impl Fn(&mut T, usize),
    read: impl Fn(&T) -> [(f64, bool); N],
) -> [Series; N] {
    let mut out: [Series; N] = std::array::from_fn(|_| Vec::new());
    for i in 0..r.input.close.len() {
        update(&mut ind, i);
        for (o, v) in out.iter_mut().zip(read(&ind)) {
            o.push(v);
        }
    }
    out
}

#[test]
fn moving_averages_and_one_input_oscillators_match_talib() {
    let r = reference();
    let e = &r.expected;
    let s = on_close(&r, Sma::new(7), |s, x| (s.update(x), s.ready()));
    assert_matches("sma_7", &s, e);
    let s = on_close(&r, Ema::new(10), |s, x| (s.update(x), s.ready()));
    assert_matches("ema_10", &s, e);
    let s = on_close(&r, Wma::new(9), |s, x| (s.update(x), s.ready()));
    assert_matches("wma_9", &s, e);
    let s = on_close(&r, Rsi::new(14), |s, x| (s.update(x), s.ready()));
    assert_matches("rsi_14", &s, e);
    let s = on_close(&r, Roc::new(10), |s, x| (s.update(x), s.ready()));
    assert_matches("roc_10", &s, e);
    let s = on_close(&r, Highest::new(20), |s, x| (s.update(x), s.ready()));
    assert_matches("max_20", &s, e);
    let s = on_close(&r, Lowest::new(20), |s, x| (s.update(x), s.ready()));
    assert_matches("min_20", &s, e);
    let s = on_close(&r, StdDev::new(20), |s, x| (s.update(x), s.ready()));
    assert_matches("stddev_20", &s, e);
}

#[test]
fn bollinger_matches_talib_bbands() {
    let r = reference();
    let c = &r.input.close;
    let [u, m, l] = on_bars(
        &r,
        Bollinger::new(20, 2.0),
        |b, i| {
            b.update(c[i]);
        },
        |b| {
            let k = b.ready();
            [(b.upper(), k), (b.middle(), k), (b.lower(), k)]
        },
    );
    assert_matches("bbands_20_2_upper", &u, &r.expected);
    assert_matches("bbands_20_2_middle", &m, &r.expected);
    assert_matches("bbands_20_2_lower", &l, &r.expected);
}

#[test]
fn macd_with_talib_seeding_matches_talib_from_its_first_value() {
    let r = reference();
    let c = &r.input.close;
    let [m, s, h] = on_bars(
        &r,
        Macd::with_seeding(12, 26, 9, MacdSeeding::TaLib),
        |m, i| {
            m.update(c[i]);
        },
        |m| {
            let k = m.ready();
            [(m.value(), k), (m.signal(), k), (m.hist(), k)]
        },
    );
    assert_matches("macd_talib_12_26_9_macd", &m, &r.expected);
    assert_matches("macd_talib_12_26_9_signal", &s, &r.expected);
    assert_matches("macd_talib_12_26_9_hist", &h, &r.expected);
    // The default seeding differs during warm-up (documented), and converges.
    let [own] = on_bars(
        &r,
        Macd::new(12, 26, 9),
        |m, i| {
            m.update(c[i]);
        },
        |m| [(m.value(), m.ready())],
    );
    let want = &r.expected["macd_talib_12_26_9_macd"];
    let first = want.iter().position(Option::is_some).unwrap();
    let w = want[first].unwrap();
    assert!(
        (own[first].0 - w).abs() > 1e-6,
        "own seeding equals TA-Lib's at warm-up"
    );
    let last = want.len() - 1;
    let w = want[last].unwrap();
    assert!(
        (own[last].0 - w).abs() < 1e-6 * (1.0 + w.abs()),
        "no convergence"
    );
}

#[test]
fn bar_oscillators_match_talib() {
    let r = reference();
    let (h, l, c) = (&r.input.high, &r.input.low, &r.input.close);
    let [k, d] = on_bars(
        &r,
        Stoch::new(14, 3, 3),
        |s, i| {
            s.update(h[i], l[i], c[i]);
        },
        |s| [(s.slowk(), s.ready()), (s.slowd(), s.ready())],
    );
    assert_matches("stoch_14_3_3_slowk", &k, &r.expected);
    assert_matches("stoch_14_3_3_slowd", &d, &r.expected);
    let [k, d] = on_bars(
        &r,
        StochF::new(14, 3),
        |s, i| {
            s.update(h[i], l[i], c[i]);
        },
        |s| [(s.fastk(), s.ready()), (s.fastd(), s.ready())],
    );
    assert_matches("stochf_14_3_fastk", &k, &r.expected);
    assert_matches("stochf_14_3_fastd", &d, &r.expected);
    let [a] = on_bars(
        &r,
        Atr::new(14),
        |a, i| {
            a.update(h[i], l[i], c[i]);
        },
        |a| [(a.value(), a.ready())],
    );
    assert_matches("atr_14", &a, &r.expected);
    let [adx, plus, minus] = on_bars(
        &r,
        Adx::new(14),
        |a, i| {
            a.update(h[i], l[i], c[i]);
        },
        |a| {
            [
                (a.value(), a.ready()),
                (a.plus_di(), !a.plus_di().is_nan()),
                (a.minus_di(), !a.minus_di().is_nan()),
            ]
        },
    );
    assert_matches("adx_14", &adx, &r.expected);
    assert_matches("plus_di_14", &plus, &r.expected);
    assert_matches("minus_di_14", &minus, &r.expected);
    let [cci] = on_bars(
        &r,
        Cci::new(20),
        |x, i| {
            x.update(h[i], l[i], c[i]);
        },
        |x| [(x.value(), x.ready())],
    );
    assert_matches("cci_20", &cci, &r.expected);
}

#[test]
fn volume_indicators_match_their_references() {
    let r = reference();
    let (c, v) = (&r.input.close, &r.input.volume);
    let [obv] = on_bars(
        &r,
        Obv::new(),
        |o, i| {
            o.update(c[i], v[i]);
        },
        |o| [(o.value(), o.ready())],
    );
    assert_matches("obv", &obv, &r.expected);
    let [vwap] = on_bars(
        &r,
        Vwap::new(),
        |w, i| {
            w.update(c[i], v[i]);
        },
        |w| [(w.value(), w.ready())],
    );
    assert_matches("vwap", &vwap, &r.expected);
}

#[test]
fn channels_match_their_references() {
    let r = reference();
    let (h, l, c) = (&r.input.high, &r.input.low, &r.input.close);
    let [u, m, lo] = on_bars(
        &r,
        Keltner::new(20, 10, 2.0),
        |k, i| {
            k.update(h[i], l[i], c[i]);
        },
        |k| {
            let x = k.ready();
            [(k.upper(), x), (k.middle(), x), (k.lower(), x)]
        },
    );
    assert_matches("keltner_20_10_2_upper", &u, &r.expected);
    assert_matches("keltner_20_10_2_middle", &m, &r.expected);
    assert_matches("keltner_20_10_2_lower", &lo, &r.expected);
    let [u, m, lo] = on_bars(
        &r,
        Donchian::new(20),
        |d, i| {
            d.update(h[i], l[i]);
        },
        |d| {
            let x = d.ready();
            [(d.upper(), x), (d.middle(), x), (d.lower(), x)]
        },
    );
    assert_matches("donchian_20_upper", &u, &r.expected);
    assert_matches("donchian_20_middle", &m, &r.expected);
    assert_matches("donchian_20_lower", &lo, &r.expected);
    let [st, dir] = on_bars(
        &r,
        Supertrend::new(10, 3.0),
        |s, i| {
            s.update(h[i], l[i], c[i]);
        },
        |s| {
            let x = s.ready();
            [(s.value(), x), (s.direction() as f64, x)]
        },
    );
    assert_matches("supertrend_10_3_value", &st, &r.expected);
    assert_matches("supertrend_10_3_direction", &dir, &r.expected);
    let flips = dir
        .windows(2)
        .filter(|w| w[0].1 && w[0].0 != w[1].0)
        .count();
    assert!(
        flips >= 4,
        "the series must exercise trend flips, got {flips}"
    );
}
