//! The start's venue truth against the real simulator on 127.0.0.1 with the real REST client
//! and signer: what happens to each kind of order found at start, under each policy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peregrine_engine::config::{EarlierOrders, ForeignOrders};
use peregrine_engine::events::{FillRow, OrderRow, OrderStatus};
use peregrine_engine::gateway::{OrderSigner, SignedOrder};
use peregrine_engine::order::{
    ClientOrderId, ExecKind, OrderIntent, OrderRequest, OrderType, TimeInForce,
};
use peregrine_engine::orders::{ExecOutcome, OrderTracker};
use peregrine_engine::secret::{ApiCredentials, Secret};
use peregrine_engine::sink::StartState;
use peregrine_engine::types::{InstrumentId, InstrumentSpec, Instruments, Side};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::clock_skew::AlarmFn;
use super::reconcile::Reconciler;
use super::rest::BinanceRest;
use super::signer::BinanceSigner;
use super::venue_truth::{take_venue_truth, StartPolicy, VenueTruth};
use crate::sim::{spawn, SimConfig, SimHandle};

const EARLIER: u64 = 0x5eed;
const SECRET: &str = "sim-api-secret";

struct Env {
    sim: SimHandle,
    rest: BinanceRest,
    signer: BinanceSigner,
    instruments: Arc<Instruments>,
    alarms: Arc<Mutex<Vec<(String, String)>>>,
}

async fn env() -> Env {
    let sim = spawn(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    sim.pause_market();
    let creds = ApiCredentials {
        key: Secret::new("sim-api-key".to_string()),
        secret: Secret::new(SECRET.to_string()),
    };
    let rest = BinanceRest::new(
        &sim.rest_base_url(),
        creds.clone(),
        5000,
        Duration::from_secs(5),
    )
    .unwrap();
    rest.sync_time().await.unwrap();
    let mut inst = Instruments::new();
    inst.intern(
        InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.00001)).unwrap(),
    );
    let instruments = Arc::new(inst);
    let signer = BinanceSigner::new(instruments.clone(), &creds, 5000)
        .with_clock_offset(rest.clock_offset());
    Env {
        sim,
        rest,
        signer,
        instruments,
        alarms: Arc::default(),
    }
}

impl Env {
    fn alarm_fn(&self) -> AlarmFn {
        let a = self.alarms.clone();
        Arc::new(move |reason, msg| a.lock().unwrap().push((reason.to_string(), msg)))
    }

    fn request(seq: u32, side: Side, price: Decimal, qty: Decimal) -> OrderRequest {
        OrderRequest {
            client_order_id: ClientOrderId { run: EARLIER, seq },
            intent: OrderIntent {
                strategy: 0,
                instrument: InstrumentId(0),
                side,
                order_type: OrderType::Limit,
                price: Some(price),
                qty,
                tif: TimeInForce::Gtc,
                reduce_only: false,
                post_only: false,
                origin_recv_ns: 0,
            },
        }
    }

    /// Places an order of the earlier run at the venue.
    async fn place(&mut self, req: &OrderRequest) {
        let s = self
            .signer
            .sign_new(req, peregrine_engine::clock::Clock::wall_ms())
            .unwrap();
        self.rest.send_signed(&s).await.unwrap();
    }

    /// Places an order with a client id that is not ours (as a person on the website would).
    async fn place_foreign(&mut self, req: &OrderRequest, client_id: &str) {
        let s = self
            .signer
            .sign_new(req, peregrine_engine::clock::Clock::wall_ms())
            .unwrap();
        let ours = req.client_order_id.to_string();
        let unsigned = s.params.split("&signature=").next().unwrap().replace(
            &format!("newClientOrderId={ours}"),
            &format!("newClientOrderId={client_id}"),
        );
        let mut sig = String::new();
        super::sign::sign_into(SECRET.as_bytes(), unsigned.as_bytes(), &mut sig);
        let foreign = SignedOrder {
            params: format!("{unsigned}&signature={sig}"),
            ..s
        };
        self.rest.send_signed(&foreign).await.unwrap();
    }

    fn touch(&self) -> (Decimal, Decimal) {
        let (_, bids, asks) = self.sim.book("BTCUSDT", 1).unwrap();
        (bids[0].0, asks[0].0)
    }

    async fn truth(&self, db: &StartState, policy: StartPolicy) -> VenueTruth {
        take_venue_truth(
            &self.rest,
            &self.instruments,
            "binance",
            db,
            policy,
            &self.alarm_fn(),
        )
        .await
        .unwrap()
    }

    fn reasons(&self) -> Vec<String> {
        self.alarms
            .lock()
            .unwrap()
            .iter()
            .map(|(r, _)| r.clone())
            .collect()
    }
}

fn row(req: &OrderRequest, status: OrderStatus, venue_order_id: Option<i64>) -> OrderRow {
    OrderRow {
        client_order_id: req.client_order_id.to_string(),
        venue_order_id,
        strategy: "mm".into(),
        venue: "binance".into(),
        symbol: "BTC-USDT".into(),
        side: req.intent.side,
        order_type: "limit".into(),
        price: req.intent.price,
        qty: req.intent.qty,
        filled_qty: Decimal::ZERO,
        status,
        reject_reason: None,
        created_ns: 1,
        updated_ns: 1,
    }
}

/// Applies the truth to a tracker as the core does: adopt, then the reports in order.
/// Returns the fills booked (trade ids).
fn apply(truth: &VenueTruth, tracker: &mut OrderTracker) -> Vec<u64> {
    for a in &truth.adopted {
        tracker.adopt(
            OrderRequest {
                client_order_id: a.client_order_id,
                intent: OrderIntent {
                    strategy: 0,
                    instrument: a.instrument,
                    side: a.side,
                    order_type: a.order_type,
                    price: a.price,
                    qty: a.qty,
                    tif: TimeInForce::Gtc,
                    reduce_only: false,
                    post_only: false,
                    origin_recv_ns: 0,
                },
            },
            a.status,
            a.filled,
            a.venue_order_id,
            a.created_ns,
            a.seen_trade_ids.iter().copied(),
        );
    }
    let mut booked = Vec::new();
    for r in &truth.reports {
        if let ExecOutcome::Applied { fill: Some(f), .. } = tracker.apply(r) {
            booked.push(f.trade_id);
        }
    }
    booked
}

/// One earlier-run order resting, one filled while the engine was down (stored as `acked`),
/// one stored `pending` that never reached the venue, one foreign order; a database without
/// a checkpoint. Adopt + report: the resting order is tracked working, the filled one gets
/// its fill once and ends filled, the unknown one ends rejected, the foreign one is reported
/// and left alone, and the checkpoint starts at the latest trade. A second start with an
/// older checkpoint and the fill already stored books nothing twice.
#[tokio::test]
async fn each_kind_of_order_found_at_start_under_adopt_and_report() {
    let mut e = env().await;
    let (bid, ask) = e.touch();
    let resting = Env::request(1, Side::Buy, bid - dec!(10), dec!(0.001));
    let filled = Env::request(2, Side::Buy, ask, dec!(0.0005));
    let never_sent = Env::request(3, Side::Buy, bid - dec!(11), dec!(0.001));
    let foreign = Env::request(9, Side::Buy, bid - dec!(12), dec!(0.001));
    e.place(&resting).await;
    e.place(&filled).await;
    e.place_foreign(&foreign, "web_123").await;
    let ledger = e.sim.ledger();
    assert_eq!(ledger.len(), 1, "the crossing order filled");
    let trade = ledger[0].trade_id;

    let db = StartState {
        open_orders: vec![
            row(&filled, OrderStatus::Acked, None),
            row(&never_sent, OrderStatus::Pending, None),
        ],
        ..StartState::default()
    };
    let truth = e.truth(&db, StartPolicy::default()).await;
    let adopted: HashMap<u32, _> = truth
        .adopted
        .iter()
        .map(|a| (a.client_order_id.seq, a))
        .collect();
    assert_eq!(
        {
            let mut k: Vec<_> = adopted.keys().copied().collect();
            k.sort();
            k
        },
        vec![1, 2, 3],
        "ours adopted, the foreign one not"
    );
    assert!(adopted.values().all(|a| !a.cancel));
    assert_eq!(
        adopted[&2].strategy.as_deref(),
        Some("mm"),
        "strategy from the stored row"
    );
    assert_eq!(
        adopted[&1].strategy, None,
        "unknown to the database: the core picks one"
    );
    assert_eq!(truth.checkpoints.len(), 1);
    assert_eq!(truth.checkpoints[0].last_trade_id, trade as i64);
    assert_eq!(truth.next_trade_id["BTCUSDT"], trade + 1);
    assert_eq!(e.reasons(), vec!["foreign_open_order".to_string()]);
    assert_eq!(
        e.sim.open_orders().len(),
        2,
        "the foreign order is left alone"
    );

    let mut tracker = OrderTracker::new(1, 1);
    assert_eq!(apply(&truth, &mut tracker), vec![trade], "the fill once");
    let st = |seq| {
        tracker
            .get(&ClientOrderId { run: EARLIER, seq })
            .unwrap()
            .status
    };
    assert_eq!(st(1), OrderStatus::Acked);
    assert_eq!(st(2), OrderStatus::Filled);
    assert_eq!(st(3), OrderStatus::Rejected);
    assert_eq!(tracker.working_count(), 1);
    assert_eq!(
        truth.followed["BTCUSDT"].len(),
        1,
        "the resting one is followed"
    );

    // A later start: the fill is stored, the checkpoint is older than the trade.
    let db = StartState {
        checkpoints: [("BTC-USDT".to_string(), trade as i64 - 1)].into(),
        fills: vec![FillRow {
            venue: "binance".into(),
            symbol: "BTC-USDT".into(),
            trade_id: trade as i64,
            client_order_id: filled.client_order_id.to_string(),
            strategy: "mm".into(),
            side: Side::Buy,
            price: ask,
            qty: dec!(0.0005),
            fee: Decimal::ZERO,
            fee_asset: "BTC".into(),
            is_maker: false,
            exch_ts_ns: 0,
        }],
        ..StartState::default()
    };
    let again = e.truth(&db, StartPolicy::default()).await;
    let a2 = again
        .adopted
        .iter()
        .find(|a| a.client_order_id == filled.client_order_id)
        .expect("its trade is after the checkpoint: adopted again");
    assert_eq!(
        (a2.seen_trade_ids.clone(), a2.filled),
        (vec![trade], dec!(0.0005))
    );
    let mut tracker = OrderTracker::new(1, 1);
    assert!(
        apply(&again, &mut tracker).is_empty(),
        "nothing booked twice"
    );
    assert!(again.checkpoints.is_empty());
    e.sim.shutdown().await;
}

/// `on_start_earlier_orders = "cancel"` marks the open earlier-run order for cancelling by
/// the core; `foreign_orders = "cancel"` cancels the foreign order at the venue (by its
/// venue order id) and records it.
#[tokio::test]
async fn cancel_policies_cancel_earlier_and_foreign_orders() {
    let mut e = env().await;
    let (bid, _) = e.touch();
    let resting = Env::request(1, Side::Buy, bid - dec!(10), dec!(0.001));
    let foreign = Env::request(9, Side::Buy, bid - dec!(12), dec!(0.001));
    e.place(&resting).await;
    e.place_foreign(&foreign, "web_456").await;
    let truth = e
        .truth(
            &StartState::default(),
            StartPolicy {
                earlier: EarlierOrders::Cancel,
                foreign: ForeignOrders::Cancel,
            },
        )
        .await;
    assert_eq!(truth.adopted.len(), 1);
    assert!(
        truth.adopted[0].cancel,
        "the core cancels it after adopting it"
    );
    assert_eq!(e.reasons(), vec!["foreign_order_cancelled".to_string()]);
    let open = e.sim.open_orders();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].1, resting.client_order_id.to_string());
    assert!(truth
        .reports
        .iter()
        .all(|r| !matches!(r.kind, ExecKind::Fill(_))));

    // The same policy after a reconnect: the reconciler cancels a new foreign order.
    let later = Env::request(10, Side::Buy, bid - dec!(13), dec!(0.001));
    e.place_foreign(&later, "web_789").await;
    let (tx, _rx) = crossbeam_channel::unbounded();
    let mut rec = Reconciler::new(
        e.rest.clone(),
        e.instruments.clone(),
        EARLIER + 1,
        e.rest.now_ms() - 1000,
        tx,
        e.alarm_fn(),
    )
    .with_start(&truth)
    .with_foreign_orders(ForeignOrders::Cancel);
    rec.run_once().await.unwrap();
    assert_eq!(
        e.reasons(),
        vec![
            "foreign_order_cancelled".to_string(),
            "foreign_order_cancelled".to_string()
        ]
    );
    assert_eq!(e.sim.open_orders().len(), 1);
    e.sim.shutdown().await;
}
