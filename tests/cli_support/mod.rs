//! Running the `peregrine` binary from a test and reading what it wrote: shared by CLI tests
//! (a directory with a `mod.rs`, not a test target).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

/// The repository root (the binary runs there).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `peregrine` binary, run from the repository root, logging warnings only.
pub fn peregrine() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_peregrine"));
    c.env("RUST_LOG", "warn").current_dir(root());
    c
}

/// The stdout of a run that must have succeeded (else a panic with both streams).
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A JSON string holding an exact decimal.
pub fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap()).unwrap()
}

/// Every line of a JSON-lines file.
pub fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
