//! The sink's error type and URL redaction for error messages.

use crate::events::SinkEvent;

/// Everything that can go wrong starting, feeding or stopping the persistence sink.
///
/// Every variant that concerns the database names its URL, with any password removed
/// (see [`redact_url`]), and what was being done.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The configuration is unusable (e.g. `batch_size` of 0, unsupported URL scheme).
    #[error("sink config for {url}: {reason}")]
    Config {
        /// Database URL, redacted.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Creating the directory that will hold the database file failed.
    #[error("creating directory {path} for database {url}: {source}")]
    CreateDir {
        /// Database URL, redacted.
        url: String,
        /// Directory that could not be created.
        path: String,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// Opening (or creating) the database failed.
    #[error("opening database {url}: {source}")]
    Open {
        /// Database URL, redacted.
        url: String,
        /// Underlying driver error.
        source: sqlx::Error,
    },
    /// Applying the embedded schema migrations failed.
    #[error("running migrations on {url}: {source}")]
    Migrate {
        /// Database URL, redacted.
        url: String,
        /// Underlying migration error.
        source: sqlx::migrate::MigrateError,
    },
    /// A statement of `peregrine migrate` failed (nothing of that migration is kept).
    #[error("migrating {url}: {what}: {source}")]
    MigrateSql {
        /// Database URL, redacted.
        url: String,
        /// What was being done (e.g. `applying <file>`).
        what: String,
        /// Underlying driver error.
        source: sqlx::Error,
    },
    /// The database's migration history does not fit this engine's migrations.
    #[error("migrating {url}: {reason}")]
    MigrateHistory {
        /// Database URL, redacted.
        url: String,
        /// What does not fit.
        reason: String,
    },
    /// The sink thread or its tokio runtime could not be started.
    #[error("starting the sink thread for {url}: {source}")]
    Start {
        /// Database URL, redacted.
        url: String,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// At start, what a previous run left in the spool could not be written, or the start
    /// state (checkpoints, open orders, fills) could not be read, within the start timeout.
    #[error(
        "reading the start state of {url} (the venue's truth is reconciled against it): {source}"
    )]
    StartState {
        /// Database URL, redacted.
        url: String,
        /// The last driver error.
        source: sqlx::Error,
    },
    /// At shutdown, the remaining events could not be written within the retry budget.
    /// Only without a spool: those `pending` events are lost.
    #[error("writing to {url} at shutdown failed after {attempts} attempts, {pending} events unwritten: {source}")]
    Write {
        /// Database URL, redacted.
        url: String,
        /// Events still unwritten when the sink gave up.
        pending: usize,
        /// Write attempts made for the failing batch.
        attempts: u32,
        /// The last driver error.
        source: sqlx::Error,
    },
    /// The spool could not be opened at start.
    #[error("opening the sink spool: {0}")]
    Spool(#[from] super::spool::SpoolError),
    /// The sink thread panicked.
    #[error("the sink thread for {url} panicked")]
    Panicked {
        /// Database URL, redacted.
        url: String,
    },
    /// [`SinkSender::send`](super::SinkSender::send) found the sink thread gone; the event
    /// was not queued and is handed back.
    #[error("the sink is gone; event not queued")]
    Closed(Box<SinkEvent>),
}

/// Returns `url` with the password of its user-info part (`user:password@`) and the values
/// of `password`-like query parameters replaced by `***`, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                    let masked = if userinfo.contains(':') { ":***" } else { "" };
                    format!("{scheme}://{user}{masked}@{host}{path}")
                }
                None => base.to_string(),
            }
        }
        None => base.to_string(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.to_ascii_lowercase().contains("password") => {
                    format!("{k}=***")
                }
                _ => kv.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("sqlite://data/peregrine.db"),
            "sqlite://data/peregrine.db"
        );
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(
            redact_url("postgres://u:s3cret@db.example:5432/app?sslmode=require&password=x"),
            "postgres://u:***@db.example:5432/app?sslmode=require&password=***"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
