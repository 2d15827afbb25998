-- Security review M10 and L9. Keep it equivalent to migrations/postgres/0010_races.sql.

-- M10: a certificate recorded while (or after) its terminal was revoked, before recording
-- checked for that, is revoked as of its terminal, and so listed in the CRL.
UPDATE certificates SET revoked_at = (
    SELECT t.revoked_at FROM terminals t WHERE t.terminal_id = certificates.terminal_id
)
WHERE revoked_at IS NULL
  AND EXISTS (
    SELECT 1 FROM terminals t WHERE t.terminal_id = certificates.terminal_id AND t.revoked_at IS NOT NULL
  );

-- L9: each id the peer gave a sent delivery (one per segment of a long SMS), so that a delivery
-- report finds its delivery through an index instead of a LIKE over every delivery's ids.
-- `deliveries.peer_id` keeps the comma-separated list for display.
CREATE TABLE delivery_peer_ids (
    delivery_id TEXT NOT NULL REFERENCES deliveries (delivery_id),
    channel     TEXT NOT NULL,
    peer_id     TEXT NOT NULL,
    PRIMARY KEY (delivery_id, peer_id)
);
CREATE INDEX delivery_peer_ids_lookup ON delivery_peer_ids (channel, peer_id, delivery_id);

WITH RECURSIVE split (delivery_id, channel, id, rest) AS (
    SELECT delivery_id, channel, '', peer_id || ',' FROM deliveries WHERE peer_id IS NOT NULL
    UNION ALL
    SELECT delivery_id, channel, substr(rest, 1, instr(rest, ',') - 1), substr(rest, instr(rest, ',') + 1)
    FROM split WHERE rest <> ''
)
INSERT OR IGNORE INTO delivery_peer_ids (delivery_id, channel, peer_id)
SELECT delivery_id, channel, id FROM split WHERE id <> '';
