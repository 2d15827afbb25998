-- Where this enrolment's receipts continue, as the platform said after enrolment (or after the
-- outbox was lost): GET /api/v1/terminal/resume. At most one row; the next receipt follows the
-- later of this point and the last stored entry, so a new phone never reuses a receipt id.
CREATE TABLE outbox_resume (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    batch       INTEGER NOT NULL CHECK (batch BETWEEN 1 AND 999999),
    -- The highest serial the platform holds in `batch` (0: none).
    last_serial INTEGER NOT NULL CHECK (last_serial BETWEEN 0 AND 999999),
    -- The platform's chain head: its sequence (0: no receipt yet) and record hash (zeros then).
    sequence    INTEGER NOT NULL CHECK (sequence >= 0),
    record_hash BLOB    NOT NULL CHECK (length(record_hash) = 32),
    fetched_at  INTEGER NOT NULL
) STRICT;

-- The batch of each receipt (its id is TERMINAL-BATCH-SERIAL); receipts stored before batches
-- were tracked take it from their id.
ALTER TABLE outbox_entries ADD COLUMN batch INTEGER NOT NULL DEFAULT 1 CHECK (batch BETWEEN 0 AND 999999);
UPDATE outbox_entries SET batch = CAST(substr(receipt_id, 10, 6) AS INTEGER)
WHERE receipt_id GLOB '????????-[0-9][0-9][0-9][0-9][0-9][0-9]-[0-9][0-9][0-9][0-9][0-9][0-9]';
