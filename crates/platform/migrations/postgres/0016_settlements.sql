-- Issue 13: a terminal's settlement slip (结算单) of one batch, verified at upload, and its
-- reconciliation against the receipts the platform holds of that terminal and batch (run again
-- when a late receipt of the batch arrives).
CREATE TABLE settlements (
    terminal_id      TEXT    NOT NULL REFERENCES terminals (terminal_id),
    batch            BIGINT  NOT NULL CHECK (batch BETWEEN 1 AND 999999),
    merchant_id      TEXT    NOT NULL,
    -- SHA-256 of the slip's canonical bytes; the slip and its watermarked image as uploaded.
    slip_hash        BYTEA   NOT NULL CHECK (length(slip_hash) = 32),
    slip             BYTEA   NOT NULL,
    png              BYTEA   NOT NULL,
    signer_serial    TEXT    NOT NULL,
    settled_at       BIGINT  NOT NULL,
    settled_offset_minutes BIGINT NOT NULL,
    -- The host's answer as the slip states it (1 balanced).
    host_balanced    BIGINT  NOT NULL CHECK (host_balanced IN (0, 1)),
    received_at      BIGINT  NOT NULL,
    -- The platform's reconciliation: 1 when no kind and currency differs; the differences as a
    -- JSON array (ereceipt_core::contract::Difference).
    balanced         BIGINT  NOT NULL CHECK (balanced IN (0, 1)),
    differences      TEXT    NOT NULL,
    reconciled_at    BIGINT  NOT NULL,
    PRIMARY KEY (terminal_id, batch)
);
CREATE INDEX settlements_merchant ON settlements (merchant_id, settled_at);
