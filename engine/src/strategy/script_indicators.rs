//! The native indicators as script objects. Each is created by a function and kept in `this`:
//!
//! | constructor | update | read |
//! | --- | --- | --- |
//! | `sma(n)`, `ema(n)`, `wma(n)`, `rsi(n)`, `roc(n)`, `highest(n)`, `lowest(n)` | `.update(x)` → value | `.value`, `.ready` |
//! | `stddev(n)` | `.update(x)` → stddev | `.value`, `.mean`, `.zscore`, `.ready` |
//! | `bollinger(n, k)` | `.update(x)` → middle | `.upper`, `.middle`, `.lower`, `.stddev`, `.ready` |
//! | `macd(fast, slow, signal)`, `macd(fast, slow, signal, "talib")` | `.update(x)` → MACD line | `.value`, `.signal`, `.hist`, `.ready` |
//! | `atr(n)`, `cci(n)`, `adx(n)` | `.update(high, low, close)` → value | `.value`, `.ready` (ADX also `.plus_di`, `.minus_di`) |
//! | `stoch(fastk, slowk, slowd)` | `.update(high, low, close)` → slow %K | `.slowk`, `.slowd`, `.ready` |
//! | `stochf(fastk, fastd)` | `.update(high, low, close)` → fast %K | `.fastk`, `.fastd`, `.ready` |
//! | `keltner(n, atr_n, mult)` | `.update(high, low, close)` → middle | `.upper`, `.middle`, `.lower`, `.ready` |
//! | `donchian(n)` | `.update(high, low)` → middle | `.upper`, `.middle`, `.lower`, `.ready` |
//! | `supertrend(n, mult)` | `.update(high, low, close)` → line | `.value`, `.direction` (1 / -1), `.ready` |
//! | `obv()` | `.update(close, volume)` → OBV | `.value`, `.ready` |
//! | `vwap()` | `.update(price, volume)` → VWAP | `.value`, `.ready`, `.reset()` |
//! | `cross()` | `.update(a, b)` → 1 / -1 / 0 | `.above`, `.below` |
//!
//! plus `cross_above(prev_a, prev_b, a, b)` and `cross_below(...)` (booleans). Inputs may be
//! decimals, integers or floats; outputs are floats (NaN until `.ready`). Definitions: see
//! [`crate::indicators`].

use rhai::{Dynamic, Engine};

use super::api::{to_f64, RhaiResult};
use crate::indicators::{
    cross, Adx, Atr, Bollinger, Cci, Cross, Donchian, Ema, Highest, Keltner, Lowest, Macd,
    MacdSeeding, Obv, Roc, Rsi, Sma, StdDev, Stoch, StochF, Supertrend, Vwap, Wma,
};

fn period(n: i64) -> usize {
    n.clamp(1, 100_000) as usize
}

/// Registers a bar-input indicator (`update(high, low, close)`) with `value` and `ready`.
macro_rules! hlc {
    ($engine:expr, $ty:ty, $name:literal, $ctor:expr) => {
        $engine
            .register_type_with_name::<$ty>(stringify!($ty))
            .register_fn($name, $ctor)
            .register_fn(
                "update",
                |s: &mut $ty, h: Dynamic, l: Dynamic, c: Dynamic| -> RhaiResult<f64> {
                    Ok(s.update(to_f64(&h)?, to_f64(&l)?, to_f64(&c)?))
                },
            )
            .register_get("value", |s: &mut $ty| s.value())
            .register_get("ready", |s: &mut $ty| s.ready());
    };
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
        .register_fn(
            "macd",
            |f: i64, s: i64, g: i64, seeding: &str| -> RhaiResult<Macd> {
                let seeding = match seeding {
                    "talib" => MacdSeeding::TaLib,
                    "own" => MacdSeeding::Own,
                    other => {
                        return Err(format!(
                            "macd seeding must be \"talib\" or \"own\", not {other:?}"
                        )
                        .into())
                    }
                };
                Ok(Macd::with_seeding(period(f), period(s), period(g), seeding))
            },
        )
        .register_fn("update", |m: &mut Macd, x: Dynamic| -> RhaiResult<f64> {
            Ok(m.update(to_f64(&x)?))
        })
        .register_get("value", |m: &mut Macd| m.value())
        .register_get("signal", |m: &mut Macd| m.signal())
        .register_get("hist", |m: &mut Macd| m.hist())
        .register_get("ready", |m: &mut Macd| m.ready());

    hlc!(engine, Atr, "atr", |n: i64| Atr::new(period(n)));
    hlc!(engine, Cci, "cci", |n: i64| Cci::new(period(n)));
    hlc!(engine, Adx, "adx", |n: i64| Adx::new(period(n)));
    engine
        .register_get("plus_di", |a: &mut Adx| a.plus_di())
        .register_get("minus_di", |a: &mut Adx| a.minus_di());
    hlc!(engine, Supertrend, "supertrend", |n: i64,
                                            mult: Dynamic|
     -> RhaiResult<
        Supertrend,
    > {
        Ok(Supertrend::new(period(n), to_f64(&mult)?))
    });
    engine.register_get("direction", |s: &mut Supertrend| s.direction());

    engine
        .register_type_with_name::<Stoch>("Stoch")
        .register_fn("stoch", |k: i64, sk: i64, sd: i64| {
            Stoch::new(period(k), period(sk), period(sd))
        })
        .register_fn(
            "update",
            |s: &mut Stoch, h: Dynamic, l: Dynamic, c: Dynamic| -> RhaiResult<f64> {
                Ok(s.update(to_f64(&h)?, to_f64(&l)?, to_f64(&c)?))
            },
        )
        .register_get("slowk", |s: &mut Stoch| s.slowk())
        .register_get("slowd", |s: &mut Stoch| s.slowd())
        .register_get("ready", |s: &mut Stoch| s.ready());
    engine
        .register_type_with_name::<StochF>("StochF")
        .register_fn("stochf", |k: i64, d: i64| StochF::new(period(k), period(d)))
        .register_fn(
            "update",
            |s: &mut StochF, h: Dynamic, l: Dynamic, c: Dynamic| -> RhaiResult<f64> {
                Ok(s.update(to_f64(&h)?, to_f64(&l)?, to_f64(&c)?))
            },
        )
        .register_get("fastk", |s: &mut StochF| s.fastk())
        .register_get("fastd", |s: &mut StochF| s.fastd())
        .register_get("ready", |s: &mut StochF| s.ready());

    engine
        .register_type_with_name::<Keltner>("Keltner")
        .register_fn(
            "keltner",
            |n: i64, atr_n: i64, mult: Dynamic| -> RhaiResult<Keltner> {
                Ok(Keltner::new(period(n), period(atr_n), to_f64(&mult)?))
            },
        )
        .register_fn(
            "update",
            |k: &mut Keltner, h: Dynamic, l: Dynamic, c: Dynamic| -> RhaiResult<f64> {
                Ok(k.update(to_f64(&h)?, to_f64(&l)?, to_f64(&c)?))
            },
        )
        .register_get("upper", |k: &mut Keltner| k.upper())
        .register_get("middle", |k: &mut Keltner| k.middle())
        .register_get("lower", |k: &mut Keltner| k.lower())
        .register_get("ready", |k: &mut Keltner| k.ready());
    engine
        .register_type_with_name::<Donchian>("Donchian")
        .register_fn("donchian", |n: i64| Donchian::new(period(n)))
        .register_fn(
            "update",
            |d: &mut Donchian, h: Dynamic, l: Dynamic| -> RhaiResult<f64> {
                Ok(d.update(to_f64(&h)?, to_f64(&l)?))
            },
        )
        .register_get("upper", |d: &mut Donchian| d.upper())
        .register_get("middle", |d: &mut Donchian| d.middle())
        .register_get("lower", |d: &mut Donchian| d.lower())
        .register_get("ready", |d: &mut Donchian| d.ready());
    engine
        .register_type_with_name::<Obv>("Obv")
        .register_fn("obv", Obv::new)
        .register_fn(
            "update",
            |o: &mut Obv, c: Dynamic, v: Dynamic| -> RhaiResult<f64> {
                Ok(o.update(to_f64(&c)?, to_f64(&v)?))
            },
        )
        .register_get("value", |o: &mut Obv| o.value())
        .register_get("ready", |o: &mut Obv| o.ready());

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
