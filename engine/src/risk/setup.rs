//! Building the [`RiskGate`] from the `[risk]` configuration and the venue's trading rules.

use crate::config::RiskConfig;
use crate::types::Instruments;

use super::{
    AccountLimits, ExtraLimits, InstrumentLimits, KillSwitch, RateBudget, RiskGate, RiskLimits,
};

/// The gate described by `cfg`: `venue_rules[i]` are the exchange-info rules of instrument
/// `i` (tick, lot, min/max qty, min notional; missing entries use the instrument's configured
/// tick and lot), merged with the per-instrument overrides of `[risk.instruments."SYM"]`.
pub fn gate_from_config(
    cfg: &RiskConfig,
    instruments: &Instruments,
    venue_rules: &[InstrumentLimits],
    kill: KillSwitch,
) -> RiskGate {
    let rules = instruments
        .iter()
        .map(|(id, spec)| {
            let mut r = venue_rules
                .get(id.index())
                .copied()
                .unwrap_or(InstrumentLimits {
                    tick_size: spec.tick_size,
                    lot_size: spec.lot_size,
                    ..Default::default()
                });
            if let Some(o) = cfg.instruments.get(&spec.symbol) {
                r.max_order_notional = o.max_order_notional;
                r.max_order_qty = o.max_order_qty;
                r.max_position = o.max_position;
            }
            r
        })
        .collect();
    RiskGate::new(
        RiskLimits {
            max_order_notional: cfg.max_order_notional,
            max_position: cfg.max_position,
        },
        kill,
    )
    .with_extra(ExtraLimits {
        max_order_qty: cfg.max_order_qty,
        max_gross_exposure: cfg.max_gross_exposure,
        max_open_orders: cfg.max_open_orders,
        price_band_bps: cfg.price_band_bps,
        max_tick_age_ms: cfg.max_tick_age_ms,
        duplicate_window_ms: cfg.duplicate_window_ms,
        self_trade_prevention: cfg.self_trade_prevention,
        order_weight: 1,
    })
    .with_instruments(rules)
    .with_rate_budget(RateBudget::new(
        cfg.request_weight_per_minute,
        cfg.orders_per_10s,
    ))
    .with_account(
        AccountLimits {
            daily_loss_limit: cfg.daily_loss_limit,
            max_drawdown: cfg.max_drawdown,
        },
        cfg.flatten_on_kill,
    )
}
