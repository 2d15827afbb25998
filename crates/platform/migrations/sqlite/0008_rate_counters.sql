-- Rate limits shared by every platform process (M3, M4, M5): one counter per thing counted
-- (`scope`, e.g. code requests per network) and per whose (`subject`: a phone number, an IPv4
-- address or an IPv6 /64). A fixed window starts at the first event; a new one when it ends.
CREATE TABLE rate_counters (
    scope        TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    events       INTEGER NOT NULL,
    PRIMARY KEY (scope, subject)
);
