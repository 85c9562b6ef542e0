-- How far each symbol's trade history at the venue has been taken into the database, per
-- (venue, account, symbol): every trade of the account with a venue trade id at most
-- last_trade_id is a committed fill or was never ours. The sink moves it forward (never
-- back) in the transaction that commits the fills; the engine reads it at start and asks
-- the venue for every trade after it (Binance `myTrades?fromId=last_trade_id+1`).
-- `account` is the configured `[venue] account` label, never a key.
CREATE TABLE venue_checkpoints (
    venue         TEXT    NOT NULL,
    account       TEXT    NOT NULL,
    symbol        TEXT    NOT NULL,
    last_trade_id INTEGER NOT NULL,
    last_trade_ns INTEGER NOT NULL,
    updated_ns    INTEGER NOT NULL,
    PRIMARY KEY (venue, account, symbol)
) STRICT;
