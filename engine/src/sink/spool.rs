//! The durable local spool: every event is appended here before it is written to the
//! database, and forgotten only after the database committed it.
//!
//! Layout of the spool directory:
//! - `NNNNNNNNNNNNNNNNNNNN.seg`: append-only segments, numbered in order. A record is
//!   `len: u32 LE | crc32: u32 LE | seq: u64 LE | payload (len bytes, JSON of a SinkEvent)`;
//!   the CRC-32 (ISO-HDLC, as zlib's) covers `seq` and the payload.
//! - `committed`: the highest sequence number the database has committed (decimal text,
//!   replaced atomically by rename). Records at or below it are never replayed.
//! - `quarantine/`: byte ranges that failed their checksum (or could not be decoded), one
//!   file each, named after the segment and offset, kept for a human to look at.
//!
//! Sequence numbers are the engine's event sequence, also stored in the database to guard
//! upserts. They increase across restarts: a new spool starts at `max(last seen + 1,
//! committed + 1, wall clock in ns)`, so even a deleted spool directory cannot make new
//! events look older than stored ones (unless the wall clock went back).
//!
//! Crash safety: segments are only appended to; a crash can leave a torn record at the end
//! of the last segment, which [`Spool::open`] quarantines and cuts off. A record whose
//! checksum fails in the middle is quarantined and skipped, and reading resumes at the next
//! record that checks out. A stale `committed` file only causes already-written events to be
//! replayed, which the database's natural keys and seq guards make harmless.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crc::{Crc, CRC_32_ISO_HDLC};

use crate::events::SinkEvent;

/// CRC-32 as used by zlib, PNG and Ethernet.
static CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// Bytes before the payload: length, checksum, sequence number.
const HEADER: usize = 16;
/// Largest payload accepted when reading; anything longer is treated as corruption.
const MAX_RECORD: usize = 1 << 20;
/// Name of the committed-offset file.
const COMMITTED: &str = "committed";
/// The file whose exclusive lock marks the directory as in use by one spool.
const LOCK: &str = "LOCK";

/// When the spool forces its appends to stable storage (`fdatasync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After every burst of appended events (before they can be part of a database batch).
    EveryBatch,
    /// At most once per interval; a power loss can lose that much. A process crash
    /// (`kill -9`) loses nothing either way: written bytes are in the OS page cache.
    Interval(Duration),
    /// Never; left to the OS.
    Never,
}

/// Where and how the spool keeps its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpoolConfig {
    /// Directory of the spool (created if missing). One engine per directory.
    pub dir: PathBuf,
    /// Fsync policy for appends.
    pub fsync: FsyncPolicy,
    /// A new segment is started once the current one reaches this size.
    pub segment_bytes: u64,
}

impl SpoolConfig {
    /// Default segment size: 8 MiB.
    pub const DEFAULT_SEGMENT_BYTES: u64 = 8 << 20;

    /// A spool in `dir` with fsync after every batch and the default segment size.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            fsync: FsyncPolicy::EveryBatch,
            segment_bytes: Self::DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// Spool failures: I/O on a named file, or an event that could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// Reading, writing, syncing, renaming or deleting a spool file failed.
    #[error("spool file {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: String,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// Another spool (another engine process, or another one in this process) holds the
    /// directory: two writers would replay each other's records into their databases.
    #[error("spool directory {dir} is in use by another engine (its LOCK file is held); give each engine its own sink.spool_dir")]
    Locked {
        /// The spool directory.
        dir: String,
    },
    /// An event could not be serialized (should not happen for plain rows).
    #[error("encoding a spool record: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Takes the directory's exclusive lock, or says that another spool holds it.
fn lock_dir(dir: &Path) -> Result<File, SpoolError> {
    let path = dir.join(LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(SpoolError::Locked {
            dir: dir.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(&path)(e)),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What [`Spool::open`] found: the events not yet committed, in order, and what it had to
/// quarantine.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Uncommitted events with their sequence numbers, oldest first.
    pub events: Vec<(u64, SinkEvent)>,
    /// Byte ranges quarantined (checksum failures, undecodable records, torn tails).
    pub quarantined: u64,
    /// Total bytes quarantined.
    pub quarantined_bytes: u64,
}

/// One segment file.
#[derive(Debug)]
struct Segment {
    path: PathBuf,
    /// Highest sequence number in it (0 when empty).
    last_seq: u64,
    /// Size in bytes.
    bytes: u64,
}

/// An open spool (see the module docs). Owned by the sink thread.
#[derive(Debug)]
pub struct Spool {
    /// Held for the spool's lifetime (released on drop, or by the OS when the process dies).
    _lock: File,
    cfg: SpoolConfig,
    /// Closed segments, oldest first.
    closed: VecDeque<Segment>,
    /// The segment being appended to.
    active: Segment,
    /// Number of the active segment.
    active_no: u64,
    writer: BufWriter<File>,
    next_seq: u64,
    committed: u64,
    /// Appended but not yet synced per the policy.
    dirty: bool,
    last_sync: Instant,
    /// Reused encoding buffer.
    buf: Vec<u8>,
}

impl Spool {
    /// Opens (or creates) the spool in `cfg.dir`, reads every segment, quarantines what
    /// fails its checksum, cuts a torn tail, and returns the uncommitted events in order.
    /// New appends go to a fresh segment.
    pub fn open(cfg: SpoolConfig) -> Result<(Self, Recovered), SpoolError> {
        std::fs::create_dir_all(&cfg.dir).map_err(io_err(&cfg.dir))?;
        let lock = lock_dir(&cfg.dir)?;
        let committed_path = cfg.dir.join(COMMITTED);
        let committed = match std::fs::read_to_string(&committed_path) {
            Ok(s) => match s.trim().parse::<u64>() {
                Ok(v) => v,
                Err(_) => {
                    tracing::error!(file = %committed_path.display(), content = %s.trim(),
                        "spool committed-offset file unreadable; replaying every record (duplicates are ignored by the database)");
                    0
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_err(&committed_path)(e)),
        };
        let mut numbered: Vec<(u64, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(&cfg.dir).map_err(io_err(&cfg.dir))? {
            let entry = entry.map_err(io_err(&cfg.dir))?;
            let path = entry.path();
            if path.extension().is_some_and(|x| x == "seg") {
                if let Some(no) = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.parse::<u64>().ok())
                {
                    numbered.push((no, path));
                }
            }
        }
        numbered.sort();
        let mut recovered = Recovered::default();
        let mut closed = VecDeque::new();
        let mut max_seq = committed;
        let last_no = numbered.last().map_or(0, |(n, _)| *n);
        for (_, path) in &numbered {
            let seg = read_segment(&cfg.dir, path, committed, &mut recovered, &mut max_seq)?;
            if seg.last_seq <= committed {
                std::fs::remove_file(&seg.path).map_err(io_err(&seg.path))?;
            } else {
                closed.push_back(seg);
            }
        }
        let now_ns = u64::try_from(crate::clock::Clock::wall_ns()).unwrap_or(0);
        let next_seq = (max_seq + 1).max(now_ns);
        let active_no = last_no + 1;
        let (active, writer) = create_segment(&cfg.dir, active_no)?;
        if recovered.quarantined > 0 {
            tracing::error!(dir = %cfg.dir.display(), ranges = recovered.quarantined,
                bytes = recovered.quarantined_bytes,
                "spool records failed their checksum or were torn; quarantined and skipped");
        }
        Ok((
            Self {
                _lock: lock,
                cfg,
                closed,
                active,
                active_no,
                writer,
                next_seq,
                committed,
                dirty: false,
                last_sync: Instant::now(),
                buf: Vec::with_capacity(512),
            },
            recovered,
        ))
    }

    /// Appends `ev` (buffered; call [`Spool::sync`] after a burst) and returns its sequence
    /// number.
    pub fn append(&mut self, ev: &SinkEvent) -> Result<u64, SpoolError> {
        if self.active.bytes >= self.cfg.segment_bytes {
            self.rotate()?;
        }
        let seq = self.next_seq;
        self.buf.clear();
        self.buf.extend_from_slice(&[0u8; 8]);
        self.buf.extend_from_slice(&seq.to_le_bytes());
        serde_json::to_writer(&mut self.buf, ev)?;
        let len = u32::try_from(self.buf.len() - HEADER).map_err(|_| {
            SpoolError::Encode(serde::ser::Error::custom("record larger than 4 GiB"))
        })?;
        let crc = CRC32.checksum(&self.buf[8..]);
        self.buf[0..4].copy_from_slice(&len.to_le_bytes());
        self.buf[4..8].copy_from_slice(&crc.to_le_bytes());
        self.writer
            .write_all(&self.buf)
            .map_err(io_err(&self.active.path))?;
        self.active.bytes += self.buf.len() as u64;
        self.active.last_seq = seq;
        self.next_seq += 1;
        self.dirty = true;
        Ok(seq)
    }

    /// Hands buffered appends to the OS (so they survive a process crash) and, per the
    /// fsync policy, forces them to disk.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if !self.dirty {
            return Ok(());
        }
        self.writer.flush().map_err(io_err(&self.active.path))?;
        let due = match self.cfg.fsync {
            FsyncPolicy::EveryBatch => true,
            FsyncPolicy::Interval(d) => self.last_sync.elapsed() >= d,
            FsyncPolicy::Never => false,
        };
        if due {
            self.writer
                .get_ref()
                .sync_data()
                .map_err(io_err(&self.active.path))?;
            self.last_sync = Instant::now();
            self.dirty = false;
        } else if self.cfg.fsync == FsyncPolicy::Never {
            self.dirty = false;
        }
        Ok(())
    }

    /// Records that the database committed every event up to `seq`: updates the committed
    /// file, deletes segments that hold nothing newer, and empties the active segment when
    /// all of it is committed.
    pub fn commit(&mut self, seq: u64) -> Result<(), SpoolError> {
        if seq <= self.committed {
            return Ok(());
        }
        self.committed = seq;
        let path = self.cfg.dir.join(COMMITTED);
        let tmp = self.cfg.dir.join("committed.tmp");
        std::fs::write(&tmp, format!("{seq}\n")).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        while self.closed.front().is_some_and(|s| s.last_seq <= seq) {
            if let Some(seg) = self.closed.pop_front() {
                std::fs::remove_file(&seg.path).map_err(io_err(&seg.path))?;
            }
        }
        if self.active.last_seq <= seq && self.active.bytes > 0 {
            self.writer.flush().map_err(io_err(&self.active.path))?;
            let file = self.writer.get_mut();
            file.set_len(0).map_err(io_err(&self.active.path))?;
            file.seek(SeekFrom::Start(0))
                .map_err(io_err(&self.active.path))?;
            self.active.bytes = 0;
            self.dirty = false;
        }
        Ok(())
    }

    /// Bytes currently held in segment files (uncommitted records, plus committed ones
    /// still sharing a segment with uncommitted ones).
    pub fn bytes(&self) -> u64 {
        self.closed.iter().map(|s| s.bytes).sum::<u64>() + self.active.bytes
    }

    /// The sequence number the next append will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The highest committed sequence number.
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// Closes the active segment and starts the next one.
    fn rotate(&mut self) -> Result<(), SpoolError> {
        self.writer.flush().map_err(io_err(&self.active.path))?;
        if self.cfg.fsync != FsyncPolicy::Never {
            self.writer
                .get_ref()
                .sync_data()
                .map_err(io_err(&self.active.path))?;
        }
        self.active_no += 1;
        let (seg, writer) = create_segment(&self.cfg.dir, self.active_no)?;
        let old = std::mem::replace(&mut self.active, seg);
        self.writer = writer;
        if old.last_seq > self.committed {
            self.closed.push_back(old);
        } else {
            std::fs::remove_file(&old.path).map_err(io_err(&old.path))?;
        }
        Ok(())
    }
}

/// Creates segment number `no` (empty) for appending.
fn create_segment(dir: &Path, no: u64) -> Result<(Segment, BufWriter<File>), SpoolError> {
    let path = dir.join(format!("{no:020}.seg"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    // Make the new file's directory entry durable too.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok((
        Segment {
            path,
            last_seq: 0,
            bytes: 0,
        },
        BufWriter::with_capacity(64 << 10, file),
    ))
}

/// Parses the record at `pos` if it is complete and its checksum holds: `(seq, payload
/// range end)`.
fn parse_at(data: &[u8], pos: usize) -> Option<(u64, usize)> {
    let head = data.get(pos..pos + HEADER)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len > MAX_RECORD {
        return None;
    }
    let end = pos + HEADER + len;
    let body = data.get(pos + 8..end)?;
    if CRC32.checksum(body) != crc {
        return None;
    }
    let mut s = [0u8; 8];
    s.copy_from_slice(&head[8..16]);
    Some((u64::from_le_bytes(s), end))
}

/// Copies `bytes` to the quarantine directory, named after the segment and offset.
fn quarantine(
    dir: &Path,
    segment: &Path,
    offset: usize,
    bytes: &[u8],
    why: &str,
    recovered: &mut Recovered,
) -> Result<(), SpoolError> {
    let qdir = dir.join("quarantine");
    std::fs::create_dir_all(&qdir).map_err(io_err(&qdir))?;
    let stem = segment
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("segment");
    let path = qdir.join(format!("{stem}.{offset}.bad"));
    std::fs::write(&path, bytes).map_err(io_err(&path))?;
    tracing::error!(segment = %segment.display(), offset, bytes = bytes.len(),
        quarantine = %path.display(), why, "spool record quarantined and skipped");
    recovered.quarantined += 1;
    recovered.quarantined_bytes += bytes.len() as u64;
    Ok(())
}

/// Reads one segment: collects its uncommitted events, quarantines bad ranges and, if any
/// were found, rewrites the segment with only its good records (so they are reported once).
fn read_segment(
    dir: &Path,
    path: &Path,
    committed: u64,
    recovered: &mut Recovered,
    max_seq: &mut u64,
) -> Result<Segment, SpoolError> {
    let data = std::fs::read(path).map_err(io_err(path))?;
    let mut good: Vec<std::ops::Range<usize>> = Vec::new();
    let mut damaged = false;
    let mut last_seq = 0;
    let mut pos = 0;
    while pos < data.len() {
        match parse_at(&data, pos) {
            Some((seq, end)) => {
                match serde_json::from_slice::<SinkEvent>(&data[pos + HEADER..end]) {
                    Ok(ev) => {
                        if seq > committed {
                            recovered.events.push((seq, ev));
                        }
                        last_seq = last_seq.max(seq);
                        *max_seq = (*max_seq).max(seq);
                        good.push(pos..end);
                    }
                    Err(e) => {
                        damaged = true;
                        quarantine(
                            dir,
                            path,
                            pos,
                            &data[pos..end],
                            &format!("checksum ok but undecodable: {e}"),
                            recovered,
                        )?;
                    }
                }
                pos = end;
            }
            None => {
                // Resynchronise on the next offset where a whole record checks out.
                damaged = true;
                let next = (pos + 1..data.len())
                    .find(|&q| parse_at(&data, q).is_some())
                    .unwrap_or(data.len());
                let why = if next == data.len() {
                    "torn or corrupt tail"
                } else {
                    "checksum mismatch"
                };
                quarantine(dir, path, pos, &data[pos..next], why, recovered)?;
                pos = next;
            }
        }
    }
    let mut bytes = data.len() as u64;
    if damaged {
        let tmp = path.with_extension("seg.tmp");
        let mut out = Vec::with_capacity(data.len());
        for r in &good {
            out.extend_from_slice(&data[r.clone()]);
        }
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&out).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io_err(path))?;
        bytes = out.len() as u64;
    }
    Ok(Segment {
        path: path.to_path_buf(),
        last_seq,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::RiskEventRow;

    #[test]
    fn a_directory_held_by_one_spool_is_refused_to_another_until_it_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (first, _) = Spool::open(SpoolConfig::new(dir.path())).unwrap();
        match Spool::open(SpoolConfig::new(dir.path())) {
            Err(SpoolError::Locked { dir: d }) => assert_eq!(d, dir.path().display().to_string()),
            Err(e) => panic!("expected Locked, got {e}"),
            Ok(_) => panic!("a second spool opened a held directory"),
        }
        drop(first);
        Spool::open(SpoolConfig::new(dir.path())).expect("free again after drop");
    }

    fn ev(i: u32) -> SinkEvent {
        SinkEvent::Risk(RiskEventRow {
            id: format!("r-{i}"),
            ts_ns: i64::from(i),
            strategy: None,
            symbol: Some("BTC-USDT".into()),
            reason: "test".into(),
            message: format!("event {i}"),
        })
    }

    fn ids(r: &Recovered) -> Vec<String> {
        r.events
            .iter()
            .map(|(_, e)| match e {
                SinkEvent::Risk(r) => r.id.clone(),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    fn segs(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "seg"))
            .collect();
        v.sort();
        v
    }

    fn write_n(dir: &Path, n: u32) -> Vec<u64> {
        let (mut sp, rec) = Spool::open(SpoolConfig::new(dir)).unwrap();
        assert!(rec.events.is_empty());
        let seqs: Vec<u64> = (0..n).map(|i| sp.append(&ev(i)).unwrap()).collect();
        sp.sync().unwrap();
        seqs
    }

    #[test]
    fn reopen_returns_uncommitted_in_order_and_seq_keeps_rising() {
        let dir = tempfile::tempdir().unwrap();
        let (mut sp, _) = Spool::open(SpoolConfig::new(dir.path())).unwrap();
        let seqs: Vec<u64> = (0..10).map(|i| sp.append(&ev(i)).unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
        sp.sync().unwrap();
        sp.commit(seqs[3]).unwrap();
        drop(sp);
        let (sp, rec) = Spool::open(SpoolConfig::new(dir.path())).unwrap();
        assert_eq!(
            ids(&rec),
            (4..10).map(|i| format!("r-{i}")).collect::<Vec<_>>()
        );
        assert_eq!(rec.quarantined, 0);
        assert!(sp.next_seq() > seqs[9]);
        assert_eq!(sp.committed(), seqs[3]);
    }

    #[test]
    fn commit_of_everything_empties_the_spool() {
        let dir = tempfile::tempdir().unwrap();
        let (mut sp, _) = Spool::open(SpoolConfig {
            segment_bytes: 300,
            ..SpoolConfig::new(dir.path())
        })
        .unwrap();
        let mut last = 0;
        for i in 0..20 {
            last = sp.append(&ev(i)).unwrap();
        }
        sp.sync().unwrap();
        assert!(segs(dir.path()).len() > 2, "small segments rotate");
        assert!(sp.bytes() > 0);
        sp.commit(last).unwrap();
        assert_eq!(sp.bytes(), 0);
        assert_eq!(segs(dir.path()).len(), 1, "only the (empty) active segment");
        drop(sp);
        let (_, rec) = Spool::open(SpoolConfig::new(dir.path())).unwrap();
        assert!(rec.events.is_empty());
    }

    #[test]
    fn torn_tail_is_quarantined_and_cut() {
        let dir = tempfile::tempdir().unwrap();
        write_n(dir.path(), 5);
        let seg = segs(dir.path()).pop().unwrap();
        let len = std::fs::metadata(&seg).unwrap().len();
        // A crash in the middle of writing the last record.
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len - 7).unwrap();
        drop(f);
        let (_, rec) = Spool::open(SpoolConfig::new(dir.path())).unwrap();
        assert_eq!(ids(&rec), vec!["r-0", "r-1", "r-2", "r-3"]);
        assert_eq!(rec.quarantined, 1);
        let q: Vec<_> = std::fs::read_dir(dir.path().join("quarantine"))
            .unwrap()
            .collect();
        assert_eq!(q.len(), 1);
        // Reported once: the segment was rewritten without the torn bytes.
        let (_, rec) = Spool::open(SpoolConfig::new(dir.path())).unwrap();
        assert_eq!(rec.events.len(), 4);
        assert_eq!(rec.quarantined, 0);
    }

    #[test]
    fn corrupt_middle_record_is_quarantined_and_the_rest_read() {
        let dir = tempfile::tempdir().unwrap();
        write_n(dir.path(), 5);
        let seg = segs(dir.path()).pop().unwrap();
        let mut data = std::fs::read(&seg).unwrap();
        // Flip a payload byte of the third record.
        let mut pos = 0;
        for _ in 0..2 {
            let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
            pos += HEADER + len;
        }
        data[pos + HEADER + 3] ^= 0x55;
        std::fs::write(&seg, &data).unwrap();
        let (_, rec) = Spool::open(SpoolConfig::new(dir.path())).unwrap();
        assert_eq!(ids(&rec), vec!["r-0", "r-1", "r-3", "r-4"]);
        assert_eq!(rec.quarantined, 1);
        let qdir = dir.path().join("quarantine");
        let q: Vec<_> = std::fs::read_dir(&qdir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(q.len(), 1);
        assert!(String::from_utf8_lossy(&std::fs::read(&q[0]).unwrap()).contains("event"));
    }

    #[test]
    fn corrupt_length_resynchronises_on_the_next_good_record() {
        let dir = tempfile::tempdir().unwrap();
        write_n(dir.path(), 4);
        let seg = segs(dir.path()).pop().unwrap();
        let mut data = std::fs::read(&seg).unwrap();
        data[1] = 0xff; // first record's length becomes huge
        std::fs::write(&seg, &data).unwrap();
        let (_, rec) = Spool::open(SpoolConfig::new(dir.path())).unwrap();
        assert_eq!(ids(&rec), vec!["r-1", "r-2", "r-3"]);
        assert_eq!(rec.quarantined, 1);
    }
}
