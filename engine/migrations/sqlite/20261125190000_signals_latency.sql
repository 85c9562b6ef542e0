-- Strategy signals (signal(name, value) in a script) and per-stage latency windows.

CREATE TABLE signals (
    id       TEXT    NOT NULL PRIMARY KEY,
    ts_ns    INTEGER NOT NULL,
    strategy TEXT    NOT NULL,
    symbol   TEXT,
    name     TEXT    NOT NULL,
    value    REAL    NOT NULL
) STRICT;

CREATE INDEX signals_strategy_ts_idx ON signals (strategy, ts_ns);

CREATE TABLE latency_stats (
    run_id          TEXT    NOT NULL,
    stage           TEXT    NOT NULL,
    window_start_ns INTEGER NOT NULL,
    window_end_ns   INTEGER NOT NULL,
    count           INTEGER NOT NULL,
    p50_ns          INTEGER NOT NULL,
    p99_ns          INTEGER NOT NULL,
    p999_ns         INTEGER NOT NULL,
    max_ns          INTEGER NOT NULL,
    PRIMARY KEY (run_id, stage, window_end_ns)
) STRICT;
