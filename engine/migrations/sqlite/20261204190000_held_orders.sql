-- Conditional orders the engine holds (stop, take-profit, trailing stop, a bracket's exits),
-- upserted on client_order_id to their latest state (a newer event sequence wins): `held`
-- while waiting for the trigger (restored at start), `fired` once placed (the order then has
-- its own rows in orders), `dropped` when cancelled before. Same shape as the Supabase table
-- in supabase/migrations/, without the owner column.
CREATE TABLE held_orders (
    client_order_id TEXT    NOT NULL PRIMARY KEY,
    strategy        TEXT    NOT NULL,
    venue           TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type      TEXT    NOT NULL CHECK (order_type IN ('market', 'limit')),
    price           TEXT,
    qty             TEXT    NOT NULL,
    time_in_force   TEXT    NOT NULL CHECK (time_in_force IN ('gtc', 'ioc', 'fok')),
    post_only       INTEGER NOT NULL CHECK (post_only IN (0, 1)),
    reduce_only     INTEGER NOT NULL CHECK (reduce_only IN (0, 1)),
    trigger_kind    TEXT    NOT NULL CHECK (trigger_kind IN ('stop', 'take_profit', 'trailing')),
    trigger_price   TEXT,
    trail_offset    TEXT,
    trail_percent   INTEGER NOT NULL CHECK (trail_percent IN (0, 1)),
    trail_extreme   TEXT,
    oco_with        TEXT,
    status          TEXT    NOT NULL CHECK (status IN ('held', 'fired', 'dropped')),
    created_ns      INTEGER NOT NULL,
    updated_ns      INTEGER NOT NULL,
    seq             INTEGER NOT NULL
) STRICT;
CREATE INDEX held_orders_venue_status_idx ON held_orders (venue, status);
