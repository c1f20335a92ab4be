-- Retention: an email's bytes are dropped some time after it was made, oldest first, so the
-- age is kept beside them (indexed: the expiry reads only what has expired); closed
-- conversations are found by when they closed.
ALTER TABLE email_bodies ADD COLUMN created_at INTEGER;
UPDATE email_bodies SET created_at = (SELECT created_at FROM emails WHERE emails.id = email_bodies.email_id);
CREATE INDEX email_bodies_age ON email_bodies (created_at);
CREATE INDEX conversations_closed ON conversations (closed_at) WHERE closed_at IS NOT NULL;
