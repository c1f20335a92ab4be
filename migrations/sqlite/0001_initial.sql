-- replyrelay's initial schema (SQLite). Instants are milliseconds since the Unix epoch.

-- Values kept across restarts, such as the generated token key.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Event ids already applied, so replays are harmless.
CREATE TABLE processed_events (
    site_id  TEXT NOT NULL,
    event_id TEXT NOT NULL,
    at       INTEGER NOT NULL,
    PRIMARY KEY (site_id, event_id)
);

-- Agents online per site (trigger c).
CREATE TABLE site_state (
    site_id              TEXT PRIMARY KEY,
    agents_online        INTEGER,
    agents_offline_since INTEGER
);

CREATE TABLE conversations (
    pk                      INTEGER PRIMARY KEY,
    site_id                 TEXT NOT NULL,
    id                      TEXT NOT NULL,
    open                    INTEGER NOT NULL DEFAULT 1,
    visitor_id              TEXT,
    visitor_email           TEXT,
    visitor_name            TEXT,
    visitor_locale          TEXT,
    visitor_timezone        TEXT,
    created_at              INTEGER NOT NULL,
    last_activity_at        INTEGER,
    left_at                 INTEGER,
    last_visitor_message_at INTEGER,
    last_agent_message_at   INTEGER,
    read_seq                INTEGER NOT NULL DEFAULT 0,
    unanswered_emails       INTEGER NOT NULL DEFAULT 0,
    replied_by_email        INTEGER NOT NULL DEFAULT 0,
    closed_at               INTEGER,
    close_transcript_at     INTEGER,
    pending_since           INTEGER,
    thread                  TEXT NOT NULL DEFAULT '',
    due_at                  INTEGER,
    lease_until             INTEGER,
    UNIQUE (site_id, id)
);
-- The scheduler reads only this index: its work grows with what is due, not what is stored.
CREATE INDEX conversations_due ON conversations (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX conversations_owing ON conversations (site_id)
    WHERE pending_since IS NOT NULL OR close_transcript_at IS NOT NULL;
CREATE INDEX conversations_visitor_email ON conversations (site_id, visitor_email);

-- Addresses that must not be emailed: unsubscribed, hard-bounced, complained.
CREATE TABLE suppressions (
    site_id TEXT NOT NULL,
    email   TEXT NOT NULL,
    reason  TEXT NOT NULL,
    at      INTEGER NOT NULL,
    PRIMARY KEY (site_id, email)
);

-- The outbox. `raw` is the whole message, fixed before the first attempt.
CREATE TABLE emails (
    id              TEXT PRIMARY KEY,
    conversation_pk INTEGER NOT NULL REFERENCES conversations (pk),
    -- The platform's id of the conversation, for logs and webhooks.
    conversation_id TEXT NOT NULL,
    site_id         TEXT NOT NULL,
    message_id      TEXT NOT NULL UNIQUE,
    mail_from       TEXT NOT NULL,
    rcpt_to         TEXT NOT NULL,
    raw             BLOB NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    sent_at         INTEGER,
    last_error      TEXT
);
CREATE INDEX emails_ready ON emails (next_attempt_at) WHERE status = 'pending';

CREATE TABLE messages (
    seq             INTEGER PRIMARY KEY,
    conversation_pk INTEGER NOT NULL REFERENCES conversations (pk),
    id              TEXT NOT NULL,
    author          TEXT NOT NULL,
    author_name     TEXT,
    text            TEXT NOT NULL,
    attachments     TEXT NOT NULL DEFAULT '[]',
    source          TEXT NOT NULL DEFAULT 'chat',
    at              INTEGER NOT NULL,
    deleted         INTEGER NOT NULL DEFAULT 0,
    email_id        TEXT REFERENCES emails (id),
    UNIQUE (conversation_pk, id)
);
CREATE INDEX messages_email ON messages (email_id) WHERE email_id IS NOT NULL;
