//! The Python bridge's own tests (`python/tests`, pytest; nats-py and pytest pinned in
//! `python/requirements.txt`, installed by `.ci/run`): the bus decoder against messages built
//! from the documented binary layout, the JSON form, and the signal JSON.
//!
//! Without Python's pytest and nats-py the test is skipped with a loud message, except under
//! `CI=true`, where it fails.

mod nats_support;

use std::path::Path;
use std::process::Command;

#[test]
fn python_bridge_pytest_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !nats_support::python_has("nats, pytest", "python/requirements.txt") {
        return;
    }
    let out = Command::new("python3")
        .args(["-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"])
        .current_dir(root.join("python"))
        .output()
        .expect("run pytest");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "pytest failed:\n{text}");
    assert!(text.contains("passed"), "{text}");
}
