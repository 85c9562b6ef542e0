//! Exact decimals in the config are written as strings (`max_order_notional = "150.7"`): a
//! TOML number is refused, naming the key, because a float such as `150.7` has already lost
//! its exact value by the time it is read and an integer reads the same as a decimal string.

use std::fmt;

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};

/// The message for a TOML number where a decimal string is expected.
pub(crate) const NUMBER_NOT_STRING: &str =
    "decimals (money, prices, quantities) are written as strings, e.g. \"150.7\", not as TOML numbers";

struct DecimalString;

impl Visitor<'_> for DecimalString {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal written as a string, e.g. \"150.7\"")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Decimal, E> {
        Decimal::from_str_exact(s.trim())
            .map_err(|_| E::custom(format!("{s:?} is not a decimal number")))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Decimal, E> {
        Err(E::custom(NUMBER_NOT_STRING))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Decimal, E> {
        Err(E::custom(NUMBER_NOT_STRING))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Decimal, E> {
        Err(E::custom(NUMBER_NOT_STRING))
    }
}

/// `deserialize_with` for a `Decimal` field.
pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    d.deserialize_any(DecimalString)
}

/// `deserialize_with` for an `Option<Decimal>` field with `#[serde(default)]`.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    string(d).map(Some)
}
