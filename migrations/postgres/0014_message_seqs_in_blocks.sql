-- A batch of events takes its messages' sequence numbers a thousand at a time: one nextval
-- per block instead of one per message (see `reserve_seqs` in src/store/postgres/mod.rs). A
-- message stored with the column's default takes a block's first number; numbers only ever
-- grow, which is all a seq promises (order within a conversation, "read up to").
ALTER TABLE messages ALTER COLUMN seq SET INCREMENT BY 1000;
