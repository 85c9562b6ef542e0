-- Every state change of each of our orders (orders holds only the latest), inserted once on
-- (client order id, status, filled quantity): a state reported twice (a replayed batch, an
-- order adopted by a later run) is one row; `seq` orders the rows. Same shape as the
-- Supabase table in supabase/migrations/, without the owner column.
CREATE TABLE order_events (
    client_order_id TEXT    NOT NULL,
    seq             INTEGER NOT NULL,
    venue_order_id  INTEGER,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'acked', 'partially_filled',
                                                       'filled', 'cancelled', 'rejected',
                                                       'expired')),
    filled_qty      TEXT    NOT NULL,
    reject_reason   TEXT,
    ts_ns           INTEGER NOT NULL,
    PRIMARY KEY (client_order_id, status, filled_qty)
) STRICT;
