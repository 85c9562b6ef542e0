-- Equity/PnL snapshots per strategy and for the account (per instrument, and totals with a
-- NULL symbol), inserted once on id. Money as exact decimal TEXT; unrealized_pnl and equity
-- are NULL while a held instrument has no price. Same shape as the Supabase table in
-- supabase/migrations/, without the owner column.
CREATE TABLE equity_snapshots (
    id             TEXT    NOT NULL PRIMARY KEY,
    run_id         TEXT    NOT NULL,
    ts_ns          INTEGER NOT NULL,
    scope          TEXT    NOT NULL CHECK (scope IN ('strategy', 'account')),
    strategy       TEXT,
    venue          TEXT    NOT NULL,
    symbol         TEXT,
    qty            TEXT,
    mark           TEXT,
    realized_pnl   TEXT    NOT NULL,
    unrealized_pnl TEXT,
    fees           TEXT    NOT NULL,
    equity         TEXT
) STRICT;
