-- An inbound reply is checked against the reach-back window: the time of the conversation's
-- latest email. Without this index that look-up read the whole outbox, every email's body
-- included, once per reply.
CREATE INDEX emails_by_conversation ON emails (conversation_pk, created_at);
