-- An outbox email's bytes, apart from its row, which changes at every attempt (lease, count,
-- outcome). The same schema as SQLite's, where keeping them apart spares rewriting the message
-- at each update.
CREATE TABLE email_bodies (
    email_id TEXT PRIMARY KEY REFERENCES emails (id),
    raw      BYTEA NOT NULL
);
INSERT INTO email_bodies (email_id, raw) SELECT id, raw FROM emails;
ALTER TABLE emails DROP COLUMN raw;
