-- Administration (M9): operators are named people with client certificates from the platform
-- CA; every admin request is recorded; a portal user's reset is a one-time enrolment link.

-- One row per operator certificate issued by `ereceipt platform operator add`; revoked ones
-- are kept (the audit log names them).
CREATE TABLE operator_certificates (
    -- SHA-256 of the certificate's DER, hex: what the admin listener looks up.
    fingerprint TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    serial      TEXT    NOT NULL,
    not_after   BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX operator_certificates_name ON operator_certificates (name);

-- Every request to the admin listener and every administrative command on the host.
CREATE TABLE admin_audit (
    id       BIGINT  NOT NULL GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       BIGINT  NOT NULL,
    -- The operator's name, or what was presented instead ("(no certificate)", a subject).
    operator TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    target   TEXT    NOT NULL,
    -- The HTTP status, or "ok"/"refused: …" for host commands.
    outcome  TEXT    NOT NULL,
    -- The client's address, or "host" for commands run on the platform host.
    client   TEXT    NOT NULL
);
CREATE INDEX admin_audit_at ON admin_audit (at, id);

-- One-time links with which a reset portal user sets a new password and TOTP secret.
CREATE TABLE staff_enrolments (
    -- SHA-256 of the link's secret, hex; the secret itself is not stored.
    token_hash TEXT    NOT NULL PRIMARY KEY,
    username   TEXT    NOT NULL REFERENCES accounts (username),
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT
);
CREATE INDEX staff_enrolments_username ON staff_enrolments (username);
