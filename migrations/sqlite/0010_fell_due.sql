-- The instant an email fell due by the events' own clock: later events withdraw it only for the
-- visitor's reasons (read, returned, message deleted, suppressed), so the outcome does not
-- depend on how the platform batched its events or when the worker woke.
ALTER TABLE conversations ADD COLUMN fell_due_at INTEGER;
