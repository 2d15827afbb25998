-- Security review L6: an acknowledged receipt keeps only the channel of its delivery choice
-- (`sms:+86…` becomes `sms`); the platform delivers it, the phone needs no address any more.
-- Receipts acknowledged before this migration lose theirs now.
UPDATE outbox_entries
SET delivery = CASE WHEN instr(delivery, ':') > 0 THEN substr(delivery, 1, instr(delivery, ':') - 1) ELSE NULL END
WHERE state = 'acked' AND delivery IS NOT NULL;
