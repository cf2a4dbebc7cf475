-- How far a provider incident reaches, once vantages probe from several
-- regions: `global` (seen from every region) or `regional`, and the
-- regions that saw it (a JSON array). Both empty for incidents stored
-- before, and when only one region probes.
ALTER TABLE incidents ADD COLUMN scope TEXT;
ALTER TABLE incidents ADD COLUMN regions TEXT;
