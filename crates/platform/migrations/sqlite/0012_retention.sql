-- Retention (security review L6): receipts are purged once their retention period has passed,
-- except those an acquirer holds for a dispute; each terminal's purged chain prefix is recorded
-- so its hash chain still verifies from the first receipt kept; every purge run is logged.
-- Keep it equivalent to migrations/postgres/0012_retention.sql.

-- A legal hold (dispute) on a receipt: a held receipt is never purged. Released by deleting the row.
CREATE TABLE receipt_holds (
    receipt_id TEXT    NOT NULL PRIMARY KEY REFERENCES receipts (receipt_id),
    held_by    TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    held_at    INTEGER NOT NULL
);

-- The newest purged link of each terminal's chain: receipts up to `last_sequence` were purged
-- (held ones stay), and the first receipt kept after it links to `last_hash`.
CREATE TABLE chain_purges (
    terminal_id     TEXT    NOT NULL PRIMARY KEY REFERENCES terminals (terminal_id),
    last_sequence   INTEGER NOT NULL,
    last_hash       BLOB    NOT NULL CHECK (length(last_hash) = 32),
    last_receipt_id TEXT    NOT NULL,
    receipts        INTEGER NOT NULL,
    purged_at       INTEGER NOT NULL
);

-- One row per purge run: when, up to which sale time, and what went.
CREATE TABLE purge_runs (
    run_id            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    started_at        INTEGER NOT NULL,
    finished_at       INTEGER NOT NULL,
    -- Receipts sold before this instant (Unix ms) were due.
    cutoff            INTEGER NOT NULL,
    receipts          INTEGER NOT NULL,
    deliveries        INTEGER NOT NULL,
    delivery_events   INTEGER NOT NULL,
    login_codes       INTEGER NOT NULL,
    sessions          INTEGER NOT NULL,
    refusals          INTEGER NOT NULL,
    held_kept         INTEGER NOT NULL
);
CREATE INDEX purge_runs_started ON purge_runs (started_at);

-- What the purge looks for: old codes, ended sessions.
CREATE INDEX login_codes_created ON login_codes (created_at);
CREATE INDEX sessions_expires ON sessions (expires_at);
