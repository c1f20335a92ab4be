-- A delivery report that comes back to an email's own bounce address (VERP) is tied to the
-- email by that address, its envelope sender.
CREATE INDEX emails_by_mail_from ON emails (mail_from);
