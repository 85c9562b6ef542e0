//! The value checks of the shared reader, one by one, on a documented frame of every venue:
//! each mutation of one field must be refused with its own reason.

use super::testutil::lines;
use super::{MdError, Reason, VenueNormalizer};
use crate::{binance, bybit, coinbase, kraken, okx};

/// One field of a sample frame: its key, its value as sent, whether the value is a JSON
/// string, and whether to change its last occurrence (else its first).
#[derive(Clone, Copy)]
struct Field {
    key: &'static str,
    value: &'static str,
    quoted: bool,
    last: bool,
}

const fn s(key: &'static str, value: &'static str) -> Field {
    Field {
        key,
        value,
        quoted: true,
        last: false,
    }
}

const fn n(key: &'static str, value: &'static str) -> Field {
    Field {
        key,
        value,
        quoted: false,
        last: false,
    }
}

impl Field {
    fn text(&self, v: &str) -> String {
        if self.quoted {
            format!(r#""{}":"{v}""#, self.key)
        } else {
            format!(r#""{}":{v}"#, self.key)
        }
    }

    /// `frame` with this field's value replaced by the raw JSON text `json`.
    fn set_raw(&self, frame: &str, json: &str) -> String {
        let old = self.text(self.value);
        let at = if self.last {
            frame.rfind(&old)
        } else {
            frame.find(&old)
        };
        let at = at.unwrap_or_else(|| panic!("{old} not in {frame}"));
        let new = format!(r#""{}":{json}"#, self.key);
        format!("{}{new}{}", &frame[..at], &frame[at + old.len()..])
    }

    /// `frame` with this field's value replaced by `v` (quoted as the field is).
    fn set(&self, frame: &str, v: &str) -> String {
        let json = if self.quoted {
            format!("\"{v}\"")
        } else {
            v.to_string()
        };
        self.set_raw(frame, &json)
    }

    /// `frame` with this field sent twice, the second time with `v`.
    fn duplicate(&self, frame: &str, v: &str) -> String {
        let first = self.text(self.value);
        let json = if self.quoted {
            format!("{first},\"{}\":\"{v}\"", self.key)
        } else {
            format!("{first},\"{}\":{v}", self.key)
        };
        let at = frame.find(&first).expect("field");
        format!("{}{json}{}", &frame[..at], &frame[at + first.len()..])
    }
}

/// A venue's samples and the fields the checks change.
struct Venue {
    name: &'static str,
    new: fn() -> Box<dyn VenueNormalizer>,
    trade: &'static str,
    price: Field,
    qty: Field,
    symbol: Field,
    trade_id: Field,
    /// A trade id that is a JSON number cannot be empty: `""` is the wrong type.
    empty_id: Reason,
    quote: &'static str,
    bid: Field,
    bid_qty: Field,
    ask: &'static str,
    book: &'static str,
    /// `(level text, the same level with a zero price, ... with a negative quantity)`.
    level: (&'static str, &'static str, &'static str),
}

fn venues() -> Vec<Venue> {
    vec![
        Venue {
            name: "binance",
            new: || Box::new(binance::Normalizer::new()),
            trade: binance::normalize::tests::TRADE,
            price: s("p", "0.001"),
            qty: s("q", "100"),
            symbol: s("s", "BNBBTC"),
            trade_id: n("t", "12345"),
            empty_id: Reason::Malformed,
            quote: binance::normalize::tests::BOOK_TICKER,
            bid: s("b", "25.35190000"),
            bid_qty: s("B", "31.21000000"),
            ask: "25.36520000",
            book: binance::normalize::tests::DEPTH,
            level: (r#"["0.0024","10"]"#, r#"["0","10"]"#, r#"["0.0024","-10"]"#),
        },
        Venue {
            name: "bybit",
            new: || Box::new(bybit::Normalizer::new()),
            trade: bybit::tests::TRADE,
            price: s("p", "16578.50"),
            qty: s("v", "0.001"),
            symbol: s("s", "BTCUSDT"),
            trade_id: s("i", "20f43950-d8dd-5b31-9112-a178eb6023af"),
            empty_id: Reason::EmptyTradeId,
            quote: bybit::tests::BBO,
            // Bybit's level-1 book: `b` is an array of one level.
            bid: Field {
                key: "b",
                value: "",
                quoted: false,
                last: false,
            },
            bid_qty: Field {
                key: "b",
                value: "",
                quoted: false,
                last: false,
            },
            ask: "16611.00",
            book: bybit::tests::BOOK_SNAPSHOT,
            level: (
                r#"["17440.00","40.833"]"#,
                r#"["0","40.833"]"#,
                r#"["17440.00","-40.833"]"#,
            ),
        },
        Venue {
            name: "okx",
            new: || Box::new(okx::Normalizer::new()),
            trade: okx::tests::TRADE,
            price: s("px", "42219.9"),
            qty: s("sz", "0.12060306"),
            symbol: Field {
                last: true,
                ..s("instId", "BTC-USDT")
            },
            trade_id: s("tradeId", "130639474"),
            empty_id: Reason::EmptyTradeId,
            quote: okx::tests::BBO,
            bid: Field {
                key: "bids",
                value: "",
                quoted: false,
                last: false,
            },
            bid_qty: Field {
                key: "bids",
                value: "",
                quoted: false,
                last: false,
            },
            ask: "111.06",
            book: okx::tests::BOOK_SNAPSHOT,
            level: (
                r#"["8476.98","415","0","13"]"#,
                r#"["0","415","0","13"]"#,
                r#"["8476.98","-415","0","13"]"#,
            ),
        },
        Venue {
            name: "kraken",
            new: || Box::new(kraken::Normalizer::new()),
            trade: kraken::tests::TRADE,
            price: n("price", "0.5147"),
            qty: n("qty", "6423.46326"),
            symbol: s("symbol", "MATIC/USD"),
            trade_id: n("trade_id", "4665846"),
            empty_id: Reason::Invalid,
            quote: kraken::tests::TICKER,
            bid: n("bid", "0.10025"),
            bid_qty: n("bid_qty", "740.0"),
            ask: "0.10036",
            book: kraken::tests::BOOK_SNAPSHOT,
            level: (
                r#"{"price":45283.5,"qty":0.10000000}"#,
                r#"{"price":0,"qty":0.10000000}"#,
                r#"{"price":45283.5,"qty":-0.10000000}"#,
            ),
        },
        Venue {
            name: "coinbase",
            new: || Box::new(coinbase::Normalizer::new()),
            trade: coinbase::tests::TRADE,
            price: s("price", "1260.01"),
            qty: s("size", "0.3"),
            symbol: s("product_id", "BTC-USD"),
            trade_id: s("trade_id", "000000000"),
            empty_id: Reason::EmptyTradeId,
            quote: coinbase::tests::TICKER,
            bid: s("best_bid", "21931.98"),
            bid_qty: s("best_bid_quantity", "8000.21"),
            ask: "21933.98",
            book: coinbase::tests::L2_SNAPSHOT,
            level: (
                r#""price_level":"21921.73","new_quantity":"0.06317902""#,
                r#""price_level":"0","new_quantity":"0.06317902""#,
                r#""price_level":"21921.73","new_quantity":"-0.06317902""#,
            ),
        },
    ]
}

/// The reason `frame` is refused with (it must be refused).
fn refused(v: &Venue, frame: &str) -> MdError {
    let mut norm = (v.new)();
    let (r, _) = lines(&mut *norm, frame);
    match r {
        Err(e) => e,
        Ok(p) => panic!("{}: accepted ({p:?}): {frame}", v.name),
    }
}

fn assert_reason(v: &Venue, frame: &str, want: Reason) {
    let e = refused(v, frame);
    assert_eq!(e.reason(), want, "{}: {e} for {frame}", v.name);
}

/// The level-1 quote sample with the bid's price (and quantity) replaced.
fn with_bid(v: &Venue, price: &str, qty: Option<&str>) -> String {
    if v.bid.value.is_empty() {
        // An array of `[price, qty]` levels: replace the first bid level.
        let start = v
            .quote
            .find(&format!("\"{}\":[[", v.bid.key))
            .expect("bids")
            + v.bid.key.len()
            + 5;
        let end = start + v.quote[start..].find(']').expect("level end");
        let level = &v.quote[start..end];
        let old_qty = level.split(',').nth(1).expect("qty").trim_matches('"');
        let rest: Vec<&str> = level.split(',').skip(2).collect();
        let mut new = format!("\"{price}\",\"{}\"", qty.unwrap_or(old_qty));
        for r in rest {
            new.push(',');
            new.push_str(r);
        }
        return format!("{}{new}{}", &v.quote[..start], &v.quote[end..]);
    }
    let f = v.bid.set(v.quote, price);
    match qty {
        Some(q) => v.bid_qty.set(&f, q),
        None => f,
    }
}

#[test]
fn the_samples_are_accepted() {
    for v in venues() {
        for f in [v.trade, v.quote, v.book] {
            let mut norm = (v.new)();
            let (r, ev) = lines(&mut *norm, f);
            assert!(r.is_ok() && !ev.is_empty(), "{}: {r:?} {f}", v.name);
        }
    }
}

#[test]
fn non_positive_prices_are_refused() {
    for v in venues() {
        assert_reason(&v, &v.price.set(v.trade, "0"), Reason::NonPositivePrice);
        assert_reason(&v, &v.price.set(v.trade, "0.000"), Reason::NonPositivePrice);
        let neg = format!("-{}", v.price.value);
        assert_reason(&v, &v.price.set(v.trade, &neg), Reason::Negative);
        assert_reason(&v, &v.price.set(v.trade, "-0"), Reason::Negative);
        assert_reason(&v, &with_bid(&v, "0", None), Reason::NonPositivePrice);
        assert_reason(
            &v,
            &v.book.replacen(v.level.0, v.level.1, 1),
            Reason::NonPositivePrice,
        );
    }
}

#[test]
fn negative_quantities_are_refused() {
    for v in venues() {
        let neg = format!("-{}", v.qty.value);
        assert_reason(&v, &v.qty.set(v.trade, &neg), Reason::Negative);
        assert_reason(
            &v,
            &v.book.replacen(v.level.0, v.level.2, 1),
            Reason::Negative,
        );
    }
}

#[test]
fn zero_quantity_trades_are_refused() {
    for v in venues() {
        assert_reason(&v, &v.qty.set(v.trade, "0"), Reason::ZeroTradeQty);
        assert_reason(&v, &v.qty.set(v.trade, "0.00000000"), Reason::ZeroTradeQty);
        // `-0` is not rewritten to `0`: the sign alone refuses it.
        assert_reason(&v, &v.qty.set(v.trade, "-0"), Reason::Negative);
    }
}

#[test]
fn empty_symbols_and_trade_ids_are_refused() {
    for v in venues() {
        assert_reason(&v, &v.symbol.set(v.trade, ""), Reason::EmptySymbol);
        assert_reason(&v, &v.trade_id.set_raw(v.trade, "\"\""), v.empty_id);
    }
}

#[test]
fn duplicate_keys_are_refused_not_last_one_wins() {
    for v in venues() {
        let e = refused(&v, &v.price.duplicate(v.trade, "1"));
        assert_eq!(e, MdError::DuplicateKey(v.price.key.into()), "{}", v.name);
        let e = refused(&v, &v.qty.duplicate(v.trade, "1"));
        assert_eq!(e, MdError::DuplicateKey(v.qty.key.into()), "{}", v.name);
    }
}

#[test]
fn exponent_decimals_are_refused_never_rewritten() {
    for v in venues() {
        for exp in ["1.5E+3", "15e2", "1E-8"] {
            let e = refused(&v, &v.price.set(v.trade, exp));
            assert_eq!(e.reason(), Reason::Exponent, "{}: {e} for {exp}", v.name);
            assert!(
                e.to_string().contains(exp),
                "{}: names the text: {e}",
                v.name
            );
        }
    }
}

#[test]
fn crossed_quotes_are_refused() {
    for v in venues() {
        let above = format!("{}1", v.ask);
        for bid in [above.as_str(), v.ask] {
            let e = refused(&v, &with_bid(&v, bid, None));
            assert!(
                matches!(&e, MdError::CrossedQuote { .. }),
                "{}: {e} for bid {bid}",
                v.name
            );
        }
    }
}

/// The keys of every object of `v`, per object.
fn objects(v: &serde_json::Value, out: &mut Vec<Vec<String>>) {
    match v {
        serde_json::Value::Object(m) => {
            out.push(m.keys().cloned().collect());
            m.values().for_each(|x| objects(x, out));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| objects(x, out)),
        _ => {}
    }
}

#[test]
fn no_documented_sample_pays_the_duplicate_key_re_read() {
    let frames_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/frames");
    let mut texts: Vec<String> = Vec::new();
    for v in venues() {
        texts.extend([v.trade, v.quote, v.book].map(String::from));
        let file = format!("{frames_dir}/{}.jsonl", v.name);
        let body = std::fs::read_to_string(&file).expect("frames file");
        texts.extend(
            body.lines()
                .filter(|l| !l.trim().is_empty())
                .map(String::from),
        );
    }
    let mut checked = 0;
    for t in &texts {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(t) else {
            continue;
        };
        let mut objs = Vec::new();
        objects(&v, &mut objs);
        for keys in objs {
            let mut bits: Vec<u32> = keys
                .iter()
                .map(|k| super::json::key_bit(k.as_bytes()))
                .collect();
            bits.sort_unstable();
            let n = bits.len();
            bits.dedup();
            assert_eq!(bits.len(), n, "keys {keys:?} share a filter bit");
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked} objects");
}
