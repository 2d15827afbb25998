-- Issue 13: operations besides the sale. Each request says what it is (kind: the record's
-- transaction type code) and, for a void, a refund or a completion, the original it refers to
-- (what the host is told in fields 37, 38 and 61, and what the receipt prints as 原凭证号,
-- 原参考号, 原授权码). A refund is an advice (ISO 8583 0220): never reversed; when no answer came
-- it is 'advising' and the same message is sent again until the host acknowledges it. The
-- table is rebuilt (SQLite cannot change a CHECK in place); every row so far was a sale.
CREATE TABLE authorisations_v6 (
    request_id    TEXT    PRIMARY KEY CHECK (length(request_id) = 32 AND request_id NOT GLOB '*[^0-9a-f]*'),
    state         TEXT    NOT NULL CHECK (state IN
                      ('requested', 'approved', 'declined', 'failed', 'completed', 'reversing', 'reversed', 'voided',
                       'advising')),
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
    batch         INTEGER CHECK (batch BETWEEN 1 AND 999999),
    trace         INTEGER CHECK (trace BETWEEN 1 AND 999999),
    operator      TEXT,
    kind          TEXT    NOT NULL DEFAULT 'SALE'
                      CHECK (kind IN ('SALE', 'PRE-AUTH', 'PRE-AUTH COMPLETION', 'VOID', 'REFUND')),
    original_receipt_id TEXT,
    original_batch      INTEGER CHECK (original_batch BETWEEN 1 AND 999999),
    original_voucher    INTEGER CHECK (original_voucher BETWEEN 1 AND 999999),
    original_rrn        TEXT,
    original_auth_code  TEXT,
    original_date       TEXT CHECK (original_date IS NULL OR original_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    -- What a void voids: a sale or a completion.
    original_kind       TEXT CHECK (original_kind IN ('SALE', 'PRE-AUTH COMPLETION')),
    -- Sends of a refund's advice (each persisted before it was sent).
    advice_attempts     INTEGER NOT NULL DEFAULT 0 CHECK (advice_attempts >= 0),
    CHECK ((batch IS NULL) = (trace IS NULL)),
    CHECK (state NOT IN ('approved', 'completed') OR (auth_code IS NOT NULL AND rrn IS NOT NULL)),
    CHECK ((state = 'completed') = (receipt_id IS NOT NULL)),
    CHECK ((state IN ('reversing', 'reversed', 'voided')) = (reversal IS NOT NULL)),
    CHECK ((state IN ('reversed', 'voided')) = (reversal_ack IS NOT NULL)),
    CHECK (state NOT IN ('reversed', 'voided') OR ((state = 'voided') = (reversal = 'cancelled'))),
    CHECK ((kind IN ('VOID', 'REFUND', 'PRE-AUTH COMPLETION')) = (original_date IS NOT NULL)),
    CHECK ((kind = 'VOID') = (original_kind IS NOT NULL)),
    CHECK (kind <> 'VOID' OR (original_receipt_id IS NOT NULL AND original_voucher IS NOT NULL
                              AND original_batch IS NOT NULL AND original_rrn IS NOT NULL
                              AND original_auth_code IS NOT NULL)),
    CHECK (kind <> 'REFUND' OR original_rrn IS NOT NULL),
    CHECK (kind <> 'PRE-AUTH COMPLETION' OR original_auth_code IS NOT NULL),
    -- A refund is never reversed; only a refund is advised.
    CHECK (kind <> 'REFUND' OR reversal IS NULL),
    CHECK (state <> 'advising' OR kind = 'REFUND')
) STRICT;

INSERT INTO authorisations_v6 (request_id, state, amount_minor, currency, masked_pan, terminal_time, terminal_id,
    merchant_id, authoriser, simulated, auth_code, rrn, answer, receipt_id, reversal, reversal_attempts,
    reversal_ack, requested_at, updated_at, batch, trace, operator)
SELECT request_id, state, amount_minor, currency, masked_pan, terminal_time, terminal_id, merchant_id, authoriser,
    simulated, auth_code, rrn, answer, receipt_id, reversal, reversal_attempts, reversal_ack, requested_at, updated_at,
    batch, trace, operator
FROM authorisations;

DROP TABLE authorisations;
ALTER TABLE authorisations_v6 RENAME TO authorisations;

CREATE INDEX authorisations_open ON authorisations (state, requested_at)
WHERE state IN ('requested', 'approved', 'reversing', 'advising');
CREATE UNIQUE INDEX authorisations_trace ON authorisations (batch, trace) WHERE trace IS NOT NULL;
-- A receipt is voided once: the backstop of the terminal's own check (a void being reversed
-- may still stand at the host, so it holds its original until the reversal is acknowledged).
CREATE UNIQUE INDEX authorisations_one_void ON authorisations (original_receipt_id)
WHERE kind = 'VOID' AND state IN ('requested', 'approved', 'completed', 'reversing');
-- Lookups of originals: a refund by RRN, a completion by the pre-auth's code.
CREATE INDEX authorisations_rrn ON authorisations (rrn) WHERE rrn IS NOT NULL;
CREATE INDEX authorisations_auth_code ON authorisations (auth_code) WHERE auth_code IS NOT NULL;
CREATE INDEX authorisations_original_rrn ON authorisations (original_rrn) WHERE original_rrn IS NOT NULL;
