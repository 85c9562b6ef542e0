-- Event sequence guard and audit trail (same semantics as the Postgres schema).
--
-- `seq` is the engine's event sequence (monotonic across restarts). Order and position
-- upserts only apply when the incoming seq is greater than the stored one, so a replayed
-- older event (spool drained after a crash) never overwrites a newer state. Rows written
-- before this migration have seq 0 and are overwritten by any new event.
ALTER TABLE orders ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE positions ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fills ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;

-- One row per committed batch, written in the batch's transaction; a replayed batch (same
-- event range) is recorded once.
CREATE TABLE audit_log (
    id         INTEGER NOT NULL PRIMARY KEY,
    ts_ns      INTEGER NOT NULL,
    actor_kind TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    entity     TEXT    NOT NULL,
    entity_id  TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    UNIQUE (action, entity_id)
) STRICT;
