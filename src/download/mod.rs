//! `peregrine download`: a symbol's Binance public data files for a date range, each verified
//! against its `.CHECKSUM`, resumable.
//!
//! Per file: a file already in `--out` whose `.CHECKSUM` beside it verifies is skipped with no
//! request. Otherwise the `.CHECKSUM` is fetched, then the archive into `<name>.part`: a
//! `.part` left by an interrupted run is continued with an HTTP `Range` request (a server that
//! answers 200 instead of 206 sends the whole file again, which replaces it). The finished
//! `.part` must match the checksum before it is renamed to `<name>` (a mismatch deletes it:
//! the next run starts that file afresh). A progress bar is shown only when stderr is a
//! terminal.

pub mod layout;

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use reqwest::header::{CONTENT_LENGTH, RANGE};
use reqwest::StatusCode;

use self::layout::{Date, Kind, Period, RemoteFile};
use crate::import::checksum::{self, ChecksumError};

/// Binance's public data host.
pub const DEFAULT_BASE_URL: &str = "https://data.binance.vision";

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The request failed (connection, timeout, body).
    #[error("GET {url}: {source}")]
    Http {
        /// The URL.
        url: String,
        /// The client error.
        source: reqwest::Error,
    },
    /// The server has no such file (not published, or a date before the symbol listed).
    #[error("GET {url}: not found (not published for this date?)")]
    NotFound {
        /// The URL.
        url: String,
    },
    /// The server answered with an unexpected status.
    #[error("GET {url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: StatusCode,
    },
    /// A local file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A downloaded file does not match its checksum.
    #[error(transparent)]
    Checksum(#[from] ChecksumError),
    /// The request itself is wrong (the message says what).
    #[error("{0}")]
    Invalid(String),
}

/// What to download.
#[derive(Clone, Debug)]
pub struct DownloadConfig {
    /// Venue symbol (`BTCUSDT`; `BTC-USDT` is accepted).
    pub symbol: String,
    /// Data set.
    pub kind: Kind,
    /// Kline interval (klines only).
    pub interval: String,
    /// Daily or monthly files.
    pub period: Period,
    /// First date (inclusive).
    pub from: Date,
    /// Last date (inclusive).
    pub to: Date,
    /// Directory the files go to.
    pub out: PathBuf,
    /// Base URL (default [`DEFAULT_BASE_URL`]).
    pub base_url: String,
}

/// What happened to one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Already here and verified; nothing fetched.
    Skipped,
    /// Fetched and verified; `resumed_from` bytes were already in the `.part`.
    Downloaded {
        /// Bytes fetched now.
        bytes: u64,
        /// Bytes kept from an earlier, interrupted run.
        resumed_from: u64,
    },
}

/// The files of one run and what happened to each, in date order.
pub type DownloadReport = Vec<(PathBuf, Outcome)>;

/// Downloads every file `cfg` names.
pub async fn run(cfg: &DownloadConfig) -> Result<DownloadReport, DownloadError> {
    let symbol: String = cfg
        .symbol
        .chars()
        .filter(|c| *c != '-' && *c != '/')
        .collect::<String>()
        .to_ascii_uppercase();
    if symbol.is_empty() || !symbol.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(DownloadError::Invalid(format!(
            "--symbol {:?} is not a Binance symbol",
            cfg.symbol
        )));
    }
    if cfg.from > cfg.to {
        return Err(DownloadError::Invalid(format!(
            "--from {} is after --to {}",
            cfg.from, cfg.to
        )));
    }
    std::fs::create_dir_all(&cfg.out).map_err(|source| DownloadError::Io {
        path: cfg.out.clone(),
        source,
    })?;
    let files = layout::files(
        &symbol,
        cfg.kind,
        &cfg.interval,
        cfg.period,
        cfg.from,
        cfg.to,
    );
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|source| DownloadError::Http {
            url: cfg.base_url.clone(),
            source,
        })?;
    let base = cfg.base_url.trim_end_matches('/');
    let progress = std::io::stderr().is_terminal();
    let mut report = Vec::with_capacity(files.len());
    for f in &files {
        let dest = cfg.out.join(&f.name);
        let outcome = fetch(&client, base, f, &dest, progress).await?;
        report.push((dest, outcome));
    }
    Ok(report)
}

async fn fetch(
    client: &reqwest::Client,
    base: &str,
    f: &RemoteFile,
    dest: &Path,
    progress: bool,
) -> Result<Outcome, DownloadError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DownloadError::Io { path, source }
    };
    if dest.exists() {
        match checksum::verify_beside(dest) {
            Ok(true) => return Ok(Outcome::Skipped),
            // No checksum kept, or the file no longer matches it: fetch it again.
            Ok(false) | Err(ChecksumError::Mismatch { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let url = format!("{base}/{}", f.path);
    let sum_url = format!("{url}.CHECKSUM");
    let sum_text = get_text(client, &sum_url).await?;
    let sum_path = checksum::beside(dest);
    if checksum::parse(&sum_text).is_none() {
        return Err(ChecksumError::Malformed { path: sum_path }.into());
    }
    let part = {
        let mut s = dest.as_os_str().to_owned();
        s.push(".part");
        PathBuf::from(s)
    };
    let mut have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let mut req = client.get(&url);
    if have > 0 {
        req = req.header(RANGE, format!("bytes={have}-"));
    }
    let mut resp = req.send().await.map_err(|source| DownloadError::Http {
        url: url.clone(),
        source,
    })?;
    let append = match resp.status() {
        StatusCode::PARTIAL_CONTENT if have > 0 => true,
        StatusCode::OK => {
            have = 0;
            false
        }
        // The `.part` already holds the whole file (or more): check it as it is.
        StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => {
            return finish(&part, dest, &sum_path, &sum_text, 0, have);
        }
        StatusCode::NOT_FOUND => return Err(DownloadError::NotFound { url }),
        status => return Err(DownloadError::Status { url, status }),
    };
    let remaining = resp
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let bar = if progress {
        let bar = ProgressBar::new(have + remaining.unwrap_or(0));
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(f.name.clone());
        bar.set_position(have);
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(&part)
        .map_err(io(&part))?;
    let mut got = 0u64;
    while let Some(chunk) = resp.chunk().await.map_err(|source| DownloadError::Http {
        url: url.clone(),
        source,
    })? {
        file.write_all(&chunk).map_err(io(&part))?;
        got += chunk.len() as u64;
        bar.inc(chunk.len() as u64);
    }
    file.sync_all().map_err(io(&part))?;
    drop(file);
    bar.finish_and_clear();
    finish(&part, dest, &sum_path, &sum_text, got, have)
}

/// Verifies the complete `.part`, then moves it and its checksum into place.
fn finish(
    part: &Path,
    dest: &Path,
    sum_path: &Path,
    sum_text: &str,
    got: u64,
    had: u64,
) -> Result<Outcome, DownloadError> {
    if let Err(e) = checksum::verify_text(part, sum_path, sum_text) {
        // A bad `.part` must not be continued next time.
        let _ = std::fs::remove_file(part);
        return Err(match e {
            ChecksumError::Mismatch {
                expected, actual, ..
            } => ChecksumError::Mismatch {
                path: dest.to_path_buf(),
                expected,
                actual,
            }
            .into(),
            other => other.into(),
        });
    }
    std::fs::rename(part, dest).map_err(|source| DownloadError::Io {
        path: dest.to_path_buf(),
        source,
    })?;
    std::fs::write(sum_path, sum_text).map_err(|source| DownloadError::Io {
        path: sum_path.to_path_buf(),
        source,
    })?;
    Ok(Outcome::Downloaded {
        bytes: got,
        resumed_from: had,
    })
}

async fn get_text(client: &reqwest::Client, url: &str) -> Result<String, DownloadError> {
    let http = |source| DownloadError::Http {
        url: url.to_string(),
        source,
    };
    let resp = client.get(url).send().await.map_err(http)?;
    match resp.status() {
        StatusCode::OK => resp.text().await.map_err(http),
        StatusCode::NOT_FOUND => Err(DownloadError::NotFound {
            url: url.to_string(),
        }),
        status => Err(DownloadError::Status {
            url: url.to_string(),
            status,
        }),
    }
}

/// The report `peregrine download` prints.
pub fn render(report: &DownloadReport) -> String {
    let mut s = String::new();
    for (path, outcome) in report {
        let what = match outcome {
            Outcome::Skipped => "already here, checksum verified".to_string(),
            Outcome::Downloaded {
                bytes,
                resumed_from: 0,
            } => format!("downloaded {bytes} bytes, checksum verified"),
            Outcome::Downloaded {
                bytes,
                resumed_from,
            } => format!(
                "resumed at byte {resumed_from}, downloaded {bytes} more, checksum verified"
            ),
        };
        s.push_str(&format!("{}: {what}\n", path.display()));
    }
    s
}
