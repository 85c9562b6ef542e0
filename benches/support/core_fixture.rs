//! A warmed-up core loop trading `strategies/ema_cross.rhai` (fast 2, slow 5) on BTC-USDT with
//! the real Binance signer, for benches of the core's whole per-order path: one trade tick
//! that crosses the EMAs -> `on_trade` -> `cancel_all()` (the previous order) -> `limit(..)`
//! -> reduce-only/risk -> sign -> hand-off. Trade prices alternate around 60000 so that every
//! trade crosses; between measured ticks, [`CoreFixture::settle`] confirms the cancel and
//! acknowledges the new order, as the venue would, so the order book-keeping stays at a steady
//! size however many iterations run.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use peregrine_engine::clock::EngineClock;
use peregrine_engine::config::StrategyConfig;
use peregrine_engine::core::{Core, CoreSetup};
use peregrine_engine::events::SinkEvent;
use peregrine_engine::gateway::{SignedAction, SignedOrder};
use peregrine_engine::order::{ExecKind, ExecReport};
use peregrine_engine::risk::{KillSwitch, RiskGate, RiskLimits};
use peregrine_engine::secret::{ApiCredentials, Secret};
use peregrine_engine::strategy::StrategyLimits;
use peregrine_engine::tick::{Quote, Tick, TickKind, Trade};
use peregrine_engine::types::{InstrumentId, InstrumentSpec, Instruments, Side};
use peregrine_exchanges::binance::signer::BinanceSigner;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// A core between two crossing trades.
pub struct CoreFixture {
    /// The core under test.
    pub core: Core,
    gateway: tokio::sync::mpsc::UnboundedReceiver<SignedOrder>,
    sink: crossbeam_channel::Receiver<SinkEvent>,
    ts_ns: i64,
    trade_id: u64,
    up: bool,
    venue_id: u64,
}

impl CoreFixture {
    /// Builds the core and runs it through enough crossings that every lazy structure
    /// (Rhai caches, the order tracker, the outbox) has reached its steady size.
    pub fn new() -> Self {
        let mut instruments = Instruments::new();
        if let Some(spec) =
            InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.00001))
        {
            instruments.intern(spec);
        }
        let instruments = Arc::new(instruments);
        let mut params = BTreeMap::new();
        params.insert("fast".to_string(), toml::Value::Integer(2));
        params.insert("slow".to_string(), toml::Value::Integer(5));
        params.insert("qty".to_string(), toml::Value::String("0.001".into()));
        let strategy = StrategyConfig {
            name: "ema_cross".into(),
            file: Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies/ema_cross.rhai"),
            instruments: vec!["BTC-USDT".into()],
            params,
            ..Default::default()
        };
        let creds = ApiCredentials {
            key: Secret::new("bench-key"),
            secret: Secret::new("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"),
        };
        let (gw_tx, gateway) = tokio::sync::mpsc::unbounded_channel();
        let (sink_tx, sink) = crossbeam_channel::unbounded();
        let setup = CoreSetup {
            run_id: 0x6560_0000,
            venue: "binance".into(),
            instruments: instruments.clone(),
            strategies: vec![strategy],
            strategy_limits: StrategyLimits::default(),
            max_strategy_errors: 10,
            error_window: Duration::from_secs(60),
            risk: RiskGate::new(
                RiskLimits {
                    max_order_notional: dec!(1000),
                    max_position: dec!(0.01),
                },
                KillSwitch::new(false),
            ),
            signer: Box::new(BinanceSigner::new(instruments, &creds, 5000)),
            gateway: gw_tx,
            ticks: crossbeam_channel::never(),
            execs: crossbeam_channel::never(),
            sink: Box::new(sink_tx),
            cancel_on_stop: false,
            drain_timeout: Duration::ZERO,
            progress_interval: Duration::ZERO,
            equity_interval: Duration::ZERO,
            restore: Default::default(),
            balances: Vec::new(),
            db_reloads: crossbeam_channel::never(),
            signals: crossbeam_channel::never(),
        };
        let core = match Core::with_clock(setup, EngineClock::replay(0)) {
            Ok(c) => c,
            Err(e) => panic!("the bench core must start: {e}"),
        };
        let mut f = Self {
            core,
            gateway,
            sink,
            ts_ns: 1_700_000_000_000_000_000,
            trade_id: 0,
            up: true,
            venue_id: 0,
        };
        f.tick(TickKind::Quote(Quote {
            bid_px: dec!(59999.99),
            bid_qty: dec!(1),
            ask_px: dec!(60000.01),
            ask_qty: dec!(1),
            update_id: 1,
        }));
        // Seed both EMAs flat, then cross many times.
        for _ in 0..8 {
            let t = f.trade_at(dec!(60000));
            f.core.on_tick(t);
        }
        f.settle();
        for _ in 0..256 {
            let t = f.crossing_trade();
            f.core.on_tick(t);
            assert_eq!(f.settle(), 1, "every crossing trade must place one order");
        }
        assert_eq!(f.core.working_orders(), 1);
        f
    }

    fn tick(&mut self, kind: TickKind) {
        self.ts_ns += 1_000_000;
        let t = Tick {
            instrument: InstrumentId(0),
            exch_ts_ns: self.ts_ns,
            recv_ns: peregrine_engine::clock::Clock::now_ns(),
            kind,
        };
        self.core.on_tick(t);
    }

    fn trade_at(&mut self, price: Decimal) -> Tick {
        self.ts_ns += 1_000_000;
        self.trade_id += 1;
        Tick {
            instrument: InstrumentId(0),
            exch_ts_ns: self.ts_ns,
            recv_ns: peregrine_engine::clock::Clock::now_ns(),
            kind: TickKind::Trade(Trade {
                price,
                qty: dec!(0.01),
                side: Side::Buy,
                trade_id: self.trade_id,
            }),
        }
    }

    /// The next trade: 10 above or below 60000, alternating, so the fast EMA crosses the
    /// slow one every time and `ema_cross` cancels its order and places the opposite one.
    pub fn crossing_trade(&mut self) -> Tick {
        self.up = !self.up;
        let price = if self.up { dec!(60010) } else { dec!(59990) };
        self.trade_at(price)
    }

    /// A trade at the last crossing trade's price: the EMAs move toward it without crossing
    /// back, so the callback runs and places nothing.
    pub fn same_trade_again(&mut self) -> Tick {
        let price = if self.up { dec!(60010) } else { dec!(59990) };
        self.trade_at(price)
    }

    /// What the venue would answer to what the core sent: each cancel confirmed, each new
    /// order acknowledged; the rows for the sink dropped. Returns how many new orders the
    /// core had sent.
    pub fn settle(&mut self) -> usize {
        let mut new_orders = 0;
        while let Ok(o) = self.gateway.try_recv() {
            let kind = match o.action {
                SignedAction::Cancel => ExecKind::Cancelled,
                SignedAction::Replace { cancel } => {
                    self.core.on_exec(ExecReport {
                        client_order_id: cancel,
                        instrument: o.instrument,
                        side: o.side,
                        kind: ExecKind::Cancelled,
                        recv_ns: peregrine_engine::clock::Clock::now_ns(),
                    });
                    new_orders += 1;
                    self.venue_id += 1;
                    ExecKind::Ack {
                        venue_order_id: self.venue_id,
                    }
                }
                SignedAction::New => {
                    new_orders += 1;
                    self.venue_id += 1;
                    ExecKind::Ack {
                        venue_order_id: self.venue_id,
                    }
                }
            };
            self.core.on_exec(ExecReport {
                client_order_id: o.client_order_id,
                instrument: o.instrument,
                side: o.side,
                kind,
                recv_ns: peregrine_engine::clock::Clock::now_ns(),
            });
        }
        while self.sink.try_recv().is_ok() {}
        new_orders
    }
}
