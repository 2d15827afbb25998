-- Portal sessions, shared by every platform process: only the SHA-256 of the cookie value is
-- stored, so a database leak does not hand out sessions.
CREATE TABLE sessions (
    session_hash  BLOB  NOT NULL PRIMARY KEY CHECK (length(session_hash) = 32),
    kind          TEXT  NOT NULL,
    subject       TEXT  NOT NULL,
    created_at    INTEGER  NOT NULL,
    last_seen_at  INTEGER  NOT NULL,
    expires_at    INTEGER  NOT NULL
);
CREATE INDEX sessions_subject ON sessions (kind, subject);
