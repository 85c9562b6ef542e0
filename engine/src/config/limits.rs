//! Checks that values mean something: capacities of at least 1, limits and intervals that are
//! positive. A zero or negative value here would run and silently do nothing (a queue that
//! drops every tick) or the opposite of what was meant (a loss limit tripping at start).
//! Keys documented as "0 = off" keep that meaning and are not checked here.

use rust_decimal::Decimal;

use super::Config;

/// `(dotted field, message)` of the first value without meaning.
pub(super) fn validate(cfg: &Config) -> Result<(), (String, String)> {
    let at_least_1 = |field: &str, v: u64| {
        if v == 0 {
            Err((field.to_string(), "must be at least 1".to_string()))
        } else {
            Ok(())
        }
    };
    let opt_at_least_1 = |field: &str, v: Option<u64>| match v {
        Some(v) => at_least_1(field, v),
        None => Ok(()),
    };
    let positive = |field: &str, v: Option<Decimal>| match v {
        Some(v) if v <= Decimal::ZERO => Err((
            field.to_string(),
            format!(
                "must be positive (got {v}; limits are magnitudes, leave the key out for no limit)"
            ),
        )),
        _ => Ok(()),
    };
    let e = &cfg.engine;
    at_least_1("engine.tick_queue_capacity", e.tick_queue_capacity as u64)?;
    at_least_1("sim.md_interval_ms", cfg.sim.md_interval_ms)?;

    let r = &cfg.risk;
    positive("risk.max_position", Some(r.max_position))?;
    positive("risk.max_order_qty", r.max_order_qty)?;
    positive("risk.max_gross_exposure", r.max_gross_exposure)?;
    positive("risk.daily_loss_limit", r.daily_loss_limit)?;
    positive("risk.max_drawdown", r.max_drawdown)?;
    opt_at_least_1("risk.max_open_orders", r.max_open_orders.map(|v| v as u64))?;
    opt_at_least_1("risk.price_band_bps", r.price_band_bps.map(u64::from))?;
    opt_at_least_1("risk.max_tick_age_ms", r.max_tick_age_ms)?;
    opt_at_least_1("risk.duplicate_window_ms", r.duplicate_window_ms)?;
    at_least_1("risk.reconcile_interval_s", r.reconcile_interval_s)?;
    if r.clock_skew_alarm_ms <= 0 {
        return Err(("risk.clock_skew_alarm_ms".into(), "must be positive".into()));
    }
    for (sym, o) in &r.instruments {
        let f = |k: &str| format!("risk.instruments.{sym}.{k}");
        positive(&f("max_order_notional"), o.max_order_notional)?;
        positive(&f("max_order_qty"), o.max_order_qty)?;
        positive(&f("max_position"), o.max_position)?;
    }

    let k = &cfg.sink;
    at_least_1("sink.batch_age_ms", k.batch_age_ms)?;
    at_least_1("sink.fsync_interval_ms", k.fsync_interval_ms)?;
    at_least_1("sink.kill_switch_poll_s", k.kill_switch_poll_s)?;
    Ok(())
}
