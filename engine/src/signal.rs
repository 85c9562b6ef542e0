//! Signals from outside the engine (a Python model on the NATS bus, `<prefix>.sig.<strategy>.<name>`)
//! for one strategy's `on_signal(s)`. The core takes them between events; their latency from
//! the sender's clock to the callback is the `signal` stage.

use rust_decimal::Decimal;

/// One external signal.
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalSignal {
    /// The strategy it is for (its configured name).
    pub strategy: String,
    /// The signal's name.
    pub name: String,
    /// Its value, exact.
    pub value: Decimal,
    /// The sender's extra fields (a JSON object; `{}` when none).
    pub payload: serde_json::Value,
    /// When it was sent: the sender's wall clock, ns since the Unix epoch.
    pub sent_wall_ns: i64,
}

/// Why a signal message was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// Not the signal JSON.
    #[error("bad signal JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A field missing or of the wrong type.
    #[error("signal field {0:?} missing or not of its type (value is a decimal string)")]
    Field(&'static str),
}

impl ExternalSignal {
    /// Parses `{"strategy", "name", "value": "<decimal>", "payload": {..}, "ts_ns": <int>}`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, SignalError> {
        let v: serde_json::Value = serde_json::from_slice(bytes)?;
        let text = |k: &'static str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .map(str::to_string)
                .ok_or(SignalError::Field(k))
        };
        let value = text("value")?
            .parse::<Decimal>()
            .map_err(|_| SignalError::Field("value"))?;
        Ok(ExternalSignal {
            strategy: text("strategy")?,
            name: text("name")?,
            value,
            payload: v.get("payload").cloned().unwrap_or(serde_json::json!({})),
            sent_wall_ns: v
                .get("ts_ns")
                .and_then(|x| x.as_i64())
                .ok_or(SignalError::Field("ts_ns"))?,
        })
    }

    /// The map a script's `on_signal(s)` receives: `strategy`, `name`, `value`, `payload`.
    pub fn to_map(&self) -> rhai::Map {
        let mut m = rhai::Map::new();
        m.insert("strategy".into(), self.strategy.clone().into());
        m.insert("name".into(), self.name.clone().into());
        m.insert("value".into(), rhai::Dynamic::from_decimal(self.value));
        let payload = rhai::serde::to_dynamic(&self.payload).unwrap_or(rhai::Dynamic::UNIT);
        m.insert("payload".into(), payload);
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_json_parses_with_an_exact_value_and_bad_ones_are_refused() {
        let s = ExternalSignal::from_json(
            br#"{"strategy":"mm","name":"score","value":"0.250","payload":{"bars":3},"ts_ns":7}"#,
        )
        .unwrap();
        assert_eq!(s.value.to_string(), "0.250");
        assert_eq!(s.sent_wall_ns, 7);
        let m = s.to_map();
        assert_eq!(m["name"].clone().into_string().unwrap(), "score");
        assert!(m["payload"].is_map());
        for bad in [
            &br#"{"strategy":"mm","name":"s","value":0.25,"ts_ns":1}"#[..],
            br#"{"strategy":"mm","name":"s","value":"x","ts_ns":1}"#,
            br#"{"name":"s","value":"1","ts_ns":1}"#,
            b"nope",
        ] {
            assert!(ExternalSignal::from_json(bad).is_err());
        }
    }
}
