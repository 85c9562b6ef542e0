//! Shared set-up for the NATS tests: a connection to the test server and names of their own
//! per test (stream and subject prefix), so tests run in parallel without sharing a subject.
//!
//! `NATS_URL` (default `nats://127.0.0.1:4222`) names a server with JetStream enabled
//! (`.ci/run` starts one when none listens). Under `CI=true` an unreachable server fails the
//! test; elsewhere the test is skipped with a loud message naming the variable.

#![allow(dead_code)]

use std::time::Duration;

/// Default server when `NATS_URL` is not set.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// The server URL from the environment.
pub fn server_url() -> String {
    std::env::var("NATS_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_string())
}

/// Names one test uses on the shared server: a JetStream stream and the subject prefix its
/// subjects live under (`<prefix>.md.<venue>.<symbol>.<kind>`).
#[derive(Clone, Debug)]
pub struct TestNames {
    /// The stream name (`PEREGRINE_T_<TAG>_<pid>`).
    pub stream: String,
    /// The subject prefix (`t<pid>_<tag>`), instead of `peregrine`.
    pub prefix: String,
}

/// Names for the test `tag` (letters, digits and `_`), unique to this process.
pub fn names(tag: &str) -> TestNames {
    let pid = std::process::id();
    TestNames {
        stream: format!("PEREGRINE_T_{}_{pid}", tag.to_ascii_uppercase()),
        prefix: format!("t{pid}_{tag}"),
    }
}

/// A client of the test server. `None` (after a loud message) when
/// the server is not reachable outside CI.
pub async fn client() -> Option<async_nats::Client> {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let url = server_url();
    let connect = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .connect(url.as_str());
    let client = match tokio::time::timeout(Duration::from_secs(10), connect).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) if !in_ci => {
            eprintln!("\n*** SKIPPED: NATS not reachable at {url} ({e}). Set NATS_URL to run this test. ***\n");
            return None;
        }
        Err(_) if !in_ci => {
            eprintln!("\n*** SKIPPED: NATS connect to {url} timed out. Set NATS_URL to run this test. ***\n");
            return None;
        }
        Ok(Err(e)) => panic!("CI=true and NATS is not reachable (NATS_URL or {DEFAULT_URL}): {e}"),
        Err(_) => panic!("CI=true and connecting to NATS timed out (NATS_URL or {DEFAULT_URL})"),
    };
    // JetStream is checked by the tests' own stream creation (a server without `-js` fails
    // them, in CI and out of it).
    Some(client)
}

/// A client and this test's names, with any stream of that name left by an earlier run
/// deleted; `None` when the test is skipped (see [`client`]).
pub async fn fresh(tag: &str) -> Option<(async_nats::Client, TestNames)> {
    let client = client().await?;
    let names = names(tag);
    drop_stream(&client, &names.stream).await;
    Some((client, names))
}

/// True if `python3` can import `modules` (comma-separated). Under `CI=true` it must (the
/// test fails); elsewhere a loud skip message names `requirements`.
pub fn python_has(modules: &str, requirements: &str) -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !in_ci,
            "CI=true and python3 cannot import {modules} (pip install -r {requirements})"
        );
        eprintln!(
            "\n*** SKIPPED: python3 cannot import {modules} (pip install -r {requirements}). ***\n"
        );
    }
    ok
}

/// Deletes the stream (best effort; a failed test leaves it for inspection, and the next run
/// uses another pid).
pub async fn drop_stream(client: &async_nats::Client, stream: &str) {
    let _ = async_nats::jetstream::new(client.clone())
        .delete_stream(stream)
        .await;
}
