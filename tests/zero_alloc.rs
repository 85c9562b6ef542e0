//! Heap allocations on the hot path, counted by a global allocator that counts only on the
//! threads a test marks. The core's per-tick path (dequeue, book/quote state, stage timing,
//! strategy dispatch) and the risk check must not allocate; what the Rhai call itself
//! allocates is measured on its own and must account for every allocation seen per trade tick.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peregrine_engine::clock::Clock;
use peregrine_engine::config::StrategyConfig;
use peregrine_engine::core::{run_core_with, CoreSetup};
use peregrine_engine::gateway::{HttpMethod, OrderSigner, SignError, SignedAction, SignedOrder};
use peregrine_engine::order::{ClientOrderId, OrderIntent, OrderRequest, OrderType, TimeInForce};
use peregrine_engine::risk::{ExposureView, KillSwitch, RiskGate, RiskLimits};
use peregrine_engine::stages::{LatencyHub, Stage, StageSet};
use peregrine_engine::strategy::{InstrumentView, StrategyHost, StrategyLimits, TradeView};
use peregrine_engine::tick::{Quote, Tick, TickKind, Trade};
use peregrine_engine::tuning::CoreTuning;
use peregrine_engine::types::{InstrumentId, InstrumentSpec, Instruments, Side};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNT_HERE: Cell<bool> = const { Cell::new(false) };
}

fn counted() {
    if COUNT_HERE.try_with(|c| c.get()).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The count is process-wide: tests that count run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn allocs() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

/// Allocations made by `f` on this thread.
fn count_here(f: impl FnOnce()) -> u64 {
    COUNT_HERE.with(|c| c.set(true));
    let before = allocs();
    f();
    let n = allocs() - before;
    COUNT_HERE.with(|c| c.set(false));
    n
}

/// Never called in these tests (no orders are placed), but the core needs one.
struct NoSigner;

impl OrderSigner for NoSigner {
    fn sign_new(&mut self, req: &OrderRequest, _: i64) -> Result<SignedOrder, SignError> {
        Ok(SignedOrder {
            action: SignedAction::New,
            client_order_id: req.client_order_id,
            instrument: req.intent.instrument,
            side: req.intent.side,
            method: HttpMethod::Post,
            path: "/order",
            params: String::new(),
            origin_recv_ns: req.intent.origin_recv_ns,
        })
    }
    fn sign_replace(
        &mut self,
        cancel: ClientOrderId,
        req: &OrderRequest,
        wall_ms: i64,
    ) -> Result<SignedOrder, SignError> {
        Ok(SignedOrder {
            action: SignedAction::Replace { cancel },
            ..self.sign_new(req, wall_ms)?
        })
    }
    fn sign_cancel(
        &mut self,
        id: ClientOrderId,
        instrument: InstrumentId,
        side: Side,
        _: i64,
    ) -> Result<SignedOrder, SignError> {
        Ok(SignedOrder {
            action: SignedAction::Cancel,
            client_order_id: id,
            instrument,
            side,
            method: HttpMethod::Delete,
            path: "/order",
            params: String::new(),
            origin_recv_ns: 0,
        })
    }
}

fn instruments() -> Instruments {
    let mut i = Instruments::new();
    i.intern(
        InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.00001)).unwrap(),
    );
    i
}

fn strategy(dir: &std::path::Path, script: &str) -> StrategyConfig {
    let file = dir.join("s.rhai");
    std::fs::write(&file, script).unwrap();
    StrategyConfig {
        name: "s".into(),
        file,
        instruments: vec!["BTC-USDT".into()],
        params: BTreeMap::new(),
        ..Default::default()
    }
}

fn trade(i: u64) -> Tick {
    Tick {
        instrument: InstrumentId(0),
        exch_ts_ns: 0,
        recv_ns: Clock::now_ns(),
        kind: TickKind::Trade(Trade {
            price: dec!(60000) + Decimal::from(i % 50),
            qty: dec!(0.01),
            side: Side::Buy,
            trade_id: i,
        }),
    }
}

fn quote(i: u64) -> Tick {
    Tick {
        instrument: InstrumentId(0),
        exch_ts_ns: 0,
        recv_ns: Clock::now_ns(),
        kind: TickKind::Quote(Quote {
            bid_px: dec!(59999.99) + Decimal::from(i % 7),
            bid_qty: dec!(1),
            ask_px: dec!(60000.01) + Decimal::from(i % 7),
            ask_qty: dec!(1),
            update_id: i,
        }),
    }
}

/// Allocations per call of the script's `on_trade`, measured on the host alone.
fn host_allocs_per_trade(cfg: &StrategyConfig, calls: u64) -> u64 {
    let inst = instruments();
    let mut host = StrategyHost::load(0, cfg, &inst, StrategyLimits::default()).unwrap();
    host.set_view(InstrumentId(0), InstrumentView::default());
    // The symbol is built once (the core clones a prebuilt one: a reference-count increment).
    let base = TradeView {
        instrument: InstrumentId(0),
        symbol: "BTC-USDT".into(),
        price: dec!(60000),
        qty: dec!(0.01),
        side: Side::Buy,
        trade_id: 0,
        exch_ts_ns: 0,
    };
    let view = |i: u64| TradeView {
        price: dec!(60000) + Decimal::from(i % 50),
        trade_id: i,
        ..base.clone()
    };
    for i in 0..100 {
        host.on_trade(view(i), 1, 0).unwrap();
    }
    let n = count_here(|| {
        for i in 0..calls {
            host.on_trade(view(i), 1, 0).unwrap();
        }
    });
    assert_eq!(
        n % calls,
        0,
        "{n} allocations over {calls} calls are not per call"
    );
    n / calls
}

/// Runs the core on a counting thread; returns allocations seen while it processed `ticks`
/// (after a warm-up of the same mix).
fn core_allocs(cfg: StrategyConfig, make: impl Fn(u64) -> Tick, n: u64) -> u64 {
    let (tick_tx, tick_rx) = crossbeam_channel::bounded(1024);
    let (_exec_tx, exec_rx) = crossbeam_channel::unbounded();
    let (gw_tx, _gw_rx) = tokio::sync::mpsc::unbounded_channel();
    let (sink_tx, _sink_rx) = crossbeam_channel::unbounded();
    let hub = Arc::new(LatencyHub::new());
    let setup = CoreSetup {
        run_id: 1,
        venue: "binance".into(),
        instruments: Arc::new(instruments()),
        strategies: vec![cfg],
        strategy_limits: StrategyLimits::default(),
        max_strategy_errors: 3,
        error_window: Duration::from_secs(60),
        risk: RiskGate::new(
            RiskLimits {
                max_order_notional: dec!(1000),
                max_position: dec!(1),
            },
            KillSwitch::new(false),
        ),
        signer: Box::new(NoSigner),
        gateway: gw_tx,
        ticks: tick_rx,
        execs: exec_rx,
        sink: Box::new(sink_tx),
        cancel_on_stop: false,
        drain_timeout: Duration::from_millis(10),
        progress_interval: Duration::ZERO,
        equity_interval: Duration::ZERO,
        restore: Default::default(),
        balances: Vec::new(),
        db_reloads: crossbeam_channel::never(),
        signals: crossbeam_channel::never(),
    };
    let tuning = CoreTuning {
        hub: hub.clone(),
        window: Duration::ZERO,
        ..CoreTuning::default()
    };
    let core = std::thread::spawn(move || {
        COUNT_HERE.with(|c| c.set(true));
        run_core_with(setup, tuning)
    });
    let processed = |target: u64| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while hub.counters.ticks.load(Ordering::Relaxed) < target {
            assert!(Instant::now() < deadline, "the core stalled");
            std::thread::sleep(Duration::from_millis(1));
        }
        // The counter is bumped when a tick is dequeued: let the last one finish.
        std::thread::sleep(Duration::from_millis(50));
    };
    let warm = 2_000;
    for i in 0..warm {
        tick_tx.send(make(i)).unwrap();
    }
    processed(warm);
    let before = allocs();
    for i in warm..warm + n {
        tick_tx.send(make(i)).unwrap();
    }
    processed(warm + n);
    let during = allocs() - before;
    drop(tick_tx);
    let report = core.join().unwrap().unwrap();
    assert_eq!(report.ticks, warm + n);
    during
}

#[test]
fn core_tick_path_allocates_nothing_of_its_own() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    // No callbacks for these ticks: dequeue, quote state, stage timing, counters only.
    let quiet = strategy(dir.path(), "fn on_start() {}");
    let quotes = core_allocs(quiet.clone(), quote, 10_000);
    assert_eq!(
        quotes, 0,
        "quote ticks allocated {quotes} times in 10000 ticks"
    );
    let trades = core_allocs(quiet, trade, 10_000);
    assert_eq!(
        trades, 0,
        "trade ticks allocated {trades} times in 10000 ticks"
    );

    // An empty `on_trade`: everything the core adds around the Rhai call is allocation-free,
    // so the per-tick count equals what the host's call costs on its own.
    let empty = strategy(dir.path(), "fn on_trade(t) { }");
    let per_call = host_allocs_per_trade(&empty, 1_000);
    // The trade reaches the script in a reused cell: the call itself allocates nothing.
    assert_eq!(
        per_call, 0,
        "an empty on_trade's Rhai call allocated {per_call} times per call"
    );
    let n = 10_000;
    let seen = core_allocs(empty, trade, n);
    eprintln!(
        "empty on_trade: {per_call} allocations per Rhai call; core path: {seen} over {n} ticks"
    );
    assert_eq!(
        seen,
        per_call * n,
        "the core allocated beyond the Rhai call itself"
    );

    // The same for quotes through an empty `on_quote`: the whole path, Rhai call included.
    let on_quote = strategy(dir.path(), "fn on_quote(q) { }");
    let seen = core_allocs(on_quote, quote, n);
    assert_eq!(
        seen, 0,
        "on_quote ticks allocated {seen} times in {n} ticks"
    );
}

#[test]
fn risk_check_and_stage_timing_do_not_allocate() {
    let _serial = serial();
    let gate = RiskGate::new(
        RiskLimits {
            max_order_notional: dec!(1000),
            max_position: dec!(1),
        },
        KillSwitch::new(false),
    );
    let intent = OrderIntent {
        strategy: 0,
        instrument: InstrumentId(0),
        side: Side::Buy,
        order_type: OrderType::Limit,
        price: Some(dec!(60000)),
        qty: dec!(0.001),
        tif: TimeInForce::Gtc,
        reduce_only: false,
        post_only: false,
        origin_recv_ns: 1,
    };
    let view = ExposureView {
        position: dec!(0.002),
        open_buy_qty: dec!(0.001),
        open_sell_qty: Decimal::ZERO,
        reference_price: Some(dec!(60000)),
        ..Default::default()
    };
    assert!(gate.check(&intent, &view).is_ok());
    let hub = LatencyHub::new();
    let mut set = StageSet::new();
    let n = count_here(|| {
        for i in 0..10_000u64 {
            assert!(gate.check(&intent, &view).is_ok());
            set.record(Stage::Risk, i);
            hub.record_frame(i, 1, 2);
        }
    });
    assert_eq!(n, 0, "risk check / stage timing allocated {n} times");
}

#[test]
fn ema_cross_allocations_per_call_are_reported() {
    let _serial = serial();
    // What Rhai allocates running the shipped strategy (decimal temporaries boxed in
    // `Dynamic`, property access, its per-call function-resolution cache). Reported, and
    // bounded so a regression shows.
    let mut params = BTreeMap::new();
    params.insert("qty".to_string(), toml::Value::String("0.001".into()));
    let cfg = StrategyConfig {
        name: "ema_cross".into(),
        file: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies/ema_cross.rhai"),
        instruments: vec!["BTC-USDT".into()],
        params,
        ..Default::default()
    };
    let inst = instruments();
    let mut host = StrategyHost::load(0, &cfg, &inst, StrategyLimits::default()).unwrap();
    host.set_view(InstrumentId(0), InstrumentView::default());
    // A flat price: no crosses, so no orders (whose allocations are the order path's).
    let t = TradeView {
        instrument: InstrumentId(0),
        symbol: "BTC-USDT".into(),
        price: dec!(60000),
        qty: dec!(0.01),
        side: Side::Buy,
        trade_id: 1,
        exch_ts_ns: 0,
    };
    for _ in 0..100 {
        host.on_trade(t.clone(), 1, 0).unwrap();
    }
    let calls = 1_000;
    let n = count_here(|| {
        for _ in 0..calls {
            host.on_trade(t.clone(), 1, 0).unwrap();
        }
    });
    eprintln!(
        "ema_cross on_trade: {} allocations per call (Rhai)",
        n as f64 / calls as f64
    );
    // 11 per call while each call boxed its trade argument; 7 since it is reused (what is
    // left is Rhai's: decimals boxed inside `Dynamic`, its function-resolution cache).
    assert!(n / calls < 8, "{n} allocations in {calls} calls");
}
