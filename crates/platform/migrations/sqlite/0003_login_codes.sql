-- Pull delivery (P3): one-time login codes sent by SMS. Only an HMAC of phone and code is kept
-- (keyed by a server secret), so a copy of the database reveals no code and cannot be brute-forced
-- without the key. Issuing is rate-limited per number and per client address, hence the indexes.
CREATE TABLE login_codes (
    code_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    phone      TEXT    NOT NULL,
    code_hash  BLOB    NOT NULL CHECK (length(code_hash) = 32),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    failures   INTEGER NOT NULL DEFAULT 0,
    client     TEXT    NOT NULL
);
CREATE INDEX login_codes_phone ON login_codes (phone, created_at);
CREATE INDEX login_codes_client ON login_codes (client, created_at);
