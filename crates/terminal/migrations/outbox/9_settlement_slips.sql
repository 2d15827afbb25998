-- Issue 13: the signed settlement slip (结算单) of each settled batch, kept with its upload
-- state like a receipt in outbox_entries: pending until the platform stored and reconciled it.
CREATE TABLE settlement_slips (
    batch           INTEGER PRIMARY KEY REFERENCES settlements (batch),
    slip_hash       BLOB    NOT NULL CHECK (length(slip_hash) = 32),
    -- The slip's canonical bytes and the watermarked PNG.
    slip            BLOB    NOT NULL,
    png             BLOB    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'acked', 'refused')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    acked_at        INTEGER,
    -- The platform's reconciliation as it answered (JSON), once acknowledged.
    reconciliation  TEXT,
    CHECK ((state = 'acked') = (acked_at IS NOT NULL))
) STRICT;

CREATE INDEX settlement_slips_due ON settlement_slips (state, next_attempt_at);
