-- Security review M10 and L9. Keep it equivalent to migrations/sqlite/0010_races.sql.

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

INSERT INTO delivery_peer_ids (delivery_id, channel, peer_id)
SELECT DISTINCT d.delivery_id, d.channel, p.id
FROM deliveries d CROSS JOIN LATERAL unnest(string_to_array(d.peer_id, ',')) AS p (id)
WHERE d.peer_id IS NOT NULL AND p.id <> '';
