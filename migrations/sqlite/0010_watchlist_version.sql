-- A counter that moves whenever the watchlist changes, so the probe loop
-- re-reads the whole list only when something changed (a large watchlist
-- takes a noticeable moment to read, and the loop reads it every 30 s).
CREATE TABLE watchlist_version (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  INTEGER NOT NULL
);
INSERT INTO watchlist_version (id, version) VALUES (1, 0);

CREATE TRIGGER sites_inserted AFTER INSERT ON sites
BEGIN
    UPDATE watchlist_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER sites_updated AFTER UPDATE ON sites
BEGIN
    UPDATE watchlist_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER sites_deleted AFTER DELETE ON sites
BEGIN
    UPDATE watchlist_version SET version = version + 1 WHERE id = 1;
END;
