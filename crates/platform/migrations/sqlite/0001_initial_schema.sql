-- The platform's schema on SQLite. Keep it equivalent to migrations/postgres/0001_initial_schema.sql:
-- the store runs the very same queries on both. Times are Unix milliseconds UTC.

-- Terminals registered by a merchant administrator.
CREATE TABLE terminals (
    terminal_id   TEXT    NOT NULL PRIMARY KEY,
    merchant_id   TEXT    NOT NULL,
    merchant_name TEXT    NOT NULL,
    location      TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    revoke_reason TEXT
);

-- Single-use enrolment tokens; only their SHA-256 is kept.
CREATE TABLE enrolment_tokens (
    token_hash  BLOB    NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32),
    terminal_id TEXT    NOT NULL REFERENCES terminals (terminal_id),
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX enrolment_tokens_terminal ON enrolment_tokens (terminal_id);

-- Certificates issued to terminals, for lookups by serial and for the CRL.
CREATE TABLE certificates (
    serial_hex  TEXT    NOT NULL PRIMARY KEY,
    terminal_id TEXT    NOT NULL REFERENCES terminals (terminal_id),
    fingerprint TEXT    NOT NULL,
    not_before  INTEGER NOT NULL,
    not_after   INTEGER NOT NULL,
    issued_at   INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX certificates_terminal ON certificates (terminal_id);
CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE revoked_at IS NOT NULL;

-- Uploaded receipts. The card is only ever stored masked (BIN + last 4) and as its last 4 digits.
-- ingest_seq is the platform-side arrival order; the big blobs come last in the row.
CREATE TABLE receipts (
    ingest_seq        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    receipt_id        TEXT    NOT NULL UNIQUE,
    terminal_id       TEXT    NOT NULL REFERENCES terminals (terminal_id),
    merchant_id       TEXT    NOT NULL,
    merchant_name     TEXT    NOT NULL,
    batch             INTEGER NOT NULL,
    serial            INTEGER NOT NULL,
    sequence          INTEGER,
    previous_hash     BLOB,
    record_hash       BLOB    NOT NULL CHECK (length(record_hash) = 32),
    amount_minor      INTEGER NOT NULL,
    currency          TEXT    NOT NULL,
    tx_time           INTEGER NOT NULL,
    tx_offset_minutes INTEGER NOT NULL,
    rrn               TEXT    NOT NULL,
    auth_code         TEXT    NOT NULL,
    card_masked       TEXT    NOT NULL,
    card_last4        TEXT    NOT NULL CHECK (length(card_last4) <= 4),
    card_brand        TEXT    NOT NULL,
    signer_serial     TEXT    NOT NULL,
    received_at       INTEGER NOT NULL,
    ack               BLOB    NOT NULL,
    record            BLOB    NOT NULL,
    png               BLOB    NOT NULL
);
-- Search pages newest tx_time first, ties by receipt_id; the chain reads a terminal in ingest order.
CREATE INDEX receipts_time ON receipts (tx_time, receipt_id);
CREATE INDEX receipts_merchant_time ON receipts (merchant_id, tx_time, receipt_id);
CREATE INDEX receipts_terminal_time ON receipts (terminal_id, tx_time, receipt_id);
CREATE INDEX receipts_terminal_ingest ON receipts (terminal_id, ingest_seq);
CREATE INDEX receipts_rrn ON receipts (rrn);
CREATE INDEX receipts_card_last4 ON receipts (card_last4);
CREATE INDEX receipts_serial ON receipts (serial);

-- Upload refusals the operator should see.
CREATE TABLE refusals (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    terminal_id TEXT    NOT NULL,
    receipt_id  TEXT    NOT NULL,
    reason      TEXT    NOT NULL
);
CREATE INDEX refusals_at ON refusals (at, id);
