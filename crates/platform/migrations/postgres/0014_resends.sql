-- Issue 13: a receipt resent to a new address by its terminal is one more delivery row; the
-- pull login of a number lists every receipt sent to it, the first delivery's or a resend's.
CREATE INDEX deliveries_recipient ON deliveries (recipient);
