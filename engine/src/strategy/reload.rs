//! Hot reload: a watcher thread polls the files of the strategies that asked for it
//! (`hot_reload = true`), and when one's content changes it checks the new version on its own
//! thread (compile, callbacks, function calls) and hands the source to the core loop, which
//! swaps it in between events ([`super::StrategyHost::reload`]).
//!
//! Rhai is built without its `sync` feature (our registered functions share the strategy's
//! state through `Rc<RefCell<..>>`), so an `AST` is not `Send`: the watcher cannot hand over
//! the compiled AST. The expensive, fallible part (reading, checking, reporting errors) runs
//! on the watcher thread; the core thread compiles the already-checked source once more when
//! it swaps (a parse of a few KB; see `benches/README.md`).

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{unbounded, Receiver, Sender};

use super::check_source;

/// Where a new version of a strategy comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadOrigin {
    /// Its file changed (`hot_reload = true`).
    File,
    /// Its `strategies` row in the database changed (this `version` of the row).
    Database {
        /// The row's version.
        version: i64,
    },
}

impl ReloadOrigin {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadOrigin::File => "file",
            ReloadOrigin::Database { .. } => "database",
        }
    }
}

/// A new version of a strategy, checked off the core thread.
#[derive(Clone, Debug)]
pub struct Reloaded {
    /// Index of the strategy (its position in the config).
    pub strategy: usize,
    /// The new source.
    pub source: String,
    /// Its [`source_hash`].
    pub hash: u64,
    /// New parameters (`None`: keep the running ones).
    pub params: Option<std::collections::BTreeMap<String, toml::Value>>,
    /// File or database row.
    pub origin: ReloadOrigin,
    /// Why the check refused it (the core records the refusal and keeps the running
    /// version); `None` if it passed.
    pub refused: Option<String>,
}

/// The watcher thread; it stops at its next poll after this handle is dropped.
#[derive(Debug)]
pub struct ReloadWatcher {
    _alive: Arc<()>,
    rx: Receiver<Reloaded>,
    _thread: JoinHandle<()>,
}

impl ReloadWatcher {
    /// Watches `(strategy index, file, hash of the running source)` every `interval`.
    pub fn spawn(files: Vec<(usize, PathBuf, u64)>, interval: Duration) -> std::io::Result<Self> {
        let alive = Arc::new(());
        let weak = Arc::downgrade(&alive);
        let (tx, rx) = unbounded();
        let thread = std::thread::Builder::new()
            .name("strategy-reload".into())
            .spawn(move || watch(files, interval, weak, tx))?;
        Ok(Self {
            _alive: alive,
            rx,
            _thread: thread,
        })
    }

    /// New versions, in the order they were seen.
    pub fn receiver(&self) -> &Receiver<Reloaded> {
        &self.rx
    }
}

struct Watched {
    strategy: usize,
    file: PathBuf,
    stamp: Option<(SystemTime, u64)>,
    hash: u64,
}

fn stamp(file: &PathBuf) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(file).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn watch(
    files: Vec<(usize, PathBuf, u64)>,
    interval: Duration,
    alive: Weak<()>,
    tx: Sender<Reloaded>,
) {
    let mut watched: Vec<Watched> = files
        .into_iter()
        .map(|(strategy, file, hash)| Watched {
            strategy,
            stamp: stamp(&file),
            file,
            hash,
        })
        .collect();
    loop {
        std::thread::sleep(interval);
        if alive.upgrade().is_none() {
            return;
        }
        for w in &mut watched {
            let now = stamp(&w.file);
            if now == w.stamp {
                continue;
            }
            w.stamp = now;
            let source = match std::fs::read_to_string(&w.file) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(file = %w.file.display(), "hot reload: cannot read: {e}");
                    continue;
                }
            };
            let hash = source_hash(&source);
            if hash == w.hash {
                continue;
            }
            w.hash = hash;
            let problems = check_source(&w.file, &source);
            if !problems.is_empty() {
                for p in &problems {
                    tracing::error!("hot reload refused, the running version stays: {p}");
                }
                continue;
            }
            tracing::info!(file = %w.file.display(), "hot reload: new version checked");
            if tx
                .send(Reloaded {
                    strategy: w.strategy,
                    source,
                    hash,
                    params: None,
                    origin: ReloadOrigin::File,
                    refused: None,
                })
                .is_err()
            {
                return;
            }
        }
    }
}

/// FNV-1a hash of a source text (identifies a version; not cryptographic).
pub fn source_hash(source: &str) -> u64 {
    source.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
