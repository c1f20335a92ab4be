-- What caused a suppression (the email whose link was used, the report and the email it was
-- about, the relay's refusal): an operator deciding whether to lift it needs to know.
ALTER TABLE suppressions ADD COLUMN cause TEXT;
