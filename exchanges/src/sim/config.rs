//! Simulator configuration.

use rust_decimal::Decimal;

use super::market_model::MarketParams;

/// Configuration of a simulator instance.
///
/// Build it with struct-update syntax from [`SimConfig::default`] so that fields added later
/// do not break callers: `SimConfig { seed: 7, ..SimConfig::default() }`.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Seed of the synthetic market (same seed, same market as long as no client trades).
    pub seed: u64,
    /// Listed symbols.
    pub symbols: Vec<SimSymbol>,
    /// API key accepted in `X-MBX-APIKEY`.
    pub api_key: String,
    /// Secret used to verify request signatures.
    pub api_secret: String,
    /// Market step interval in milliseconds (e.g. 10).
    pub md_interval_ms: u64,
    /// Fee rate for fills where our order was resting (maker), e.g. 0.001.
    pub maker_fee: Decimal,
    /// Fee rate for fills where our order was the aggressor (taker).
    pub taker_fee: Decimal,
    /// Initial free balances of our account, `(asset, amount)`.
    pub balances: Vec<(String, Decimal)>,
    /// Interval between server websocket pings, in milliseconds.
    pub ws_ping_interval_ms: u64,
    /// A websocket that has not answered a ping with a pong for this long is closed.
    pub ws_pong_timeout_ms: u64,
    /// A second API key of the same account, of Binance's Ed25519 type: REST signed
    /// endpoints and the WebSocket API verify its signatures (base64 Ed25519) with the public
    /// key; `session.logon` accepts only this key. `None`: the account has the HMAC key only.
    pub ed25519_key: Option<SimEd25519Key>,
    /// Serve the retired listenKey user data stream (`POST/PUT/DELETE /api/v3/userDataStream`
    /// and `/ws/<listenKey>`) as Binance did before 2026-02-20. `false` (the default) answers
    /// those endpoints with HTTP 410 Gone as Binance does now; user data is then only on the
    /// WebSocket API (`/ws-api/v3`).
    pub legacy_listen_key: bool,
    /// The synthetic market's price and activity process (every symbol, each on its own
    /// random stream). Default [`MarketParams::calm`]; `gen-ticks` and a `[sim.market]`
    /// table start from the BTC-like [`MarketParams::default`].
    pub market: MarketParams,
}

/// An Ed25519 API key: the key name the client sends and the public key Binance holds.
#[derive(Clone, Debug)]
pub struct SimEd25519Key {
    /// The API key string (`X-MBX-APIKEY` header, WebSocket API `apiKey` parameter).
    pub api_key: String,
    /// The public key as PEM (`-----BEGIN PUBLIC KEY-----`, PKCS#8 SubjectPublicKeyInfo),
    /// as registered with Binance.
    pub public_key_pem: String,
}

/// A listed spot symbol and its trading filters.
#[derive(Clone, Debug)]
pub struct SimSymbol {
    /// Upper-case symbol, e.g. `"BTCUSDT"`.
    pub symbol: String,
    /// Base asset, e.g. `"BTC"`.
    pub base: String,
    /// Quote asset, e.g. `"USDT"`.
    pub quote: String,
    /// Initial mid price (rounded to the tick).
    pub start_price: Decimal,
    /// PRICE_FILTER tickSize.
    pub tick_size: Decimal,
    /// LOT_SIZE stepSize.
    pub lot_size: Decimal,
    /// LOT_SIZE minQty.
    pub min_qty: Decimal,
    /// LOT_SIZE maxQty.
    pub max_qty: Decimal,
    /// NOTIONAL minNotional (price * qty, quote units).
    pub min_notional: Decimal,
}

impl SimSymbol {
    /// BTCUSDT with Binance-like filters, starting at 60,000 USDT.
    pub fn btcusdt() -> Self {
        SimSymbol {
            symbol: "BTCUSDT".into(),
            base: "BTC".into(),
            quote: "USDT".into(),
            start_price: Decimal::new(60_000, 0),
            tick_size: Decimal::new(1, 2),
            lot_size: Decimal::new(1, 5),
            min_qty: Decimal::new(1, 5),
            max_qty: Decimal::new(9_000, 0),
            min_notional: Decimal::new(5, 0),
        }
    }

    /// ETHUSDT with Binance-like filters, starting at 3,000 USDT.
    pub fn ethusdt() -> Self {
        SimSymbol {
            symbol: "ETHUSDT".into(),
            base: "ETH".into(),
            quote: "USDT".into(),
            start_price: Decimal::new(3_000, 0),
            tick_size: Decimal::new(1, 2),
            lot_size: Decimal::new(1, 4),
            min_qty: Decimal::new(1, 4),
            max_qty: Decimal::new(9_000, 0),
            min_notional: Decimal::new(5, 0),
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            symbols: vec![SimSymbol::btcusdt()],
            api_key: "sim-api-key".into(),
            api_secret: "sim-api-secret".into(),
            md_interval_ms: 10,
            maker_fee: Decimal::new(1, 3),
            taker_fee: Decimal::new(1, 3),
            balances: vec![
                ("USDT".into(), Decimal::new(1_000_000, 0)),
                ("BTC".into(), Decimal::new(100, 0)),
                ("ETH".into(), Decimal::new(1_000, 0)),
            ],
            ws_ping_interval_ms: 20_000,
            ws_pong_timeout_ms: 60_000,
            ed25519_key: None,
            legacy_listen_key: false,
            market: MarketParams::calm(),
        }
    }
}
