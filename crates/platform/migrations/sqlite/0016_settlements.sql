-- Issue 13: a terminal's settlement slip (结算单) of one batch, verified at upload, and its
-- reconciliation against the receipts the platform holds of that terminal and batch (run again
-- when a late receipt of the batch arrives).
CREATE TABLE settlements (
    terminal_id      TEXT    NOT NULL REFERENCES terminals (terminal_id),
    batch            INTEGER NOT NULL CHECK (batch BETWEEN 1 AND 999999),
    merchant_id      TEXT    NOT NULL,
    -- SHA-256 of the slip's canonical bytes; the slip and its watermarked image as uploaded.
    slip_hash        BLOB    NOT NULL CHECK (length(slip_hash) = 32),
    slip             BLOB    NOT NULL,
    png              BLOB    NOT NULL,
    signer_serial    TEXT    NOT NULL,
    settled_at       INTEGER NOT NULL,
    settled_offset_minutes INTEGER NOT NULL,
    -- The host's answer as the slip states it (1 balanced).
    host_balanced    INTEGER NOT NULL CHECK (host_balanced IN (0, 1)),
    received_at      INTEGER NOT NULL,
    -- The platform's reconciliation: 1 when no kind and currency differs; the differences as a
    -- JSON array (ereceipt_core::contract::Difference).
    balanced         INTEGER NOT NULL CHECK (balanced IN (0, 1)),
    differences      TEXT    NOT NULL,
    reconciled_at    INTEGER NOT NULL,
    PRIMARY KEY (terminal_id, batch)
);
CREATE INDEX settlements_merchant ON settlements (merchant_id, settled_at);
