-- A complaint's suppression reason is spelled as the others are, for what the visitor did:
-- `complained`, beside `unsubscribed`.
UPDATE suppressions SET reason = 'complained' WHERE reason = 'complaint';
