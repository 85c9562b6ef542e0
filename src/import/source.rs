//! Opening one input file as text: a `.zip` archive's CSV entry (Binance), a `.gz` stream
//! (Tardis), or a plain file.
//!
//! A zip entry borrows its archive, so an archive is read on its own thread that owns both and
//! hands the inflated bytes over a small bounded channel; the importer can then hold several
//! archives open at once to merge them by time. The zip crate checks the entry's CRC-32 as it
//! reads; a bad one surfaces as a read error.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};

use flate2::read::MultiGzDecoder;

/// Chunks in flight between an archive's thread and the importer.
const CHUNKS_IN_FLIGHT: usize = 4;
/// Size of one inflated chunk.
const CHUNK: usize = 1 << 16;

/// Opens `path` for reading as text, by its extension.
pub fn open(path: &Path) -> io::Result<Box<dyn BufRead>> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = File::open(path)?;
    if name.ends_with(".zip") {
        return Ok(Box::new(BufReader::with_capacity(CHUNK, zip_entry(file)?)));
    }
    if name.ends_with(".gz") {
        return Ok(Box::new(BufReader::with_capacity(
            CHUNK,
            MultiGzDecoder::new(BufReader::new(file)),
        )));
    }
    Ok(Box::new(BufReader::with_capacity(CHUNK, file)))
}

fn zip_err(e: zip::result::ZipError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// The one CSV entry of a Binance archive (the first `.csv` entry, else the first entry).
fn zip_entry(file: File) -> io::Result<ChannelReader> {
    let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(zip_err)?;
    if archive.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the archive is empty",
        ));
    }
    let index = archive
        .file_names()
        .position(|n| n.is_ok_and(|n| n.ends_with(".csv")))
        .unwrap_or(0);
    // Fail here, not on the thread, when the entry cannot be opened at all.
    drop(archive.by_index(index).map_err(zip_err)?);
    let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(CHUNKS_IN_FLIGHT);
    std::thread::Builder::new()
        .name("import-unzip".into())
        .spawn(move || {
            let mut entry = match archive.by_index(index) {
                Ok(e) => e,
                Err(e) => {
                    let _ = tx.send(Err(zip_err(e)));
                    return;
                }
            };
            loop {
                let mut buf = vec![0u8; CHUNK];
                match entry.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.send(Ok(buf)).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        })?;
    Ok(ChannelReader {
        rx,
        chunk: Vec::new(),
        pos: 0,
    })
}

/// `Read` over the chunks an archive's thread sends; the end of the channel is the end of
/// the entry.
struct ChannelReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(c)) => {
                    self.chunk = c;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
