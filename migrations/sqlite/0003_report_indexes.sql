-- Pages: a site's provider incidents, and its newest failed probe without
-- walking every successful one.
CREATE INDEX incident_sites_site ON incident_sites (site_id);
CREATE INDEX probes_site_failed ON probes (site_id, started_at) WHERE ok = 0;
