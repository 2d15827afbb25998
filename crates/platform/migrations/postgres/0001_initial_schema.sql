-- The platform's schema on PostgreSQL. Keep it equivalent to migrations/sqlite/0001_initial_schema.sql:
-- the store runs the very same queries on both. Times are Unix milliseconds UTC.

-- Terminals registered by a merchant administrator.
CREATE TABLE terminals (
    terminal_id   TEXT    NOT NULL PRIMARY KEY,
    merchant_id   TEXT    NOT NULL,
    merchant_name TEXT    NOT NULL,
    location      TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    revoked_at    BIGINT,
    revoke_reason TEXT
);

-- Single-use enrolment tokens; only their SHA-256 is kept.
CREATE TABLE enrolment_tokens (
    token_hash  BYTEA   NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32),
    terminal_id TEXT    NOT NULL REFERENCES terminals (terminal_id),
    issued_at   BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    used_at     BIGINT
);
CREATE INDEX enrolment_tokens_terminal ON enrolment_tokens (terminal_id);

-- Certificates issued to terminals, for lookups by serial and for the CRL.
CREATE TABLE certificates (
    serial_hex  TEXT    NOT NULL PRIMARY KEY,
    terminal_id TEXT    NOT NULL REFERENCES terminals (terminal_id),
    fingerprint TEXT    NOT NULL,
    not_before  BIGINT  NOT NULL,
    not_after   BIGINT  NOT NULL,
    issued_at   BIGINT  NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX certificates_terminal ON certificates (terminal_id);
CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE revoked_at IS NOT NULL;

-- Uploaded receipts. The card is only ever stored masked (BIN + last 4) and as its last 4 digits.
-- ingest_seq is the platform-side arrival order; the big blobs come last in the row.
CREATE TABLE receipts (
    ingest_seq        BIGINT  NOT NULL GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    receipt_id        TEXT    NOT NULL UNIQUE,
    terminal_id       TEXT    NOT NULL REFERENCES terminals (terminal_id),
    merchant_id       TEXT    NOT NULL,
    merchant_name     TEXT    NOT NULL,
    batch             BIGINT  NOT NULL,
    serial            BIGINT  NOT NULL,
    sequence          BIGINT,
    previous_hash     BYTEA,
    record_hash       BYTEA   NOT NULL CHECK (length(record_hash) = 32),
    amount_minor      BIGINT  NOT NULL,
    currency          TEXT    NOT NULL,
    tx_time           BIGINT  NOT NULL,
    tx_offset_minutes INTEGER NOT NULL,
    rrn               TEXT    NOT NULL,
    auth_code         TEXT    NOT NULL,
    card_masked       TEXT    NOT NULL,
    card_last4        TEXT    NOT NULL CHECK (length(card_last4) <= 4),
    card_brand        TEXT    NOT NULL,
    signer_serial     TEXT    NOT NULL,
    received_at       BIGINT  NOT NULL,
    ack               BYTEA   NOT NULL,
    record            BYTEA   NOT NULL,
    png               BYTEA   NOT NULL
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
    id          BIGINT  NOT NULL GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT  NOT NULL,
    terminal_id TEXT    NOT NULL,
    receipt_id  TEXT    NOT NULL,
    reason      TEXT    NOT NULL
);
CREATE INDEX refusals_at ON refusals (at, id);
