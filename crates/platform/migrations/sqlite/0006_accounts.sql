-- Portal accounts for merchant staff and the acquirer (customers log in with a one-time code
-- instead). Passwords are Argon2id PHC strings; the TOTP secret is sealed with a key derived
-- from the platform's otp.key, so a database dump alone gives neither.
CREATE TABLE accounts (
    username        TEXT     NOT NULL PRIMARY KEY,
    role            TEXT     NOT NULL CHECK (role IN ('merchant', 'acquirer')),
    -- The merchant whose receipts a merchant account sees; NULL for the acquirer.
    merchant_id     TEXT,
    password_hash   TEXT     NOT NULL,
    totp_sealed     BLOB    NOT NULL,
    -- The newest TOTP time step accepted, so a code is never good twice.
    totp_last_step  INTEGER     NOT NULL DEFAULT 0,
    -- Failed logins since the last success or lockout; at 10 the account locks for 30 minutes.
    failures        INTEGER     NOT NULL DEFAULT 0,
    locked_until    INTEGER     NOT NULL DEFAULT 0,
    created_at      INTEGER     NOT NULL,
    disabled_at     INTEGER,
    CHECK ((role = 'merchant') = (merchant_id IS NOT NULL))
);
CREATE INDEX accounts_merchant ON accounts (merchant_id);
