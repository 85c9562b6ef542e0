//! `peregrine sim` in a process of its own, for the tests and benches that need the venue to
//! outlive (or run beside) the engine: started on a free port, its addresses read from the
//! banner it prints first, killed when dropped. Shared by `tests/crash_restart.rs` and
//! `benches/e2e.rs` (`#[path]`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running simulator process.
pub struct SimProc {
    child: Child,
    /// Its REST base URL (`http://127.0.0.1:P`).
    pub rest: String,
    /// Its websocket base URL (`ws://127.0.0.1:P`).
    pub ws: String,
}

impl Drop for SimProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bin sim --port 0 --config cfg` with `env` (credentials) and reads its addresses
/// from the first line it prints (`simulator listening: REST http://.. websocket ws://..`).
/// `stderr`: where its log goes.
pub fn start(
    bin: &str,
    cfg: &Path,
    env: &[(&str, &str)],
    stderr: Stdio,
) -> Result<SimProc, String> {
    let mut child = Command::new(bin)
        .args(["sim", "--port", "0", "--config"])
        .arg(cfg)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start peregrine sim: {e}"))?;
    let Some(out) = child.stdout.take() else {
        return Err("no stdout of peregrine sim".into());
    };
    let mut out = BufReader::new(out);
    let mut line = String::new();
    let read = out.read_line(&mut line);
    // Keep draining its stdout: a full or closed pipe would stall or kill it.
    std::thread::spawn(move || {
        let mut rest = String::new();
        while out.read_line(&mut rest).is_ok_and(|n| n > 0) {
            rest.clear();
        }
    });
    let mut proc = SimProc {
        child,
        rest: String::new(),
        ws: String::new(),
    };
    read.map_err(|e| format!("reading the simulator's banner: {e}"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |w: &str| {
        words
            .iter()
            .position(|x| *x == w)
            .and_then(|i| words.get(i + 1))
            .map(|s| s.to_string())
    };
    match (after("REST"), after("websocket")) {
        (Some(rest), Some(ws)) => {
            proc.rest = rest;
            proc.ws = ws;
            Ok(proc)
        }
        _ => Err(format!("unexpected simulator banner {line:?}")),
    }
}
