//! Fault injection into the market-data websockets, for tests of the feed's recovery paths.
//!
//! A fault is broadcast to every market-data connection open at the time
//! ([`super::SimHandle::inject`]); each connection applies it to its own stream. The exchange's
//! true book is never touched, so a client that recovers correctly ends with exactly
//! [`super::SimHandle::book`].

use tokio::sync::broadcast;

/// One fault to inject into the open market-data connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Drop the TCP connection at once, without a close frame.
    Disconnect,
    /// Do not send the next depth update: the client sees a gap in `U`/`u`.
    SkipDepth,
    /// Send the next depth update twice.
    DuplicateDepth,
    /// Hold the next depth update back and send it after the one that follows it.
    ReorderDepth,
    /// Send one text frame that is not valid JSON (a truncated trade event).
    Malformed,
    /// Send one text frame of this many bytes (valid JSON padded with spaces inside a string).
    Oversized(usize),
    /// Stop sending anything (data, replies and pings) while keeping the socket open.
    Stall,
    /// Announce a server shutdown as Binance does (`{"e":"serverShutdown","E":<ms>}`); the
    /// connection stays open until the client leaves.
    ServerShutdown,
}

/// The fault channel shared by the market-data connections.
#[derive(Debug)]
pub struct Faults {
    tx: broadcast::Sender<Fault>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(64).0,
        }
    }
}

impl Faults {
    /// Sends `fault` to every open market-data connection; returns how many got it.
    pub fn inject(&self, fault: Fault) -> usize {
        self.tx.send(fault).unwrap_or(0)
    }

    /// A receiver for one connection.
    pub fn subscribe(&self) -> broadcast::Receiver<Fault> {
        self.tx.subscribe()
    }

    /// Open market-data connections.
    pub fn connections(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// One connection's pending faults.
#[derive(Debug, Default)]
pub struct ConnFaults {
    skip_depth: bool,
    duplicate_depth: bool,
    reorder_depth: bool,
    held: Option<axum::extract::ws::Utf8Bytes>,
    /// Nothing more is sent on this connection.
    pub stalled: bool,
}

/// What to do with one outgoing market-data frame.
#[derive(Debug, Default)]
pub struct Outgoing {
    /// Frames to send, in order (empty: nothing).
    pub frames: [Option<axum::extract::ws::Utf8Bytes>; 2],
}

impl ConnFaults {
    /// Records a depth fault; returns the frame to send now for `Malformed`/`Oversized`.
    /// `Disconnect` is handled by the caller.
    pub fn arm(&mut self, fault: &Fault, stream: &str) -> Option<String> {
        match fault {
            Fault::SkipDepth => self.skip_depth = true,
            Fault::DuplicateDepth => self.duplicate_depth = true,
            Fault::ReorderDepth => self.reorder_depth = true,
            Fault::Stall => self.stalled = true,
            Fault::Malformed => {
                return Some(format!(
                    r#"{{"stream":"{stream}","data":{{"e":"trade","E":1,"s":"#
                ))
            }
            Fault::Oversized(n) => {
                let head = format!(r#"{{"stream":"{stream}","data":{{"e":"pad","p":""#);
                let tail = "\"}}";
                let pad = n.saturating_sub(head.len() + tail.len());
                return Some(format!("{head}{}{tail}", " ".repeat(pad)));
            }
            Fault::ServerShutdown => {
                return Some(format!(
                    r#"{{"e":"serverShutdown","E":{}}}"#,
                    super::wire::now_ms()
                ))
            }
            Fault::Disconnect => {}
        }
        None
    }

    /// Applies the armed depth faults to an outgoing frame of `stream`.
    pub fn outgoing(&mut self, stream: &str, text: axum::extract::ws::Utf8Bytes) -> Outgoing {
        if self.stalled {
            return Outgoing::default();
        }
        if !stream.contains("@depth") {
            return Outgoing {
                frames: [Some(text), None],
            };
        }
        if self.skip_depth {
            self.skip_depth = false;
            return Outgoing::default();
        }
        if self.reorder_depth {
            self.reorder_depth = false;
            self.held = Some(text);
            return Outgoing::default();
        }
        if let Some(held) = self.held.take() {
            return Outgoing {
                frames: [Some(text), Some(held)],
            };
        }
        if self.duplicate_depth {
            self.duplicate_depth = false;
            return Outgoing {
                frames: [Some(text.clone()), Some(text)],
            };
        }
        Outgoing {
            frames: [Some(text), None],
        }
    }
}
