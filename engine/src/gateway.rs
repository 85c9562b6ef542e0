//! The boundary between the core loop and a venue's order API. The engine never imports a
//! venue: adapters implement [`OrderSigner`] (pure, runs on the core thread) and run a
//! transport that takes [`SignedOrder`]s and sends [`ExecReport`]s back.

use crate::order::{ClientOrderId, ExecReport, OrderRequest};
use crate::types::{InstrumentId, Side};

/// HTTP method of a venue request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpMethod {
    /// GET
    Get,
    /// POST
    Post,
    /// DELETE
    Delete,
}

/// What a signed request does, so the transport can route the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignedAction {
    /// Place a new order.
    New,
    /// Cancel an order.
    Cancel,
    /// Cancel the order `cancel` and, only if that succeeds, place this request's order, in
    /// one venue request (Binance's cancel-replace with `STOP_ON_FAILURE`). The transport
    /// reports the new order's `Ack` / `Rejected` and, if the cancel failed, the old order's
    /// `CancelRejected`; the old order's `Cancelled` comes as for a plain cancel.
    Replace {
        /// The working order to cancel.
        cancel: ClientOrderId,
    },
}

/// A fully built and signed venue request: bytes ready to go on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedOrder {
    /// What the request does.
    pub action: SignedAction,
    /// The order it is about (for a replace: the new order).
    pub client_order_id: ClientOrderId,
    /// Instrument of the order.
    pub instrument: InstrumentId,
    /// Side of the order (so the transport can report on it without parsing params).
    pub side: Side,
    /// HTTP method.
    pub method: HttpMethod,
    /// Path, e.g. `/api/v3/order`.
    pub path: &'static str,
    /// The signed parameters (query string or form body, venue-specific), including the
    /// signature.
    pub params: String,
    /// Monotonic time of the tick that caused this order (0 if none).
    pub origin_recv_ns: u64,
}

/// Errors building or signing a request.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The instrument has no venue mapping.
    #[error("instrument {0:?} is not known to this venue")]
    UnknownInstrument(InstrumentId),
    /// The request cannot be expressed on this venue.
    #[error("unsupported order: {0}")]
    Unsupported(&'static str),
}

/// Builds and signs venue requests. Runs on the core thread, so it must be fast and must not
/// block or do I/O.
pub trait OrderSigner: Send {
    /// Builds and signs a new-order request; `wall_ms` is the (skew-corrected) wall time.
    fn sign_new(&mut self, req: &OrderRequest, wall_ms: i64) -> Result<SignedOrder, SignError>;
    /// Builds and signs a cancel request for one of our orders.
    fn sign_cancel(
        &mut self,
        client_order_id: ClientOrderId,
        instrument: InstrumentId,
        side: Side,
        wall_ms: i64,
    ) -> Result<SignedOrder, SignError>;
    /// Builds and signs a cancel-replace: cancel our working order `cancel` (same instrument
    /// and side as `req`) and place `req` only if the cancel succeeded
    /// ([`SignedAction::Replace`]).
    fn sign_replace(
        &mut self,
        cancel: ClientOrderId,
        req: &OrderRequest,
        wall_ms: i64,
    ) -> Result<SignedOrder, SignError>;
}

/// Where the core loop sends signed requests (an unbounded channel to the venue transport).
pub type GatewaySender = tokio::sync::mpsc::UnboundedSender<SignedOrder>;
/// Where the venue transport and user-data stream send exec reports back to the core loop.
pub type ExecSender = crossbeam_channel::Sender<ExecReport>;
