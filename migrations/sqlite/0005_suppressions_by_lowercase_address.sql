-- An address is suppressed whatever its case: after ana@x.test unsubscribes, ANA@x.test gets
-- nothing either. Suppressions are kept lowercased, and those written before are folded in
-- (the earliest reason stays where one address was kept twice).
INSERT INTO suppressions (site_id, email, reason, at)
SELECT site_id, lower(email), reason, at FROM suppressions
WHERE email <> lower(email)
ORDER BY at
ON CONFLICT DO NOTHING;
DELETE FROM suppressions WHERE email <> lower(email);
