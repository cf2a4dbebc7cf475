-- A probe is one site at one moment: a batch stored twice (a retry after an
-- unacknowledged commit, an agent resending) must not count twice. Keep the
-- first copy of any duplicate, then let the key refuse the rest.
DELETE FROM probes WHERE id NOT IN (SELECT MIN(id) FROM probes GROUP BY site_id, started_at);
CREATE UNIQUE INDEX probes_natural_key ON probes (site_id, started_at);
-- The key's index serves every lookup the old one did.
DROP INDEX probes_site_time;
