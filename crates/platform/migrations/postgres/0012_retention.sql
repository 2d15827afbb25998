-- Retention (security review L6): receipts are purged once their retention period has passed,
-- except those an acquirer holds for a dispute; each terminal's purged chain prefix is recorded
-- so its hash chain still verifies from the first receipt kept; every purge run is logged.
-- Keep it equivalent to migrations/sqlite/0012_retention.sql.

-- A legal hold (dispute) on a receipt: a held receipt is never purged. Released by deleting the row.
CREATE TABLE receipt_holds (
    receipt_id TEXT    NOT NULL PRIMARY KEY REFERENCES receipts (receipt_id),
    held_by    TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    held_at    BIGINT  NOT NULL
);

-- The newest purged link of each terminal's chain: receipts up to `last_sequence` were purged
-- (held ones stay), and the first receipt kept after it links to `last_hash`.
CREATE TABLE chain_purges (
    terminal_id     TEXT    NOT NULL PRIMARY KEY REFERENCES terminals (terminal_id),
    last_sequence   BIGINT  NOT NULL,
    last_hash       BYTEA   NOT NULL CHECK (length(last_hash) = 32),
    last_receipt_id TEXT    NOT NULL,
    receipts        BIGINT  NOT NULL,
    purged_at       BIGINT  NOT NULL
);

-- One row per purge run: when, up to which sale time, and what went.
CREATE TABLE purge_runs (
    run_id            BIGINT  NOT NULL GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at        BIGINT  NOT NULL,
    finished_at       BIGINT  NOT NULL,
    -- Receipts sold before this instant (Unix ms) were due.
    cutoff            BIGINT  NOT NULL,
    receipts          BIGINT  NOT NULL,
    deliveries        BIGINT  NOT NULL,
    delivery_events   BIGINT  NOT NULL,
    login_codes       BIGINT  NOT NULL,
    sessions          BIGINT  NOT NULL,
    refusals          BIGINT  NOT NULL,
    held_kept         BIGINT  NOT NULL
);
CREATE INDEX purge_runs_started ON purge_runs (started_at);

-- What the purge looks for: old codes, ended sessions.
CREATE INDEX login_codes_created ON login_codes (created_at);
CREATE INDEX sessions_expires ON sessions (expires_at);
