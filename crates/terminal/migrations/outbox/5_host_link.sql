-- Issue 13: the acquirer host link. Every request now carries its trace number (ISO 8583 field
-- 11, the slip's voucher number) and batch, allocated in the transaction that journals it, so
-- the host, the reversal and the receipt all see the same number, and no number is used twice
-- (a declined or reversed request leaves a gap, as on a real slip roll). Two more outcomes:
-- 'failed' (the request never left the terminal: nothing to reverse) and the reversal reason
-- 'bad_answer' (an answer came but could not be trusted: garbage, a field missing, a wrong MAC).
-- SQLite cannot change a CHECK in place, so the table is rebuilt with the same rows.
CREATE TABLE authorisations_v5 (
    request_id    TEXT    PRIMARY KEY CHECK (length(request_id) = 32 AND request_id NOT GLOB '*[^0-9a-f]*'),
    state         TEXT    NOT NULL CHECK (state IN
                      ('requested', 'approved', 'declined', 'failed', 'completed', 'reversing', 'reversed', 'voided')),
    amount_minor  INTEGER NOT NULL CHECK (amount_minor > 0),
    currency      TEXT    NOT NULL CHECK (length(currency) = 3),
    masked_pan    TEXT    NOT NULL CHECK (length(masked_pan) BETWEEN 12 AND 19 AND masked_pan GLOB '*[*]*'),
    terminal_time TEXT    NOT NULL,
    terminal_id   TEXT    NOT NULL,
    merchant_id   TEXT    NOT NULL,
    authoriser    TEXT    NOT NULL,
    simulated     INTEGER NOT NULL CHECK (simulated IN (0, 1)),
    auth_code     TEXT,
    rrn           TEXT,
    answer        TEXT,
    receipt_id    TEXT    UNIQUE REFERENCES outbox_entries (receipt_id),
    reversal      TEXT    CHECK (reversal IN ('no_receipt', 'no_answer', 'bad_answer', 'cancelled')),
    reversal_attempts INTEGER NOT NULL DEFAULT 0 CHECK (reversal_attempts >= 0),
    reversal_ack  TEXT,
    requested_at  INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    -- NULL only on rows journalled before this migration (the simulator's, which needs none).
    batch         INTEGER CHECK (batch BETWEEN 1 AND 999999),
    trace         INTEGER CHECK (trace BETWEEN 1 AND 999999),
    operator      TEXT,
    CHECK ((batch IS NULL) = (trace IS NULL)),
    CHECK (state NOT IN ('approved', 'completed') OR (auth_code IS NOT NULL AND rrn IS NOT NULL)),
    CHECK ((state = 'completed') = (receipt_id IS NOT NULL)),
    CHECK ((state IN ('reversing', 'reversed', 'voided')) = (reversal IS NOT NULL)),
    CHECK ((state IN ('reversed', 'voided')) = (reversal_ack IS NOT NULL)),
    CHECK (state NOT IN ('reversed', 'voided') OR ((state = 'voided') = (reversal = 'cancelled')))
) STRICT;

INSERT INTO authorisations_v5 (request_id, state, amount_minor, currency, masked_pan, terminal_time, terminal_id,
    merchant_id, authoriser, simulated, auth_code, rrn, answer, receipt_id, reversal, reversal_attempts,
    reversal_ack, requested_at, updated_at)
SELECT request_id, state, amount_minor, currency, masked_pan, terminal_time, terminal_id, merchant_id, authoriser,
    simulated, auth_code, rrn, answer, receipt_id, reversal, reversal_attempts, reversal_ack, requested_at, updated_at
FROM authorisations;

DROP TABLE authorisations;
ALTER TABLE authorisations_v5 RENAME TO authorisations;

CREATE INDEX authorisations_open ON authorisations (state, requested_at)
WHERE state IN ('requested', 'approved', 'reversing');
-- A trace is used once per batch: the backstop of the allocation below.
CREATE UNIQUE INDEX authorisations_trace ON authorisations (batch, trace) WHERE trace IS NOT NULL;

-- The last (batch, trace) handed out, for requests and for messages without a journal row (the
-- host sign-in). The next one is above both this and every receipt the outbox or the platform's
-- resume point knows.
CREATE TABLE trace_counter (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    batch INTEGER NOT NULL CHECK (batch BETWEEN 1 AND 999999),
    trace INTEGER NOT NULL CHECK (trace BETWEEN 1 AND 999999)
) STRICT;
