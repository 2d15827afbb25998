-- The terminal's outbox: every receipt it made, in chain order, with its upload state.
-- Rows are never deleted: the last one is the head of the terminal's hash chain.
CREATE TABLE outbox_entries (
    -- The receipt's place in the chain; as the rowid it is unique and orders the FIFO.
    sequence        INTEGER PRIMARY KEY CHECK (sequence >= 1),
    receipt_id      TEXT    NOT NULL UNIQUE CHECK (receipt_id <> ''),
    record_hash     BLOB    NOT NULL CHECK (length(record_hash) = 32),
    -- Canonical record bytes (card number already masked).
    record          BLOB    NOT NULL,
    -- NULL once dropped, some time after the platform acknowledged the receipt.
    png             BLOB,
    serial          INTEGER NOT NULL CHECK (serial BETWEEN 1 AND 999999),
    delivery        TEXT,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'acked', 'refused')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    acked_at        INTEGER,
    ack             BLOB,
    -- Acknowledged exactly when the platform's signed acknowledgement is held.
    CHECK ((state = 'acked') = (ack IS NOT NULL AND length(ack) > 0 AND acked_at IS NOT NULL))
) STRICT;

-- The FIFO head (oldest pending) and the per-state counts.
CREATE INDEX outbox_entries_state ON outbox_entries (state, sequence);
