-- Soft failures in a row per address (a full mailbox, a suspended account, mail that never
-- gets through): enough of them over long enough suppress the address as `soft_bounced`.
-- A reply from the address clears its row.
CREATE TABLE soft_bounces (
    site_id  TEXT NOT NULL,
    email    TEXT NOT NULL,
    count    BIGINT NOT NULL,
    first_at BIGINT NOT NULL,
    last_at  BIGINT NOT NULL,
    PRIMARY KEY (site_id, email)
);
