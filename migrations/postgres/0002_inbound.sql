-- Visitor replies: their attachments, and the webhooks that tell the platform.

CREATE TABLE attachments (
    id              TEXT PRIMARY KEY,
    site_id         TEXT NOT NULL,
    conversation_pk BIGINT NOT NULL REFERENCES conversations (pk),
    name            TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    size            BIGINT NOT NULL,
    data            BYTEA NOT NULL,
    created_at      BIGINT NOT NULL
);

-- The webhook outbox. `payload` is fixed when queued; retries post the same body.
CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    site_id         TEXT NOT NULL,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    last_error      TEXT
);
CREATE INDEX webhooks_ready ON webhooks (next_attempt_at) WHERE status = 'pending';
