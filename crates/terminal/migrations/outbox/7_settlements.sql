-- Issue 13: settlement (结算). Closing a batch sends its totals to the host (0500, field 48) and
-- records the host's answer here; the batch is then used up (the trace counter stands at its
-- last trace), so the next request opens the next batch and no void reaches the settled one.
CREATE TABLE settlements (
    batch        INTEGER PRIMARY KEY CHECK (batch BETWEEN 1 AND 999999),
    trace        INTEGER NOT NULL CHECK (trace BETWEEN 1 AND 999999),
    operator     TEXT    NOT NULL,
    authoriser   TEXT    NOT NULL,
    -- Field 48 as the terminal sent it and as the host answered it (62 digits each).
    totals       TEXT    NOT NULL CHECK (length(totals) = 62),
    answer       TEXT    NOT NULL CHECK (length(answer) = 62),
    domestic_balanced INTEGER NOT NULL CHECK (domestic_balanced IN (0, 1)),
    foreign_balanced  INTEGER NOT NULL CHECK (foreign_balanced IN (0, 1)),
    settled_at   INTEGER NOT NULL
) STRICT;
