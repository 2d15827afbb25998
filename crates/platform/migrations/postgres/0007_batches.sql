-- Receipt ids are TERMINAL-BATCH-SERIAL. Each enrolment of a terminal id (a new phone, or one
-- whose outbox was lost) gets a batch that no earlier enrolment used, so its receipts can never
-- collide with the ones already stored (security review H1); a renewal keeps its batch.
-- Keep it equivalent to migrations/sqlite/0007_batches.sql.

-- The highest batch handed to an enrolment of the terminal (0: never enrolled).
ALTER TABLE terminals ADD COLUMN last_batch BIGINT NOT NULL DEFAULT 0;
-- The batch of the enrolment this certificate belongs to.
ALTER TABLE certificates ADD COLUMN batch BIGINT NOT NULL DEFAULT 1;
-- Before batches were handed out every terminal sold in batch 1 (the touch UI's fixed batch),
-- so an enrolled terminal has used it; the receipts' own batches are consulted at allocation.
UPDATE terminals SET last_batch = 1
WHERE EXISTS (SELECT 1 FROM certificates c WHERE c.terminal_id = terminals.terminal_id);

-- Where a terminal resumes: its highest batch and serial, and the head of its chain.
CREATE INDEX receipts_terminal_batch_serial ON receipts (terminal_id, batch, serial);
CREATE INDEX receipts_terminal_sequence ON receipts (terminal_id, sequence);
