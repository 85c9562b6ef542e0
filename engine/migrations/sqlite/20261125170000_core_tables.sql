-- Peregrine core tables (embedded SQLite backend).
--
-- Money and size columns (price, qty, filled_qty, fee, avg_price, realized_pnl, fees) are
-- TEXT holding the exact decimal string produced by rust_decimal's `Display`
-- (e.g. '0.00000001', '123456789.123456789'). They are never REAL: a binary float cannot
-- hold most decimal prices exactly. Parse them back with `Decimal::from_str`; do not do
-- arithmetic or numeric ordering on them in SQL (TEXT compares lexicographically).
--
-- Times are INTEGER nanoseconds since the Unix epoch (wall clock), as the engine emits them.
-- Tables are STRICT so a value of the wrong storage class is rejected, not coerced.
-- Only constraints that typed engine rows cannot violate are declared (NOT NULL, enum
-- CHECKs fed by `as_str()`): the sink never drops a batch, so a row that a constraint
-- rejects would stall it. Business validation belongs upstream (risk gate).

-- Latest state of each of our orders, upserted on client_order_id.
CREATE TABLE orders (
    client_order_id TEXT    NOT NULL PRIMARY KEY,
    venue_order_id  INTEGER,
    strategy        TEXT    NOT NULL,
    venue           TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type      TEXT    NOT NULL,
    price           TEXT,
    qty             TEXT    NOT NULL,
    filled_qty      TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'acked', 'partially_filled',
                                                       'filled', 'cancelled', 'rejected',
                                                       'expired')),
    reject_reason   TEXT,
    created_ns      INTEGER NOT NULL,
    updated_ns      INTEGER NOT NULL
) STRICT;

CREATE INDEX orders_strategy_symbol_idx ON orders (strategy, symbol);

-- Every fill of our orders, inserted once. `id` is a surrogate row id (mirrors the
-- Postgres identity key); the natural key below makes a retried batch a no-op. It
-- includes client_order_id because one venue trade can fill two of our own orders
-- (both sides of a self-match), which then share (venue, symbol, trade_id).
CREATE TABLE fills (
    id              INTEGER NOT NULL PRIMARY KEY,
    venue           TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    trade_id        INTEGER NOT NULL,
    client_order_id TEXT    NOT NULL,
    strategy        TEXT    NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    price           TEXT    NOT NULL,
    qty             TEXT    NOT NULL,
    fee             TEXT    NOT NULL,
    fee_asset       TEXT    NOT NULL,
    is_maker        INTEGER NOT NULL CHECK (is_maker IN (0, 1)),
    exch_ts_ns      INTEGER NOT NULL,
    UNIQUE (venue, symbol, trade_id, client_order_id)
) STRICT;

CREATE INDEX fills_client_order_id_idx ON fills (client_order_id);

-- Latest position per (strategy, venue, symbol), upserted.
CREATE TABLE positions (
    strategy     TEXT    NOT NULL,
    venue        TEXT    NOT NULL,
    symbol       TEXT    NOT NULL,
    qty          TEXT    NOT NULL,
    avg_price    TEXT    NOT NULL,
    realized_pnl TEXT    NOT NULL,
    fees         TEXT    NOT NULL,
    updated_ns   INTEGER NOT NULL,
    PRIMARY KEY (strategy, venue, symbol)
) STRICT;

-- Risk decisions and safety events, inserted once on id (`<run hex>-<seq>`).
CREATE TABLE risk_events (
    id       TEXT    NOT NULL PRIMARY KEY,
    ts_ns    INTEGER NOT NULL,
    strategy TEXT,
    symbol   TEXT,
    reason   TEXT    NOT NULL,
    message  TEXT    NOT NULL
) STRICT;

CREATE INDEX risk_events_ts_ns_idx ON risk_events (ts_ns);
