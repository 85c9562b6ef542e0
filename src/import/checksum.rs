//! Binance's `.CHECKSUM` files: `sha256sum` output (`<64 hex digits>  <file name>`) beside
//! each archive. Used by `peregrine import` (a file with one beside it must match) and by
//! `peregrine download` (every downloaded file is verified).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Why a checksum check failed.
#[derive(Debug, thiserror::Error)]
pub enum ChecksumError {
    /// The file or its checksum file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The checksum file is not `sha256sum` output.
    #[error("{path}: not a SHA-256 checksum line")]
    Malformed {
        /// The checksum file.
        path: PathBuf,
    },
    /// The file's SHA-256 differs from the one its checksum file gives.
    #[error("{path}: SHA-256 {actual} differs from {expected} in its .CHECKSUM")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// From the checksum file.
        expected: String,
        /// Computed.
        actual: String,
    },
}

/// The path of the checksum file beside `file` (`X.zip` -> `X.zip.CHECKSUM`).
pub fn beside(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".CHECKSUM");
    PathBuf::from(s)
}

/// The lower-case hex digest a checksum text gives (its first field).
pub fn parse(text: &str) -> Option<String> {
    let hex = text.split_whitespace().next()?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

/// SHA-256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, ChecksumError> {
    let io = |source| ChecksumError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Checks `file` against the digest in `checksum_text` (read from `checksum_path`).
pub fn verify_text(
    file: &Path,
    checksum_path: &Path,
    checksum_text: &str,
) -> Result<(), ChecksumError> {
    let expected = parse(checksum_text).ok_or_else(|| ChecksumError::Malformed {
        path: checksum_path.to_path_buf(),
    })?;
    let actual = sha256_file(file)?;
    if actual != expected {
        return Err(ChecksumError::Mismatch {
            path: file.to_path_buf(),
            expected,
            actual,
        });
    }
    Ok(())
}

/// Checks `file` against the `.CHECKSUM` beside it: `Ok(true)` verified, `Ok(false)` there is
/// none.
pub fn verify_beside(file: &Path) -> Result<bool, ChecksumError> {
    let path = beside(file);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(source) => return Err(ChecksumError::Io { path, source }),
    };
    verify_text(file, &path, &text)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_and_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("A.zip");
        std::fs::write(&f, b"abc").unwrap();
        assert!(!verify_beside(&f).unwrap());
        // SHA-256("abc"), the FIPS 180-2 example.
        let good = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        std::fs::write(beside(&f), format!("{good}  A.zip\n")).unwrap();
        assert!(verify_beside(&f).unwrap());
        std::fs::write(&f, b"abd").unwrap();
        let e = verify_beside(&f).unwrap_err().to_string();
        assert!(e.contains("differs from ba7816bf"), "{e}");
        std::fs::write(beside(&f), "nonsense\n").unwrap();
        assert!(matches!(
            verify_beside(&f),
            Err(ChecksumError::Malformed { .. })
        ));
    }
}
