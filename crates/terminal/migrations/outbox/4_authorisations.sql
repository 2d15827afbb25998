-- Security review L4: the authorisation journal. A card sale's request is written here BEFORE
-- the authoriser is asked, its answer as soon as it comes, and its completion in the same
-- transaction that stores the receipt (outbox_entries), so no approval exists without a row and
-- an approval without a receipt (crash, closed tab) is found at the next start and reversed.
-- Card data: only the masked number (BIN + last four, PCI DSS), never the PAN or a track.
CREATE TABLE authorisations (
    -- Random, 32 hex digits: what the operator names in `ereceipt terminal authorisations reverse`.
    request_id    TEXT    PRIMARY KEY CHECK (length(request_id) = 32 AND request_id NOT GLOB '*[^0-9a-f]*'),
    state         TEXT    NOT NULL CHECK (state IN
                      ('requested', 'approved', 'declined', 'completed', 'reversing', 'reversed', 'voided')),
    amount_minor  INTEGER NOT NULL CHECK (amount_minor > 0),
    currency      TEXT    NOT NULL CHECK (length(currency) = 3),
    -- MaskedPan's stored form, e.g. 622202*********3446.
    masked_pan    TEXT    NOT NULL CHECK (length(masked_pan) BETWEEN 12 AND 19 AND masked_pan GLOB '*[*]*'),
    -- The terminal's clock at the request, RFC 3339 with its UTC offset (the slip's time).
    terminal_time TEXT    NOT NULL,
    terminal_id   TEXT    NOT NULL,
    merchant_id   TEXT    NOT NULL,
    -- Who was asked; a reversal must go to the same acquirer (a simulator's to a simulator).
    authoriser    TEXT    NOT NULL,
    simulated     INTEGER NOT NULL CHECK (simulated IN (0, 1)),
    auth_code     TEXT,
    rrn           TEXT,
    -- The decline's code and text, or the last reversal attempt's error.
    answer        TEXT,
    receipt_id    TEXT    UNIQUE REFERENCES outbox_entries (receipt_id),
    -- Why it is reversed: 'no_receipt', 'no_answer' or 'cancelled' (a void).
    reversal      TEXT    CHECK (reversal IN ('no_receipt', 'no_answer', 'cancelled')),
    reversal_attempts INTEGER NOT NULL DEFAULT 0 CHECK (reversal_attempts >= 0),
    -- The acquirer's acknowledgement of the reversal.
    reversal_ack  TEXT,
    requested_at  INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    CHECK (state NOT IN ('approved', 'completed') OR (auth_code IS NOT NULL AND rrn IS NOT NULL)),
    CHECK ((state = 'completed') = (receipt_id IS NOT NULL)),
    CHECK ((state IN ('reversing', 'reversed', 'voided')) = (reversal IS NOT NULL)),
    CHECK ((state IN ('reversed', 'voided')) = (reversal_ack IS NOT NULL)),
    -- A void is the cashier's cancellation; any other reversal ends as reversed.
    CHECK (state NOT IN ('reversed', 'voided') OR ((state = 'voided') = (reversal = 'cancelled')))
) STRICT;

-- What needs attention: requested without an answer, approved without a receipt, reversing.
CREATE INDEX authorisations_open ON authorisations (state, requested_at)
WHERE state IN ('requested', 'approved', 'reversing');
