//! Secrets (API keys) that never reach a log, a file, a table or an error message.

use std::fmt;

/// A secret string: `Debug` and `Display` print `[redacted]`. Read it with [`Secret::expose`]
/// only where it is used (signing, an auth header).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Never log or format the result.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True if no secret was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// An API key pair for a venue. The key is sent in headers; the secret signs requests.
#[derive(Clone, Debug, Default)]
pub struct ApiCredentials {
    /// The API key (sent as a header; still redacted in logs).
    pub key: Secret,
    /// The signing secret.
    pub secret: Secret,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let c = ApiCredentials {
            key: Secret::new("AKIA-123"),
            secret: Secret::new("s3cr3t"),
        };
        let shown = format!("{c:?} {} {}", c.key, c.secret);
        assert!(
            !shown.contains("AKIA") && !shown.contains("s3cr3t"),
            "{shown}"
        );
        assert_eq!(c.secret.expose(), "s3cr3t");
    }
}
