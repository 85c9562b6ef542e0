//! The feed node's side of the bus: the JetStream stream, the publisher, and the book
//! snapshot responder.
//!
//! Every market-data subject (`<prefix>.md.>`) is captured by one JetStream stream (replay,
//! gap recovery), created if missing with the configured retention. The publisher sends
//! with core NATS publishes (no per-message acknowledgement wait; the stream stores what the
//! server receives). It keeps each instrument's book as published ([`BookShelf`]) so that
//! [`serve_snapshots`] can answer a request on `<prefix>.snap.<venue>.<symbol>` with a
//! `book_snapshot` event whose `seq` is the last book sequence it contains: a consumer applies
//! the deltas numbered above it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt;
use peregrine_engine::book::OrderBook;
use peregrine_engine::clock::Clock;
use peregrine_engine::tick::{BookDelta, FeedStatus};
use peregrine_engine::types::{InstrumentId, Instruments, Side};
use tokio::sync::watch;

use super::codec::{BookLevels, BusEvent, Kind, Payload};
use super::subject::{check_token, Subjects, TokenError};

/// Errors of the bus's NATS side.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// A venue or symbol cannot be a subject token.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Creating or reading the JetStream stream failed.
    #[error("JetStream stream {stream}: {message}")]
    Stream {
        /// The stream name.
        stream: String,
        /// The server's or client's message.
        message: String,
    },
    /// A publish could not be queued (the connection is closed).
    #[error("publish to {subject}: {message}")]
    Publish {
        /// The subject.
        subject: String,
        /// The client's message.
        message: String,
    },
    /// Subscribing failed.
    #[error("subscribe to {subject}: {message}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// The client's message.
        message: String,
    },
}

/// The JetStream stream's settings.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    /// Stream name.
    pub name: String,
    /// Messages older than this are removed (`None`: no age limit).
    pub max_age: Option<Duration>,
    /// Size limit in bytes (`None`: none).
    pub max_bytes: Option<u64>,
    /// Messages kept per subject (`None`: no limit).
    pub max_msgs_per_subject: Option<u64>,
    /// In memory instead of on disk.
    pub memory: bool,
}

/// Creates the stream capturing `subjects.md_all()` if it does not exist; an existing stream
/// of that name is used as it is. Returns the stream's subjects as the server has them.
pub async fn ensure_stream(
    client: &async_nats::Client,
    subjects: &Subjects,
    s: &StreamSettings,
) -> Result<Vec<String>, BusError> {
    let limit = |v: Option<u64>| v.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX));
    let config = jetstream::stream::Config {
        name: s.name.clone(),
        subjects: vec![subjects.md_all()],
        max_age: s.max_age.unwrap_or_default(),
        max_bytes: limit(s.max_bytes),
        max_messages_per_subject: limit(s.max_msgs_per_subject),
        storage: if s.memory {
            jetstream::stream::StorageType::Memory
        } else {
            jetstream::stream::StorageType::File
        },
        description: Some("Peregrine normalized market data".into()),
        ..Default::default()
    };
    let js = jetstream::new(client.clone());
    let mut stream = js
        .get_or_create_stream(config)
        .await
        .map_err(|e| BusError::Stream {
            stream: s.name.clone(),
            message: e.to_string(),
        })?;
    let info = stream.info().await.map_err(|e| BusError::Stream {
        stream: s.name.clone(),
        message: e.to_string(),
    })?;
    Ok(info.config.subjects.clone())
}

/// The publisher's counters.
#[derive(Debug, Default)]
pub struct PublishStats {
    /// Messages published.
    pub messages: AtomicU64,
    /// Payload bytes published.
    pub bytes: AtomicU64,
    /// Snapshot requests answered.
    pub snapshots_served: AtomicU64,
}

/// One instrument's book as published.
#[derive(Debug, Default)]
struct ShelfBook {
    book: OrderBook,
    /// The last book sequence applied.
    book_seq: u64,
    /// Exchange time of the last book event.
    exch_ts_ns: i64,
    /// A snapshot was applied and no stale status came after it.
    trusted: bool,
}

/// The books as published, per instrument, for snapshot requests.
#[derive(Debug, Default)]
pub struct BookShelf {
    books: Mutex<Vec<ShelfBook>>,
}

impl BookShelf {
    /// A shelf for `n` instruments.
    pub fn new(n: usize) -> Self {
        BookShelf {
            books: Mutex::new((0..n).map(|_| ShelfBook::default()).collect()),
        }
    }

    /// Applies an event about to be published (books and statuses change the shelf).
    pub fn apply(&self, id: InstrumentId, ev: &BusEvent) {
        let mut books = self.books.lock().unwrap_or_else(|p| p.into_inner());
        let Some(b) = books.get_mut(id.index()) else {
            return;
        };
        let levels = |l: &BookLevels, book: &mut OrderBook| {
            for (side, [price, qty]) in l
                .bids
                .iter()
                .map(|x| (Side::Buy, x))
                .chain(l.asks.iter().map(|x| (Side::Sell, x)))
            {
                book.apply(&BookDelta {
                    side,
                    price: *price,
                    qty: *qty,
                    seq: l.venue_seq,
                    flags: 0,
                });
            }
            book.seq = l.venue_seq;
        };
        match &ev.payload {
            Payload::BookSnapshot(l) => {
                b.book.clear(l.venue_seq);
                levels(l, &mut b.book);
                b.trusted = true;
            }
            Payload::BookDelta(l) => levels(l, &mut b.book),
            Payload::Status(s) => match s {
                FeedStatus::Stale | FeedStatus::Disconnected => b.trusted = false,
                // As the core: a resync makes the book trusted, a bare connect does not.
                FeedStatus::Resynced => b.trusted = true,
                FeedStatus::Connected => {}
            },
            _ => return,
        }
        if matches!(ev.payload.kind(), Kind::BookDelta | Kind::BookSnapshot) {
            b.book_seq = ev.seq;
            b.exch_ts_ns = ev.exch_ts_ns;
        }
    }

    /// The reply to a snapshot request: the whole book with `seq` = the last book sequence
    /// it contains, or, while the book is not trusted, a `Stale` status (ask again later).
    pub fn snapshot(&self, id: InstrumentId, now_ns: i64) -> Option<BusEvent> {
        let books = self.books.lock().unwrap_or_else(|p| p.into_inner());
        let b = books.get(id.index())?;
        let payload = if b.trusted {
            Payload::BookSnapshot(BookLevels {
                venue_seq: b.book.seq,
                bids: b.book.bids_best_first().map(|(p, q)| [p, q]).collect(),
                asks: b.book.asks_best_first().map(|(p, q)| [p, q]).collect(),
            })
        } else {
            Payload::Status(FeedStatus::Stale)
        };
        Some(BusEvent {
            seq: b.book_seq,
            exch_ts_ns: b.exch_ts_ns,
            pub_ts_ns: now_ns,
            payload,
        })
    }
}

/// Encodes and publishes events on their subjects.
pub struct Publisher {
    client: async_nats::Client,
    /// Per instrument: venue, symbol, and the subject of each kind (by code - 1).
    names: Vec<(String, String, [async_nats::Subject; 6])>,
    json: bool,
    buf: Vec<u8>,
    shelf: Arc<BookShelf>,
    stats: Arc<PublishStats>,
}

impl Publisher {
    /// A publisher for every instrument of `instruments` under `subjects`; `json` picks the
    /// JSON form instead of the binary one. Fails if a venue or symbol cannot be a token.
    pub fn new(
        client: async_nats::Client,
        subjects: &Subjects,
        instruments: &Instruments,
        json: bool,
    ) -> Result<Self, BusError> {
        let mut names = Vec::with_capacity(instruments.len());
        for (_, spec) in instruments.iter() {
            check_token("venue", &spec.venue)?;
            check_token("symbol", &spec.symbol)?;
            let subject =
                |k: Kind| async_nats::Subject::from(subjects.md(&spec.venue, &spec.symbol, k));
            names.push((
                spec.venue.clone(),
                spec.symbol.clone(),
                Kind::ALL.map(subject),
            ));
        }
        Ok(Publisher {
            client,
            shelf: Arc::new(BookShelf::new(names.len())),
            names,
            json,
            buf: Vec::with_capacity(4096),
            stats: Arc::new(PublishStats::default()),
        })
    }

    /// The books as published (for [`serve_snapshots`]).
    pub fn shelf(&self) -> Arc<BookShelf> {
        self.shelf.clone()
    }

    /// The counters.
    pub fn stats(&self) -> Arc<PublishStats> {
        self.stats.clone()
    }

    /// Publishes one event of `id` (an id outside the registry is ignored).
    pub async fn publish(&mut self, id: InstrumentId, ev: &BusEvent) -> Result<(), BusError> {
        let Some((venue, symbol, subjects)) = self.names.get(id.index()) else {
            return Ok(());
        };
        self.shelf.apply(id, ev);
        let subject = subjects[(ev.payload.kind().code() - 1) as usize].clone();
        let payload = if self.json {
            ev.to_json(venue, symbol)
        } else {
            self.buf.clear();
            ev.encode(&mut self.buf);
            self.buf.clone()
        };
        let len = payload.len() as u64;
        self.client
            .publish(subject, payload.into())
            .await
            .map_err(|e| BusError::Publish {
                subject: subjects[(ev.payload.kind().code() - 1) as usize].to_string(),
                message: e.to_string(),
            })?;
        self.stats.messages.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }

    /// Waits until everything published so far was written to the server.
    pub async fn flush(&self) -> Result<(), BusError> {
        self.client.flush().await.map_err(|e| BusError::Publish {
            subject: "(flush)".into(),
            message: e.to_string(),
        })
    }
}

/// Answers book snapshot requests (`<prefix>.snap.<venue>.<symbol>`, request/reply) from
/// `shelf` until `stop` turns true. Requests for unknown instruments get no reply (the
/// requester's timeout tells it).
pub async fn serve_snapshots(
    client: async_nats::Client,
    subjects: Subjects,
    instruments: Arc<Instruments>,
    shelf: Arc<BookShelf>,
    stats: Arc<PublishStats>,
    json: bool,
    mut stop: watch::Receiver<bool>,
) -> Result<(), BusError> {
    let subject = subjects.snapshot_all();
    let mut sub = client
        .subscribe(subject.clone())
        .await
        .map_err(|e| BusError::Subscribe {
            subject: subject.clone(),
            message: e.to_string(),
        })?;
    loop {
        let msg = tokio::select! {
            m = sub.next() => match m {
                Some(m) => m,
                None => return Ok(()),
            },
            _ = stop.wait_for(|s| *s) => return Ok(()),
        };
        let Some(reply) = msg.reply else { continue };
        let Some((venue, symbol)) = subjects.parse_snapshot(msg.subject.as_str()) else {
            continue;
        };
        let Some(id) = instruments.on_venue(venue, symbol) else {
            continue;
        };
        let Some(ev) = shelf.snapshot(id, Clock::wall_ns()) else {
            continue;
        };
        let payload = if json {
            ev.to_json(venue, symbol)
        } else {
            ev.to_bytes()
        };
        if let Err(e) = client.publish(reply, payload.into()).await {
            tracing::warn!(error = %e, "bus: cannot answer a snapshot request");
            continue;
        }
        stats.snapshots_served.fetch_add(1, Ordering::Relaxed);
    }
}
