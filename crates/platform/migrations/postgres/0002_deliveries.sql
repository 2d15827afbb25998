-- Delivery (T3, P2): the customer's choice is stored with the receipt, and each push delivery
-- is a queue row written in the same transaction as the receipt.
ALTER TABLE receipts ADD COLUMN delivery_channel TEXT;
ALTER TABLE receipts ADD COLUMN delivery_to TEXT;
-- The pull login lists every receipt sent to a number.
CREATE INDEX receipts_delivery_to ON receipts (delivery_to);

CREATE TABLE deliveries (
    delivery_id     TEXT    NOT NULL PRIMARY KEY,
    receipt_id      TEXT    NOT NULL REFERENCES receipts (receipt_id),
    channel         TEXT    NOT NULL CHECK (channel IN ('email', 'sms', 'mms')),
    recipient       TEXT    NOT NULL,
    -- queued: waiting (next_attempt_at); sending: claimed by a worker until lease_until;
    -- sent: the peer accepted; delivered: the peer reported delivery; failed: given up.
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'delivered', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    worker          TEXT,
    peer_id         TEXT,
    last_answer     TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    give_up_at      BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_receipt ON deliveries (receipt_id);

-- Every attempt and answer, for the per-receipt delivery history.
CREATE TABLE delivery_events (
    event_id    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES deliveries (delivery_id),
    at          BIGINT NOT NULL,
    state       TEXT NOT NULL,
    answer      TEXT NOT NULL
);
CREATE INDEX delivery_events_delivery ON delivery_events (delivery_id, at);
