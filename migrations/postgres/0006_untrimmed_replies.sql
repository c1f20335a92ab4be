-- An email reply the trimming rules would have emptied is kept as it came, and marked, so the
-- platform can show it as such: better a reply with its quote than none.
ALTER TABLE messages ADD COLUMN trimmed BOOLEAN NOT NULL DEFAULT TRUE;
