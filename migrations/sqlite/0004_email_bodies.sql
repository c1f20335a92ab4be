-- An outbox email's bytes, apart from its row. The row changes at every attempt (lease, count,
-- outcome), and SQLite rewrites a whole row on update: with the message inside it, each claim
-- and each outcome wrote the 7 KB again, and reading a row's status or lease went through the
-- message's overflow pages. The bytes are written once, with the row, and only read to send.
CREATE TABLE email_bodies (
    email_id TEXT PRIMARY KEY REFERENCES emails (id),
    raw      BLOB NOT NULL
);
INSERT INTO email_bodies (email_id, raw) SELECT id, raw FROM emails;
ALTER TABLE emails DROP COLUMN raw;
