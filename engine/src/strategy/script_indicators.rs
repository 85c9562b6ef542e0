//! The native indicators as script objects. Each is created by a function and kept in `this`:
//!
//! | constructor | update | read |
//! | --- | --- | --- |
//! | `sma(n)`, `ema(n)`, `wma(n)`, `rsi(n)`, `roc(n)`, `highest(n)`, `lowest(n)` | `.update(x)` → value | `.value`, `.ready` |
//! | `stddev(n)` | `.update(x)` → stddev | `.value`, `.mean`, `.zscore`, `.ready` |
//! | `bollinger(n, k)` | `.update(x)` → middle | `.upper`, `.middle`, `.lower`, `.stddev`, `.ready` |
//! | `macd(fast, slow, signal)` | `.update(x)` → MACD line | `.value`, `.signal`, `.hist`, `.ready` |
//! | `atr(n)` | `.update(high, low, close)` → ATR | `.value`, `.ready` |
//! | `stochastic(k, d)` | `.update(high, low, close)` → %K | `.k`, `.d`, `.ready` |
//! | `vwap()` | `.update(price, volume)` → VWAP | `.value`, `.ready`, `.reset()` |
//! | `cross()` | `.update(a, b)` → 1 / -1 / 0 | `.above`, `.below` |
//!
//! plus `cross_above(prev_a, prev_b, a, b)` and `cross_below(...)` (booleans). Inputs may be
//! decimals, integers or floats; outputs are floats (NaN until `.ready`). Definitions: see
//! [`crate::indicators`].

use rhai::{Dynamic, Engine};

use super::api::{to_f64, RhaiResult};
use crate::indicators::{
    cross, Atr, Bollinger, Cross, Ema, Highest, Lowest, Macd, Roc, Rsi, Sma, StdDev, Stochastic,
    Vwap, Wma,
};

fn period(n: i64) -> usize {
    n.clamp(1, 100_000) as usize
}

/// Registers a one-input indicator with `update`, `value` and `ready`.
macro_rules! single {
    ($engine:expr, $ty:ty, $name:literal, $ctor:expr) => {
        $engine
            .register_type_with_name::<$ty>(stringify!($ty))
            .register_fn($name, $ctor)
            .register_fn("update", |s: &mut $ty, x: Dynamic| -> RhaiResult<f64> {
                Ok(s.update(to_f64(&x)?))
            })
            .register_get("value", |s: &mut $ty| s.value())
            .register_get("ready", |s: &mut $ty| s.ready());
    };
}

/// Registers every indicator type and constructor.
pub(super) fn register(engine: &mut Engine) {
    single!(engine, Sma, "sma", |n: i64| Sma::new(period(n)));
    single!(engine, Ema, "ema", |n: i64| Ema::new(period(n)));
    single!(engine, Wma, "wma", |n: i64| Wma::new(period(n)));
    single!(engine, Rsi, "rsi", |n: i64| Rsi::new(period(n)));
    single!(engine, Roc, "roc", |n: i64| Roc::new(period(n)));
    single!(engine, Highest, "highest", |n: i64| Highest::new(period(n)));
    single!(engine, Lowest, "lowest", |n: i64| Lowest::new(period(n)));
    // (`Highest` and `Lowest` are two instances of one generic type: distinct Rust types.)
    single!(engine, StdDev, "stddev", |n: i64| StdDev::new(period(n)));
    engine
        .register_get("mean", |s: &mut StdDev| s.mean())
        .register_get("zscore", |s: &mut StdDev| s.zscore());

    engine
        .register_type_with_name::<Bollinger>("Bollinger")
        .register_fn("bollinger", |n: i64, k: Dynamic| -> RhaiResult<Bollinger> {
            Ok(Bollinger::new(period(n), to_f64(&k)?))
        })
        .register_fn(
            "update",
            |b: &mut Bollinger, x: Dynamic| -> RhaiResult<f64> { Ok(b.update(to_f64(&x)?)) },
        )
        .register_get("upper", |b: &mut Bollinger| b.upper())
        .register_get("middle", |b: &mut Bollinger| b.middle())
        .register_get("lower", |b: &mut Bollinger| b.lower())
        .register_get("stddev", |b: &mut Bollinger| b.stddev())
        .register_get("ready", |b: &mut Bollinger| b.ready());

    engine
        .register_type_with_name::<Macd>("Macd")
        .register_fn("macd", |f: i64, s: i64, g: i64| {
            Macd::new(period(f), period(s), period(g))
        })
        .register_fn("update", |m: &mut Macd, x: Dynamic| -> RhaiResult<f64> {
            Ok(m.update(to_f64(&x)?))
        })
        .register_get("value", |m: &mut Macd| m.value())
        .register_get("signal", |m: &mut Macd| m.signal())
        .register_get("hist", |m: &mut Macd| m.hist())
        .register_get("ready", |m: &mut Macd| m.ready());

    engine
        .register_type_with_name::<Atr>("Atr")
        .register_fn("atr", |n: i64| Atr::new(period(n)))
        .register_fn(
            "update",
            |a: &mut Atr, h: Dynamic, l: Dynamic, c: Dynamic| -> RhaiResult<f64> {
                Ok(a.update(to_f64(&h)?, to_f64(&l)?, to_f64(&c)?))
            },
        )
        .register_get("value", |a: &mut Atr| a.value())
        .register_get("ready", |a: &mut Atr| a.ready());

    engine
        .register_type_with_name::<Stochastic>("Stochastic")
        .register_fn("stochastic", |k: i64, d: i64| {
            Stochastic::new(period(k), period(d))
        })
        .register_fn(
            "update",
            |s: &mut Stochastic, h: Dynamic, l: Dynamic, c: Dynamic| -> RhaiResult<f64> {
                Ok(s.update(to_f64(&h)?, to_f64(&l)?, to_f64(&c)?))
            },
        )
        .register_get("k", |s: &mut Stochastic| s.k())
        .register_get("d", |s: &mut Stochastic| s.d())
        .register_get("ready", |s: &mut Stochastic| s.ready());

    engine
        .register_type_with_name::<Vwap>("Vwap")
        .register_fn("vwap", Vwap::new)
        .register_fn(
            "update",
            |v: &mut Vwap, p: Dynamic, q: Dynamic| -> RhaiResult<f64> {
                Ok(v.update(to_f64(&p)?, to_f64(&q)?))
            },
        )
        .register_fn("reset", |v: &mut Vwap| v.reset())
        .register_get("value", |v: &mut Vwap| v.value())
        .register_get("ready", |v: &mut Vwap| v.ready());

    engine
        .register_type_with_name::<Cross>("Cross")
        .register_fn("cross", Cross::new)
        .register_fn(
            "update",
            |c: &mut Cross, a: Dynamic, b: Dynamic| -> RhaiResult<i64> {
                Ok(c.update(to_f64(&a)?, to_f64(&b)?))
            },
        )
        .register_get("above", |c: &mut Cross| c.above())
        .register_get("below", |c: &mut Cross| c.below());
    engine.register_fn(
        "cross_above",
        |pa: Dynamic, pb: Dynamic, a: Dynamic, b: Dynamic| -> RhaiResult<bool> {
            Ok(cross(to_f64(&pa)?, to_f64(&pb)?, to_f64(&a)?, to_f64(&b)?) == 1)
        },
    );
    engine.register_fn(
        "cross_below",
        |pa: Dynamic, pb: Dynamic, a: Dynamic, b: Dynamic| -> RhaiResult<bool> {
            Ok(cross(to_f64(&pa)?, to_f64(&pb)?, to_f64(&a)?, to_f64(&b)?) == -1)
        },
    );
}
