-- A webhook endpoint added from an email subscriber's own page belongs to
-- that confirmed address: listed, tested and removed from there.
ALTER TABLE alert_subscriptions ADD COLUMN owner TEXT;
CREATE INDEX alert_subscriptions_owner ON alert_subscriptions (owner) WHERE owner IS NOT NULL;
-- The public form and the manage page look subscriptions up by address.
CREATE INDEX alert_subscriptions_target ON alert_subscriptions (target);
-- Endpoint health: since when every attempt failed (cleared by a
-- delivery), and the last delivery. A webhook failing for days is stopped
-- and its owner told.
ALTER TABLE alert_subscriptions ADD COLUMN failing_since TEXT;
ALTER TABLE alert_subscriptions ADD COLUMN last_delivered_at TEXT;
-- Reminders while a confirmed outage stays open: every this many seconds
-- after the last alert of it; 0 (the default) for none.
ALTER TABLE alert_subscriptions ADD COLUMN remind_every_s INTEGER NOT NULL DEFAULT 0;
