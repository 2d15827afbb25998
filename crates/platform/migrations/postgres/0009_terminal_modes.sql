-- Whether a terminal is a production or a test terminal is the platform's record, set when the
-- operator registers it, written by the CA into every certificate of the terminal and enforced
-- at ingest (security review M8): a production terminal's receipts with clear card tracks or a
-- simulated authorisation are refused. Terminals registered before this were production.
-- Keep it equivalent to migrations/sqlite/0009_terminal_modes.sql.
ALTER TABLE terminals ADD COLUMN mode TEXT NOT NULL DEFAULT 'production'
    CHECK (mode IN ('production', 'test'));
