-- Issue 13: a void, a refund or a completion names its original, and the platform links it to
-- the receipt it holds when the two agree (crates/platform/src/domain/lineage.rs). Keep the
-- SQLite and PostgreSQL files equivalent.
--
-- kind: the record's transaction type. NULL only for receipts stored before this migration,
-- which the platform classifies from their records when it starts (services::lineage::backfill).
ALTER TABLE receipts ADD COLUMN kind TEXT;
-- The transaction's date on the terminal's wall clock, YYYY-MM-DD: what a refund or completion
-- names its original by, with the RRN or the authorisation code.
ALTER TABLE receipts ADD COLUMN local_date TEXT;
-- The voucher number (凭证号) printed on the slip; this project's terminals print the trace.
ALTER TABLE receipts ADD COLUMN voucher INTEGER;
-- What the record says of its original (OriginalRef), kept to link it when the original comes.
ALTER TABLE receipts ADD COLUMN original_receipt_id TEXT;
ALTER TABLE receipts ADD COLUMN original_rrn TEXT;
ALTER TABLE receipts ADD COLUMN original_auth_code TEXT;
ALTER TABLE receipts ADD COLUMN original_date TEXT;
ALTER TABLE receipts ADD COLUMN original_batch INTEGER;
ALTER TABLE receipts ADD COLUMN original_voucher INTEGER;
-- The link: the original found among the same merchant's receipts (NULL while pending),
-- whether it agrees, and if not the rule it breaks (a Problem code).
ALTER TABLE receipts ADD COLUMN linked_to TEXT;
ALTER TABLE receipts ADD COLUMN link_state TEXT CHECK (link_state IN ('verified', 'pending', 'mismatch'));
ALTER TABLE receipts ADD COLUMN link_problem TEXT;
-- On a sale or completion: the sum of its verified voids and refunds, so its net is
-- amount_minor - given_back_minor without reading its children.
ALTER TABLE receipts ADD COLUMN given_back_minor INTEGER NOT NULL DEFAULT 0;

CREATE INDEX receipts_linked_to ON receipts (linked_to);
CREATE INDEX receipts_merchant_rrn_date ON receipts (merchant_id, rrn, local_date);
CREATE INDEX receipts_merchant_auth_date ON receipts (merchant_id, auth_code, local_date);
CREATE INDEX receipts_pending_links ON receipts (merchant_id, link_state);
CREATE INDEX receipts_unclassified ON receipts (ingest_seq) WHERE kind IS NULL;
