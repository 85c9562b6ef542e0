//! The run identity: the `run` half of every [`ClientOrderId`](crate::order::ClientOrderId),
//! unique by construction across restarts, clock steps and several engines on one account.
//!
//! A run id is 64 bits: the high [`SEQUENCE_BITS`] are the next value of a sequence persisted
//! in a file (the config's `engine.run_sequence_file`), the low [`RANDOM_BITS`] come from the
//! operating system's random number generator. No clock is read.
//!
//! - The sequence is taken under an exclusive lock on `<file>.lock`, read from `<file>`,
//!   incremented and written back through `<file>.tmp`, `fsync`, `rename` and an `fsync` of
//!   the directory, so two engines sharing the file (one machine, one data dir) never take
//!   the same value, and a crash at any point leaves either the old or the new value.
//! - The random part separates engines that do not share the file (other machines, other
//!   data dirs) and a sequence file restored from a backup or copied to a second machine.
//! - The sequence starts at 1, so every run id is at least 2^40: it can never equal a run id
//!   of the earlier scheme (the wall-clock second, below 2^32), whose ids stay parseable.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Bits of a run id holding the persisted sequence.
pub const SEQUENCE_BITS: u32 = 24;
/// Bits of a run id holding OS randomness.
pub const RANDOM_BITS: u32 = 64 - SEQUENCE_BITS;
/// The largest sequence value a run can take (the file then refuses further runs).
pub const MAX_SEQUENCE: u64 = (1 << SEQUENCE_BITS) - 1;

/// Errors taking a run identity. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum RunIdError {
    /// The sequence file or its lock could not be read, written or locked.
    #[error("run sequence file {path}: {what}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The sequence file holds something other than a sequence number.
    #[error("run sequence file {path} is corrupt (expected one decimal number, found {found:?})")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What it holds (at most 64 characters).
        found: String,
    },
    /// Every sequence value has been used.
    #[error(
        "run sequence file {path} is exhausted ({MAX_SEQUENCE} runs); remove it to start a new \
         sequence (the random part of the run id keeps new runs apart from old ones)"
    )]
    Exhausted {
        /// The file.
        path: PathBuf,
    },
    /// The operating system's random number generator failed.
    #[error("the OS random number generator failed: {0}")]
    Random(String),
}

/// A run identity taken from the sequence file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunIdentity {
    /// The run id carried by every client order id of the run.
    pub run: u64,
    /// The sequence value taken (the high bits of `run`).
    pub sequence: u64,
}

impl RunIdentity {
    /// Builds the run id from a sequence value (`1..=MAX_SEQUENCE`) and random bits (only the
    /// low [`RANDOM_BITS`] are used).
    pub fn compose(sequence: u64, random: u64) -> Self {
        let mask = (1u64 << RANDOM_BITS) - 1;
        Self {
            run: (sequence << RANDOM_BITS) | (random & mask),
            sequence,
        }
    }
}

/// Takes the next run identity from the sequence file at `path` (created with its directory
/// if missing), with random bits from the operating system.
pub fn acquire(path: &Path) -> Result<RunIdentity, RunIdError> {
    acquire_with(path, os_random)
}

/// [`acquire`] with the random bits from `random` (tests pass a fixed source to show that the
/// sequence alone keeps runs apart).
pub fn acquire_with(
    path: &Path,
    random: impl FnOnce() -> Result<u64, RunIdError>,
) -> Result<RunIdentity, RunIdError> {
    let io = |what: &'static str| {
        let path = path.to_path_buf();
        move |source| RunIdError::Io { path, what, source }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io("creating its directory"))?;
    let lock_path = sibling(path, "lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io("opening the lock file"))?;
    // Held until `lock` is dropped at the end of this function (also released if the process
    // dies). The lock file is never renamed, so every engine locks the same inode.
    lock.lock().map_err(io("locking"))?;

    let last = read_sequence(path)?;
    if last >= MAX_SEQUENCE {
        return Err(RunIdError::Exhausted {
            path: path.to_path_buf(),
        });
    }
    let sequence = last + 1;
    let random = random()?;

    let tmp = sibling(path, "tmp");
    let mut f = File::create(&tmp).map_err(io("creating the temporary file"))?;
    f.write_all(format!("{sequence}\n").as_bytes())
        .map_err(io("writing the temporary file"))?;
    f.sync_all().map_err(io("syncing the temporary file"))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io("renaming the temporary file over it"))?;
    sync_dir(&dir).map_err(io("syncing its directory"))?;
    drop(lock);
    Ok(RunIdentity::compose(sequence, random))
}

/// The last sequence value taken (0 when the file does not exist yet).
fn read_sequence(path: &Path) -> Result<u64, RunIdError> {
    let mut text = String::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_string(&mut text)
                .map_err(|source| RunIdError::Io {
                    path: path.to_path_buf(),
                    what: "reading",
                    source,
                })?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(RunIdError::Io {
                path: path.to_path_buf(),
                what: "opening",
                source,
            })
        }
    }
    let t = text.trim();
    match t.parse::<u64>() {
        Ok(n) if t.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(RunIdError::Corrupt {
            path: path.to_path_buf(),
            found: t.chars().take(64).collect(),
        }),
    }
}

/// `<path>.<ext>` (the extension appended, not replaced).
fn sibling(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// 64 random bits from the operating system.
fn os_random() -> Result<u64, RunIdError> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| RunIdError::Random(e.to_string()))?;
    Ok(u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests;
