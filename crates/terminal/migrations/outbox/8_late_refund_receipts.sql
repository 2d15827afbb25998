-- Issue 13, gap 1: a refund acknowledged after its session closed still gets its receipt. What
-- the receipt needs besides the journal row (the card as the slip prints it: brand, masked
-- number, name, entry mode; the cardholder's signature; the delivery choice) is kept here,
-- JSON, written with the row before the refund's advice is first sent, and cleared once the
-- receipt is stored or the refund declined. Never card data beyond what the receipt keeps.
ALTER TABLE authorisations ADD COLUMN receipt_parts TEXT;
