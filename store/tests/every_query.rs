#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on unexpected errors"
)]

//! Every public query of the store, run on both databases with data that
//! makes it return rows, so a query that only one dialect accepts (or
//! answers differently) fails here. Grouped by area: the watchlist with
//! probes and the pages that read them; incidents; alerts; providers'
//! statements; administrators, tokens and the own-network guard; agents.

mod common;

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use engine::alert::{Interests, Scope};
use engine::vocab::{OfficialImpact, OfficialStatus};
use engine::{
    AlertChannel, AlertEvent, AlertFormat, Cause, DeliveryState, FailureClass, Fault, FaultSide,
    IncidentKind, Mechanism, Pattern, Phase, Role, VantageState,
};
use statements::{Document, OfficialIncident, OfficialUpdate};
use store::{
    AfterAttempt, Attempt, Cadence, IncidentFilter, NewDelivery, NewSite, NewSubscription,
    ProbeRecord, ProviderIncidentRow, Resolution, Retention, RollupRow, Sendable, SiteChanges,
    Store, TokenScope, SITE_EVENT_WAIT,
};

fn t(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// 11:MM:SS on the day of the outage.
fn at(minute: i64) -> DateTime<Utc> {
    t("2025-11-18T11:00:00Z") + TimeDelta::minutes(minute)
}

fn site(host: &str, tags: &[&str]) -> NewSite {
    NewSite {
        url: format!("https://{host}/"),
        host: host.to_owned(),
        name: host.to_owned(),
        tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
        interval_s: 60,
    }
}

/// The ids of `hosts`, in that order.
async fn ids(store: &Store, hosts: &[&str]) -> Vec<i64> {
    let mut found = Vec::new();
    for host in hosts {
        found.push(store.site_by_host(host).await.unwrap().unwrap().id);
    }
    found
}

fn seen(provider: &str, role: Role, evidence: &str) -> (String, Role, Vec<String>) {
    (provider.to_owned(), role, vec![evidence.to_owned()])
}

fn ok(site_id: i64, started_at: DateTime<Utc>, total_ms: i64) -> ProbeRecord {
    ProbeRecord {
        site_id,
        started_at,
        ok: true,
        status: Some(200),
        dns_ms: Some(3),
        connect_ms: Some(10),
        tls_ms: Some(20),
        ttfb_ms: Some(total_ms - 5),
        total_ms: Some(total_ms),
        remote_ip: Some("192.0.2.10".to_owned()),
        ..ProbeRecord::default()
    }
}

/// Cloudflare's own 500 page.
fn edge_500(site_id: i64, started_at: DateTime<Utc>) -> ProbeRecord {
    ProbeRecord {
        site_id,
        started_at,
        ok: false,
        status: Some(500),
        failure: Some(FailureClass::HttpStatus),
        detail: Some("500 Internal Server Error".to_owned()),
        total_ms: Some(40),
        facts: Some(r#"{"dns":["192.0.2.10"]}"#.to_owned()),
        body_gz: Some(vec![31, 139, 8, 0]),
        provider: Some("cloudflare".to_owned()),
        fault_side: Some(FaultSide::Edge),
        fault: Some(Fault::EdgeError),
        confidence: Some(0.9),
        evidence: Some(r#"["server: cloudflare","cf-ray header"]"#.to_owned()),
        ..ProbeRecord::default()
    }
}

fn connect_timeout(site_id: i64, started_at: DateTime<Utc>) -> ProbeRecord {
    ProbeRecord {
        site_id,
        started_at,
        ok: false,
        failure: Some(FailureClass::ConnectTimeout),
        detail: Some("connect timed out after 10s".to_owned()),
        dns_ms: Some(4),
        ..ProbeRecord::default()
    }
}

/// A Cloudflare CDN incident over `sites`, from 11:20, in `phase`.
fn cloudflare_incident(phase: Phase, sites: &[i64]) -> ProviderIncidentRow {
    let resolved = phase == Phase::Resolved;
    ProviderIncidentRow {
        provider: "cloudflare".to_owned(),
        role: Role::Cdn,
        mechanism: Mechanism::Own,
        origins: 0,
        phase,
        pattern: Pattern::Steady,
        onset_at: at(20),
        detected_at: at(21),
        confirmed_at: Some(at(21)),
        peak_share: 1.0,
        peak_at: at(22),
        recovering_at: resolved.then(|| at(30)),
        resolved_at: resolved.then(|| at(35)),
        confidence: 0.9,
        sites: sites.iter().map(|id| (*id, at(20), at(29))).collect(),
        evidence: vec!["a.test: cloudflare edge 500".to_owned()],
        timeline: vec![engine::TimelinePoint {
            at: at(21),
            share: 1.0,
            tally: engine::Tally::new(2, 2),
        }],
        ..ProviderIncidentRow::default()
    }
}

/// A Fastly suspicion that never confirmed: no incident on the pages.
fn fastly_suspicion(site_id: i64) -> ProviderIncidentRow {
    ProviderIncidentRow {
        provider: "fastly".to_owned(),
        role: Role::Cdn,
        mechanism: Mechanism::Own,
        phase: Phase::Suspected,
        pattern: Pattern::Steady,
        onset_at: at(4),
        detected_at: at(5),
        peak_at: at(5),
        peak_share: 0.5,
        confidence: 0.4,
        sites: vec![(site_id, at(4), at(5))],
        ..ProviderIncidentRow::default()
    }
}

on_both!(watchlist_probes_and_the_pages_that_read_them);
async fn watchlist_probes_and_the_pages_that_read_them(store: Store) {
    let before = store.watchlist_version().await.unwrap();
    let watchlist = [
        site("shop.test", &["shop", "eu"]),
        site("news.test", &["news"]),
        site("blog.test", &[]),
        site("old.test", &[]),
    ];
    assert_eq!(store.add_sites(&watchlist, at(0)).await.unwrap(), 4);
    assert_eq!(store.add_sites(&watchlist, at(0)).await.unwrap(), 0);
    assert!(store.watchlist_version().await.unwrap() > before);
    let hosts: Vec<String> = store
        .list_sites()
        .await
        .unwrap()
        .into_iter()
        .map(|site| site.host)
        .collect();
    assert_eq!(hosts, ["blog.test", "news.test", "old.test", "shop.test"]);
    let [shop, news, blog, old] =
        ids(&store, &["shop.test", "news.test", "blog.test", "old.test"]).await[..]
    else {
        unreachable!()
    };

    // Who serves them: shop moves off AWS, news also shows Cloudflare's
    // firewall on an error page (which closes nothing).
    store
        .record_attribution(
            shop,
            &[
                seen("cloudflare", Role::Cdn, "server: cloudflare"),
                seen("aws", Role::Host, "ip range"),
            ],
            at(0),
        )
        .await
        .unwrap();
    store
        .record_attribution(shop, &[seen("cloudflare", Role::Cdn, "cf-ray")], at(1))
        .await
        .unwrap();
    store
        .record_attribution(news, &[seen("cloudflare", Role::Cdn, "cf-ray")], at(0))
        .await
        .unwrap();
    store
        .add_attribution(
            news,
            &[seen("cloudflare", Role::Waf, "challenge page")],
            at(2),
        )
        .await
        .unwrap();
    store
        .record_attribution(blog, &[seen("fastly", Role::Cdn, "x-served-by")], at(0))
        .await
        .unwrap();
    let current: Vec<(i64, String, Role)> = store
        .current_providers()
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.site_id, row.provider, row.role))
        .collect();
    let mut expected = vec![
        (shop, "cloudflare".to_owned(), Role::Cdn),
        (news, "cloudflare".to_owned(), Role::Cdn),
        (news, "cloudflare".to_owned(), Role::Waf),
        (blog, "fastly".to_owned(), Role::Cdn),
    ];
    expected.sort_by_key(|(id, _, role)| (*id, role.as_str()));
    assert_eq!(current, expected);
    let history: Vec<(String, Role, Option<DateTime<Utc>>)> = store
        .site_provider_history(shop)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.provider, row.role, row.until))
        .collect();
    assert_eq!(
        history,
        [
            ("cloudflare".to_owned(), Role::Cdn, None),
            ("aws".to_owned(), Role::Host, Some(at(1))),
        ]
    );

    // A quarter hour of probes: shop fails on Cloudflare's edge from 11:10,
    // blog times out from 11:13, news stays up, old is probed once.
    let mut batch = vec![ok(old, at(0), 50)];
    for minute in 0..15 {
        batch.push(if minute >= 10 {
            edge_500(shop, at(minute))
        } else {
            ok(shop, at(minute), 100 + minute)
        });
        batch.push(ok(news, at(minute), 80));
        batch.push(if minute >= 13 {
            connect_timeout(blog, at(minute))
        } else {
            ok(blog, at(minute), 60)
        });
    }
    store.insert_probes(&batch).await.unwrap();
    // An import of older raw probes and their hourly rollup.
    let imported: Vec<ProbeRecord> = (0..3)
        .map(|minute| {
            ok(
                news,
                t("2025-11-18T10:00:00Z") + TimeDelta::minutes(minute),
                90,
            )
        })
        .collect();
    store.add_probes(&imported).await.unwrap();
    store
        .add_rollups(
            Resolution::Hour,
            &[(
                news,
                RollupRow {
                    bucket: t("2025-11-18T10:17:00Z"),
                    probes: 3,
                    failures: 0,
                    suspect: 0,
                    total_ms_sum: 270,
                    total_ms_max: 90,
                },
            )],
        )
        .await
        .unwrap();
    assert_eq!(store.probe_count().await.unwrap(), 49);

    let summary = store.site_summary().await.unwrap();
    assert_eq!(
        (summary.watched, summary.probed, summary.failing),
        (4, 4, 2)
    );
    let failing: Vec<(i64, Option<String>, DateTime<Utc>)> = store
        .failing_sites(10)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.site_id, row.provider, row.since))
        .collect();
    assert_eq!(
        failing,
        [
            (blog, None, at(13)),
            (shop, Some("cloudflare".to_owned()), at(10))
        ]
    );
    let mut health = store.site_health().await.unwrap();
    health.sort_unstable();
    let mut expected = vec![(shop, false), (news, true), (blog, false), (old, true)];
    expected.sort_unstable();
    assert_eq!(health, expected);

    let status = store.site_status(shop).await.unwrap().unwrap();
    assert_eq!(
        (status.ok, status.suspect, status.failure, status.fault),
        (
            false,
            false,
            Some(FailureClass::HttpStatus),
            Some(Fault::EdgeError)
        )
    );
    assert_eq!((status.started_at, status.since), (at(14), at(10)));
    assert_eq!(status.provider.as_deref(), Some("cloudflare"));
    assert_eq!(store.site_status(i64::MAX).await.unwrap(), None);

    let recent = store.recent_probes(shop, 3).await.unwrap();
    assert_eq!(
        recent.iter().map(|p| p.started_at).collect::<Vec<_>>(),
        [at(14), at(13), at(12)]
    );
    assert_eq!(recent[0].body_gz.as_deref(), Some(&[31, 139, 8, 0][..]));
    assert_eq!(recent[0].confidence, Some(0.9));
    assert_eq!(recent[0].fault_side, Some(FaultSide::Edge));
    let history = store.probe_history(shop, 20).await.unwrap();
    assert_eq!(history.len(), 15);
    assert!(history.iter().all(|probe| probe.body_gz.is_none()));
    assert_eq!(
        (
            history[0].started_at,
            history[14].started_at,
            history[14].ok
        ),
        (at(14), at(0), true)
    );
    let last = store.latest_failure(shop).await.unwrap().unwrap();
    assert_eq!(
        (last.started_at, last.status, last.body_gz),
        (at(14), Some(500), None)
    );
    assert_eq!(store.latest_failure(news).await.unwrap(), None);

    let minutes = store
        .rollups(shop, Resolution::Minute, at(8), at(12))
        .await
        .unwrap();
    assert_eq!(
        minutes
            .iter()
            .map(|row| (row.bucket, row.probes, row.failures, row.total_ms_sum))
            .collect::<Vec<_>>(),
        [
            (at(8), 1, 0, 108),
            (at(9), 1, 0, 109),
            (at(10), 1, 1, 0),
            (at(11), 1, 1, 0)
        ]
    );
    let hours = store
        .rollups(news, Resolution::Hour, t("2025-11-18T10:00:00Z"), at(60))
        .await
        .unwrap();
    assert_eq!(
        hours
            .iter()
            .map(|row| (row.bucket, row.probes, row.total_ms_sum, row.total_ms_max))
            .collect::<Vec<_>>(),
        [
            (t("2025-11-18T10:00:00Z"), 3, 270, 90),
            (at(0), 15, 15 * 80, 80)
        ]
    );
    let days = store
        .rollups(
            shop,
            Resolution::Day,
            t("2025-11-18T00:00:00Z"),
            t("2025-11-19T00:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(
        days.iter()
            .map(|row| (row.probes, row.failures, row.total_ms_max))
            .collect::<Vec<_>>(),
        [(15, 5, 109)]
    );

    // The pages.
    let found = store.site_by_host("shop.test").await.unwrap().unwrap();
    assert_eq!(
        (found.id, found.tags.as_str(), found.enabled),
        (shop, "shop,eu", true)
    );
    assert_eq!(store.site_by_host("nowhere.test").await.unwrap(), None);
    assert_eq!(store.site(news).await.unwrap().unwrap().host, "news.test");
    assert_eq!(store.site(i64::MAX).await.unwrap(), None);

    // A site just added behind Cloudflare, not probed yet.
    store
        .add_sites(&[site("upcoming.test", &[])], at(15))
        .await
        .unwrap();
    let upcoming = ids(&store, &["upcoming.test"]).await[0];
    store
        .record_attribution(upcoming, &[seen("cloudflare", Role::Cdn, "cf-ray")], at(15))
        .await
        .unwrap();

    let cohorts = store
        .provider_cohorts()
        .await
        .unwrap()
        .into_iter()
        .map(|c| {
            (
                c.provider,
                c.role,
                c.sites,
                c.probed,
                c.failing,
                c.failing_here,
                c.latest_probe,
            )
        })
        .collect::<Vec<_>>();
    assert_eq!(
        cohorts,
        [
            ("cloudflare".to_owned(), Role::Cdn, 3, 2, 1, 1, Some(at(14))),
            ("cloudflare".to_owned(), Role::Waf, 1, 1, 0, 0, Some(at(14))),
            ("fastly".to_owned(), Role::Cdn, 1, 1, 1, 0, Some(at(14))),
        ]
    );
    let behind = store
        .provider_sites("cloudflare")
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.site_id, s.role, s.ok, s.generator, s.since))
        .collect::<Vec<_>>();
    assert_eq!(
        behind,
        [
            (
                shop,
                Role::Cdn,
                Some(false),
                Some("cloudflare".to_owned()),
                Some(at(10))
            ),
            (news, Role::Cdn, Some(true), None, Some(at(0))),
            (news, Role::Waf, Some(true), None, Some(at(0))),
            (upcoming, Role::Cdn, None, None, None),
        ]
    );
    assert!(store.provider_sites("akamai").await.unwrap().is_empty());
    let summed = store
        .provider_rollups("cloudflare", Resolution::Minute, at(9), at(11))
        .await
        .unwrap();
    assert_eq!(
        summed
            .iter()
            .map(|row| (
                row.bucket,
                row.probes,
                row.failures,
                row.total_ms_sum,
                row.total_ms_max
            ))
            .collect::<Vec<_>>(),
        [(at(9), 2, 0, 109 + 80, 109), (at(10), 2, 1, 80, 80)]
    );
    let summed = store
        .provider_rollups(
            "cloudflare",
            Resolution::Hour,
            t("2025-11-18T10:00:00Z"),
            at(60),
        )
        .await
        .unwrap();
    assert_eq!(
        summed
            .iter()
            .map(|row| (row.bucket, row.probes, row.failures))
            .collect::<Vec<_>>(),
        [(t("2025-11-18T10:00:00Z"), 3, 0), (at(0), 30, 5)]
    );

    let hosts = |sites: Vec<store::Site>| sites.into_iter().map(|s| s.host).collect::<Vec<_>>();
    assert_eq!(
        hosts(store.search_sites(Some("SHOP"), None, 10).await.unwrap()),
        ["shop.test"]
    );
    assert_eq!(
        hosts(
            store
                .search_sites(None, Some("blog.test"), 2)
                .await
                .unwrap()
        ),
        ["news.test", "old.test"]
    );
    // LIKE's wildcards are meant literally: `p_t` is not `p.t`.
    assert!(store
        .search_sites(Some("%"), None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .search_sites(Some("p_t"), None, 10)
        .await
        .unwrap()
        .is_empty());

    // Editing the watchlist.
    let changes = SiteChanges {
        name: Some("The Shop".to_owned()),
        tags: Some(vec!["shop".to_owned()]),
        interval_s: Some(30),
    };
    assert!(store.update_site(shop, &changes).await.unwrap());
    assert!(!store.update_site(i64::MAX, &changes).await.unwrap());
    let edited = store.site(shop).await.unwrap().unwrap();
    assert_eq!(
        (
            edited.name.as_str(),
            edited.tags.as_str(),
            edited.interval_s
        ),
        ("The Shop", "shop", 30)
    );
    assert_eq!(store.removed_sites().await.unwrap(), 0);
    assert!(store.set_site_enabled(old, false).await.unwrap());
    assert!(!store.set_site_enabled(i64::MAX, false).await.unwrap());
    assert_eq!(store.removed_sites().await.unwrap(), 1);
    assert_eq!(
        hosts(
            store
                .watched_sites(&[shop, news, old, i64::MAX])
                .await
                .unwrap()
        ),
        ["news.test", "shop.test"]
    );
    assert!(store.watched_sites(&[]).await.unwrap().is_empty());
    let summary = store.site_summary().await.unwrap();
    assert_eq!(
        (summary.watched, summary.probed, summary.failing),
        (4, 3, 2)
    );
    // Added again, it is watched again with its history.
    let version = store.watchlist_version().await.unwrap();
    assert_eq!(store.add_sites(&watchlist[3..], at(16)).await.unwrap(), 1);
    assert!(store.watchlist_version().await.unwrap() > version);
    assert_eq!(store.removed_sites().await.unwrap(), 0);
    assert_eq!(
        store.site_status(old).await.unwrap().unwrap().started_at,
        at(0)
    );

    // Two days on, raw probes before 11:05 (and the import) are gone;
    // every rollup is still young enough.
    let pruned = store
        .prune(t("2025-11-20T11:05:00Z"), Retention::default())
        .await
        .unwrap();
    assert_eq!((pruned.probes, pruned.rollups), (19, 0));
    assert_eq!(store.probe_count().await.unwrap(), 30);
    store.vacuum().await.unwrap();
    assert!(store.size_bytes().await.unwrap() > 0);
    assert_eq!(store.probe_count().await.unwrap(), 30);
}

on_both!(incidents_and_their_pages);
async fn incidents_and_their_pages(store: Store) {
    store
        .add_sites(
            &[
                site("a.test", &[]),
                site("b.test", &[]),
                site("c.test", &[]),
            ],
            at(0),
        )
        .await
        .unwrap();
    let [a, b, c] = ids(&store, &["a.test", "b.test", "c.test"]).await[..] else {
        unreachable!()
    };
    let mut batch = Vec::new();
    for minute in 0..40 {
        for id in [a, b] {
            batch.push(if (20..30).contains(&minute) {
                edge_500(id, at(minute))
            } else {
                ok(id, at(minute), 100)
            });
        }
        batch.push(ok(c, at(minute), 80));
    }
    store.insert_probes(&batch).await.unwrap();

    let suspicion = store
        .save_provider_incident(None, &fastly_suspicion(c), at(5))
        .await
        .unwrap();
    let outage = store
        .save_provider_incident(
            None,
            &cloudflare_incident(Phase::Confirmed, &[a, b]),
            at(21),
        )
        .await
        .unwrap();
    let active: Vec<i64> = store
        .active_provider_incidents()
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(active, [outage]);

    let on_a = store
        .open_site_incident(
            a,
            at(20),
            at(22),
            Some(Cause::Fault(Fault::EdgeError)),
            Some(outage),
        )
        .await
        .unwrap();
    let on_b = store
        .open_site_incident(
            b,
            at(20),
            at(23),
            Some(Cause::Failure(FailureClass::HttpStatus)),
            None,
        )
        .await
        .unwrap();
    store.resolve_site_incident(a, at(30)).await.unwrap();
    // Failing again at 11:25, before its incident ended: the same one goes on.
    let again = store
        .open_site_incident(a, at(25), at(40), None, None)
        .await
        .unwrap();
    assert_eq!(again, on_a);
    let reopened = store.incident(on_a).await.unwrap().unwrap();
    assert_eq!(
        (
            reopened.phase,
            reopened.onset_at,
            reopened.resolved_at,
            reopened.explained_by
        ),
        (Phase::Confirmed, at(20), None, Some(outage))
    );
    assert_eq!(reopened.fault, Some(Cause::Fault(Fault::EdgeError)));
    store.resolve_site_incident(a, at(45)).await.unwrap();
    store
        .save_provider_incident(
            Some(outage),
            &cloudflare_incident(Phase::Resolved, &[a, b]),
            at(35),
        )
        .await
        .unwrap();
    assert!(store.active_provider_incidents().await.unwrap().is_empty());

    let listed =
        |incidents: Vec<store::Incident>| incidents.iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(
        listed(store.list_incidents(None, 10).await.unwrap()),
        [on_b, on_a, outage, suspicion]
    );
    assert_eq!(
        listed(
            store
                .list_incidents(Some(IncidentKind::Provider), 10)
                .await
                .unwrap()
        ),
        [outage, suspicion]
    );
    assert_eq!(
        listed(store.site_incidents(a, 10).await.unwrap()),
        [on_a, outage]
    );
    assert_eq!(listed(store.site_incidents(b, 1).await.unwrap()), [on_b]);
    assert!(store.site_incidents(c, 10).await.unwrap().is_empty());
    assert_eq!(
        listed(
            store
                .provider_incidents(Some("cloudflare"), 10)
                .await
                .unwrap()
        ),
        [outage]
    );
    assert_eq!(
        listed(store.provider_incidents(None, 10).await.unwrap()),
        [outage]
    );
    assert!(store
        .provider_incidents(Some("fastly"), 10)
        .await
        .unwrap()
        .is_empty());

    let all = IncidentFilter::default();
    assert_eq!(
        listed(store.incidents(&all, 10).await.unwrap()),
        [on_b, on_a, outage]
    );
    let open = IncidentFilter {
        open: Some(true),
        ..IncidentFilter::default()
    };
    assert_eq!(listed(store.incidents(&open, 10).await.unwrap()), [on_b]);
    let resolved_sites = IncidentFilter {
        kind: Some(IncidentKind::Site),
        open: Some(false),
        ..IncidentFilter::default()
    };
    assert_eq!(
        listed(store.incidents(&resolved_sites, 10).await.unwrap()),
        [on_a]
    );
    let in_window = IncidentFilter {
        provider: Some("cloudflare".to_owned()),
        since: Some(at(34)),
        until: Some(at(20)),
        ..IncidentFilter::default()
    };
    assert_eq!(
        listed(store.incidents(&in_window, 10).await.unwrap()),
        [outage]
    );
    let after_it = IncidentFilter {
        since: Some(at(36)),
        ..IncidentFilter::default()
    };
    assert_eq!(
        listed(store.incidents(&after_it, 10).await.unwrap()),
        [on_b, on_a]
    );
    let before_onset = IncidentFilter {
        until: Some(at(19)),
        ..IncidentFilter::default()
    };
    assert!(store.incidents(&before_onset, 10).await.unwrap().is_empty());
    let next_page = IncidentFilter {
        before_id: Some(on_a),
        ..IncidentFilter::default()
    };
    assert_eq!(
        listed(store.incidents(&next_page, 10).await.unwrap()),
        [outage]
    );

    let incident = store.incident(outage).await.unwrap().unwrap();
    assert_eq!(
        (
            incident.kind,
            incident.phase,
            incident.sites_affected,
            incident.resolved_at
        ),
        (IncidentKind::Provider, Phase::Resolved, 2, Some(at(35)))
    );
    assert_eq!(
        (
            incident.role,
            incident.mechanism,
            incident.origins,
            incident.peak_share
        ),
        (Some(Role::Cdn), Some(Mechanism::Own), Some(0), Some(1.0))
    );
    assert_eq!(store.incident(i64::MAX).await.unwrap(), None);

    let affected = store.incident_sites(outage).await.unwrap();
    assert_eq!(
        affected
            .iter()
            .map(|s| (
                s.site_id,
                s.last_failure,
                s.status,
                s.generator.clone(),
                s.fault
            ))
            .collect::<Vec<_>>(),
        [
            (
                a,
                at(29),
                Some(500),
                Some("cloudflare".to_owned()),
                Some(Fault::EdgeError)
            ),
            (
                b,
                at(29),
                Some(500),
                Some("cloudflare".to_owned()),
                Some(Fault::EdgeError)
            ),
        ]
    );
    let own = store.incident_sites(on_b).await.unwrap();
    assert_eq!(
        own.iter()
            .map(|s| (s.site_id, s.first_failure, s.last_failure, s.failure))
            .collect::<Vec<_>>(),
        [(b, at(20), at(29), Some(FailureClass::HttpStatus))]
    );

    let first = store
        .annotate_incident(
            outage,
            at(25),
            "Cloudflare acknowledges",
            Some("https://www.cloudflarestatus.com/"),
            "ada",
            at(26),
        )
        .await
        .unwrap();
    let second = store
        .annotate_incident(outage, at(22), "Shops report errors", None, "bob", at(27))
        .await
        .unwrap();
    let notes: Vec<(i64, String, Option<String>)> = store
        .annotations(outage)
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.id, n.author, n.url))
        .collect();
    assert_eq!(
        notes,
        [
            (second, "bob".to_owned(), None),
            (
                first,
                "ada".to_owned(),
                Some("https://www.cloudflarestatus.com/".to_owned())
            ),
        ]
    );
    assert!(!store.delete_annotation(on_a, second).await.unwrap());
    assert!(store.delete_annotation(outage, second).await.unwrap());
    assert!(!store.delete_annotation(outage, second).await.unwrap());
    assert_eq!(store.annotations(outage).await.unwrap().len(), 1);
}

fn subscription(
    channel: AlertChannel,
    target: &str,
    scopes: Vec<Scope>,
    confirmed_at: Option<DateTime<Utc>>,
) -> NewSubscription {
    NewSubscription {
        channel,
        format: AlertFormat::Standard,
        target: target.to_owned(),
        secrets: Vec::new(),
        interests: Interests {
            scopes,
            ..Interests::default()
        },
        min_interval_s: 0,
        remind_every_s: 0,
        confirmed_at,
        created_by: "signup".to_owned(),
        owner: None,
    }
}

fn delivery(
    subscription_id: i64,
    sent_as: AlertEvent,
    state: DeliveryState,
    due_at: DateTime<Utc>,
) -> NewDelivery {
    NewDelivery {
        subscription_id,
        sent_as,
        host: None,
        state,
        due_at,
    }
}

on_both!(alert_subscriptions_events_and_deliveries);
async fn alert_subscriptions_events_and_deliveries(store: Store) {
    store
        .add_sites(
            &[
                site("a.test", &["shop"]),
                site("b.test", &[]),
                site("c.test", &[]),
                site("d.test", &[]),
            ],
            at(0),
        )
        .await
        .unwrap();
    let [a, b, c, d] = ids(&store, &["a.test", "b.test", "c.test", "d.test"]).await[..] else {
        unreachable!()
    };
    for (id, provider, role) in [
        (a, "cloudflare", Role::Cdn),
        (b, "cloudflare", Role::Cdn),
        (c, "cloudflare", Role::Waf),
        (d, "fastly", Role::Cdn),
    ] {
        store
            .record_attribution(id, &[seen(provider, role, "header")], at(0))
            .await
            .unwrap();
    }

    // Subscriptions: an unconfirmed email for Cloudflare, the webhook that
    // address added, and a confirmed email for one site.
    let ops = store
        .create_subscription(
            &subscription(
                AlertChannel::Email,
                "ops@example.test",
                vec![Scope::Provider {
                    id: "cloudflare".to_owned(),
                    role: None,
                }],
                None,
            ),
            at(0),
        )
        .await
        .unwrap();
    let hook = store
        .create_subscription(
            &NewSubscription {
                secrets: vec!["whsec_b".to_owned(), "whsec_a".to_owned()],
                remind_every_s: 600,
                owner: Some("ops@example.test".to_owned()),
                ..subscription(
                    AlertChannel::Webhook,
                    "https://hooks.example.test/faultline",
                    vec![Scope::Everything],
                    None,
                )
            },
            at(0),
        )
        .await
        .unwrap();
    let dev = store
        .create_subscription(
            &subscription(
                AlertChannel::Email,
                "dev@example.test",
                vec![Scope::Site("a.test".to_owned())],
                Some(at(0)),
            ),
            at(0),
        )
        .await
        .unwrap();
    assert_eq!(store.subscriptions_of("ops@example.test").await.unwrap(), 1);
    assert_eq!(
        store.subscriptions_of("nobody@example.test").await.unwrap(),
        0
    );
    assert!(store
        .has_subscription(
            "ops@example.test",
            &[Scope::Provider {
                id: "cloudflare".to_owned(),
                role: None
            }]
        )
        .await
        .unwrap());
    assert!(!store
        .has_subscription("ops@example.test", &[Scope::Everything])
        .await
        .unwrap());
    let all: Vec<(i64, AlertChannel, bool)> = store
        .subscriptions()
        .await
        .unwrap()
        .iter()
        .map(|s| (s.id, s.channel, s.is_active()))
        .collect();
    assert_eq!(
        all,
        [
            (ops, AlertChannel::Email, false),
            (hook, AlertChannel::Webhook, true),
            (dev, AlertChannel::Email, true)
        ]
    );
    let webhook = store.subscription(hook).await.unwrap().unwrap();
    assert_eq!(webhook.secrets, ["whsec_b", "whsec_a"]);
    assert_eq!(webhook.interests.scopes, [Scope::Everything]);
    assert_eq!(webhook.remind_every_s, 600);
    assert_eq!(store.subscription(i64::MAX).await.unwrap(), None);
    let ids_of = |subscriptions: Vec<store::Subscription>| {
        subscriptions.iter().map(|s| s.id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids_of(
            store
                .email_subscriptions_of("ops@example.test")
                .await
                .unwrap()
        ),
        [ops]
    );
    assert_eq!(
        ids_of(store.webhooks_owned_by("ops@example.test").await.unwrap()),
        [hook]
    );

    // Confirmation mail: sent once, then confirmed by the address.
    assert_eq!(
        ids_of(store.confirmations_to_send(10).await.unwrap()),
        [ops]
    );
    store.confirmation_sent(ops, at(1)).await.unwrap();
    assert!(store.confirmations_to_send(10).await.unwrap().is_empty());
    assert!(store.confirm_subscription(ops, at(2)).await.unwrap());
    assert!(store.confirm_subscription(ops, at(3)).await.unwrap());
    assert!(!store.confirm_subscription(hook, at(2)).await.unwrap());
    assert_eq!(
        store.subscription(ops).await.unwrap().unwrap().confirmed_at,
        Some(at(2))
    );

    let interests = Interests {
        scopes: vec![
            Scope::Site("a.test".to_owned()),
            Scope::Tag("shop".to_owned()),
        ],
        events: vec![AlertEvent::SiteDown, AlertEvent::SiteRecovered],
        mutes: vec![engine::alert::MuteWindow {
            from: t("2025-12-24T00:00:00Z"),
            until: t("2025-12-27T00:00:00Z"),
        }],
    };
    let cadence = Cadence {
        min_interval_s: 300,
        remind_every_s: 0,
    };
    assert!(store.set_interests(dev, &interests, cadence).await.unwrap());
    assert!(!store
        .set_interests(i64::MAX, &interests, cadence)
        .await
        .unwrap());
    let changed = store.subscription(dev).await.unwrap().unwrap();
    assert_eq!(
        (&changed.interests, changed.cadence()),
        (&interests, cadence)
    );
    assert!(store
        .has_subscription("dev@example.test", &interests.scopes)
        .await
        .unwrap());

    let first_key = store
        .server_key("alert-links", b"fresh-1", at(0))
        .await
        .unwrap();
    let second_key = store
        .server_key("alert-links", b"fresh-2", at(1))
        .await
        .unwrap();
    assert_eq!(
        (first_key.as_slice(), second_key.as_slice()),
        (&b"fresh-1"[..], &b"fresh-1"[..])
    );

    // The outage writes its events: Cloudflare confirmed at 11:21, a.test
    // down at 11:22 (waiting to be explained), and a person asks for a test.
    let outage = store
        .save_provider_incident(
            None,
            &cloudflare_incident(Phase::Confirmed, &[a, b]),
            at(21),
        )
        .await
        .unwrap();
    let on_a = store
        .open_site_incident(
            a,
            at(20),
            at(22),
            Some(Cause::Fault(Fault::EdgeError)),
            None,
        )
        .await
        .unwrap();
    let test = store.queue_test_event(hook, at(22)).await.unwrap();
    assert_eq!(store.next_event_due().await.unwrap(), Some(at(21)));
    let events = |rows: Vec<store::AlertEventRow>| {
        rows.iter()
            .map(|e| (e.event, e.incident_id, e.seq))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        events(
            store
                .events_to_fan_out(at(22), Sendable::All, 10)
                .await
                .unwrap()
        ),
        [
            (AlertEvent::ProviderConfirmed, Some(outage), 1),
            (AlertEvent::Test, None, 1)
        ]
    );
    let waiting = store
        .events_to_fan_out(at(24), Sendable::All, 10)
        .await
        .unwrap();
    assert_eq!(waiting.len(), 3);
    let (confirmed, down) = (waiting[0].id, waiting[1].id);
    assert_eq!(waiting[1].event, AlertEvent::SiteDown);
    assert_eq!(waiting[1].not_before, at(22) + SITE_EVENT_WAIT);
    assert_eq!(waiting[1].detail.site_id, Some(a));
    assert_eq!(waiting[0].detail.affected_sites, Some(2));
    assert_eq!(waiting[2].test_for, Some(hook));
    let tests = store
        .events_to_fan_out(at(24), Sendable::TestsOnly, 10)
        .await
        .unwrap();
    assert_eq!(tests.iter().map(|e| e.id).collect::<Vec<_>>(), [test]);

    // Who it concerns.
    let audience = store
        .provider_audience("cloudflare", Role::Cdn, outage)
        .await
        .unwrap();
    let mut heard: Vec<(String, Vec<String>, bool)> = audience
        .sites
        .into_iter()
        .map(|(facts, affected)| (facts.host, facts.tags, affected))
        .collect();
    heard.sort();
    assert_eq!(
        heard,
        [
            ("a.test".to_owned(), vec!["shop".to_owned()], true),
            ("b.test".to_owned(), vec![], true),
            ("c.test".to_owned(), vec![], false),
        ]
    );
    let (facts, explained) = store.site_audience(a, None, at(25)).await.unwrap().unwrap();
    assert_eq!((facts.host.as_str(), explained), ("a.test", Some(outage)));
    let (_, explained) = store.site_audience(d, None, at(25)).await.unwrap().unwrap();
    assert_eq!(explained, None);
    let (_, explained) = store
        .site_audience(d, Some(outage), at(25))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(explained, Some(outage));
    assert_eq!(
        store.site_audience(i64::MAX, None, at(25)).await.unwrap(),
        None
    );

    // Fan-out: the provider event to both Cloudflare listeners (dev's
    // muted), the test to the webhook, the site event to dev.
    store
        .fan_out(
            confirmed,
            &[
                delivery(
                    ops,
                    AlertEvent::ProviderConfirmed,
                    DeliveryState::Pending,
                    at(22),
                ),
                delivery(
                    hook,
                    AlertEvent::ProviderConfirmed,
                    DeliveryState::Pending,
                    at(22),
                ),
                delivery(
                    dev,
                    AlertEvent::ProviderConfirmed,
                    DeliveryState::Muted,
                    at(22),
                ),
            ],
            at(22),
        )
        .await
        .unwrap();
    store
        .fan_out(
            test,
            &[delivery(
                hook,
                AlertEvent::Test,
                DeliveryState::Pending,
                at(22),
            )],
            at(22),
        )
        .await
        .unwrap();
    // Fanned out twice (a crash before the commit): nothing doubles.
    store
        .fan_out(
            test,
            &[delivery(
                hook,
                AlertEvent::Test,
                DeliveryState::Pending,
                at(23),
            )],
            at(23),
        )
        .await
        .unwrap();
    store
        .fan_out(
            down,
            &[NewDelivery {
                host: Some("a.test".to_owned()),
                ..delivery(
                    dev,
                    AlertEvent::SiteExplained,
                    DeliveryState::Pending,
                    at(24),
                )
            }],
            at(24),
        )
        .await
        .unwrap();
    assert!(store
        .events_to_fan_out(at(24), Sendable::All, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.next_event_due().await.unwrap(), None);

    let mut heard = store.heard_of(outage).await.unwrap();
    heard.sort_unstable();
    assert_eq!(heard, [ops, hook, dev]);
    assert_eq!(store.heard_of(on_a).await.unwrap(), [dev]);
    let mut last = store.last_alert_of(outage).await.unwrap();
    last.sort_unstable();
    assert_eq!(last, [(ops, at(22)), (hook, at(22))]);

    let due = store
        .due_deliveries(at(25), Sendable::All, 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter()
            .map(|d| (
                d.subscription.id,
                d.sent_as,
                d.event.id,
                d.attempts,
                d.host.clone()
            ))
            .collect::<Vec<_>>(),
        [
            (ops, AlertEvent::ProviderConfirmed, confirmed, 0, None),
            (hook, AlertEvent::ProviderConfirmed, confirmed, 0, None),
            (hook, AlertEvent::Test, test, 0, None),
            (
                dev,
                AlertEvent::SiteExplained,
                down,
                0,
                Some("a.test".to_owned())
            ),
        ]
    );
    let (to_ops, to_hook, test_delivery, to_dev) = (due[0].id, due[1].id, due[2].id, due[3].id);
    assert_eq!(due[1].subscription.secrets, ["whsec_b", "whsec_a"]);
    let tests_only = store
        .due_deliveries(at(25), Sendable::TestsOnly, 10)
        .await
        .unwrap();
    assert_eq!(
        tests_only.iter().map(|d| d.id).collect::<Vec<_>>(),
        [test_delivery]
    );
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(at(22)));

    // The webhook's breaker is open: its outage alert waits.
    store.defer_delivery(to_hook, at(30)).await.unwrap();
    let due: Vec<i64> = store
        .due_deliveries(at(25), Sendable::All, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(due, [to_ops, test_delivery, to_dev]);

    let delivered = Attempt {
        at: at(25),
        status: Some(200),
        duration_ms: 120,
        error: None,
        next: AfterAttempt::Delivered,
    };
    assert_eq!(
        store.record_attempt(to_ops, &delivered).await.unwrap(),
        None
    );
    let failed = Attempt {
        at: at(25),
        status: Some(503),
        duration_ms: 2_000,
        error: Some("503 Service Unavailable".to_owned()),
        next: AfterAttempt::RetryAt(at(27)),
    };
    assert_eq!(
        store.record_attempt(test_delivery, &failed).await.unwrap(),
        Some(at(25))
    );

    // Still confirmed ten minutes after the webhook last heard of it: a
    // reminder, and only one.
    assert_eq!(store.queue_reminders(at(40)).await.unwrap(), 1);
    assert_eq!(store.queue_reminders(at(41)).await.unwrap(), 0);
    let reminder = store
        .due_deliveries(at(40), Sendable::All, 10)
        .await
        .unwrap();
    let reminder = reminder
        .iter()
        .find(|d| d.sent_as == AlertEvent::ProviderOngoing)
        .unwrap();
    assert_eq!(
        (
            reminder.subscription.id,
            reminder.event.incident_id,
            reminder.event.seq
        ),
        (hook, Some(outage), 2)
    );
    assert_eq!(reminder.event.detail.phase, Some(Phase::Confirmed));

    let gave_up = Attempt {
        at: at(30),
        status: None,
        duration_ms: 10_000,
        error: Some("timed out".to_owned()),
        next: AfterAttempt::Dead,
    };
    assert_eq!(
        store.record_attempt(test_delivery, &gave_up).await.unwrap(),
        Some(at(25))
    );
    let dead = store
        .delivery_log(Some(DeliveryState::Dead), 10)
        .await
        .unwrap();
    assert_eq!(
        dead.iter()
            .map(|l| (
                l.id,
                l.attempts,
                l.last_error.clone(),
                l.last_attempt_at,
                l.last_ms
            ))
            .collect::<Vec<_>>(),
        [(
            test_delivery,
            2,
            Some("timed out".to_owned()),
            Some(at(30)),
            Some(10_000)
        )]
    );
    assert!(store.replay_delivery(test_delivery, at(45)).await.unwrap());
    assert!(!store.replay_delivery(test_delivery, at(45)).await.unwrap());
    assert!(!store.replay_delivery(to_ops, at(45)).await.unwrap());

    let counts = store.delivery_counts().await.unwrap();
    let expected: HashMap<i64, HashMap<DeliveryState, i64>> = HashMap::from([
        (ops, HashMap::from([(DeliveryState::Delivered, 1)])),
        (hook, HashMap::from([(DeliveryState::Pending, 3)])),
        (
            dev,
            HashMap::from([(DeliveryState::Muted, 1), (DeliveryState::Pending, 1)]),
        ),
    ]);
    assert_eq!(counts, expected);

    let log = store.delivery_log(None, 10).await.unwrap();
    assert_eq!(log.len(), 6);
    assert!(log.windows(2).all(|pair| pair[0].id > pair[1].id));
    let line = log.iter().find(|l| l.id == to_ops).unwrap();
    assert_eq!(
        (
            line.target.as_str(),
            line.incident_id,
            line.state,
            line.attempts,
            line.last_status,
            line.delivered_at,
            line.last_ms
        ),
        (
            "ops@example.test",
            Some(outage),
            DeliveryState::Delivered,
            1,
            Some(200),
            Some(at(25)),
            Some(120)
        )
    );
    let line = log.iter().find(|l| l.id == test_delivery).unwrap();
    assert_eq!(
        (line.state, line.attempts, line.due_at, line.incident_id),
        (DeliveryState::Pending, 0, at(45), None)
    );
    let line = log.iter().find(|l| l.id == to_dev).unwrap();
    assert_eq!((line.last_attempt_at, line.last_ms), (None, None));
    let delivered_only = store
        .delivery_log(Some(DeliveryState::Delivered), 10)
        .await
        .unwrap();
    assert_eq!(
        delivered_only.iter().map(|l| l.id).collect::<Vec<_>>(),
        [to_ops]
    );

    // The endpoint is stopped, then resumed with its failures forgotten.
    assert!(store
        .disable_subscription(hook, "410 Gone", at(50))
        .await
        .unwrap());
    assert!(!store
        .disable_subscription(hook, "410 Gone", at(51))
        .await
        .unwrap());
    let stopped = store.subscription(hook).await.unwrap().unwrap();
    assert_eq!(
        (
            stopped.disabled_at,
            stopped.disabled_reason.as_deref(),
            stopped.failing_since
        ),
        (Some(at(50)), Some("410 Gone"), Some(at(25)))
    );
    let due: Vec<i64> = store
        .due_deliveries(at(50), Sendable::All, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(due, [to_dev]);
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(at(24)));
    assert!(store.resume_subscription(hook).await.unwrap());
    assert!(!store.resume_subscription(i64::MAX).await.unwrap());
    let resumed = store.subscription(hook).await.unwrap().unwrap();
    assert_eq!((resumed.disabled_at, resumed.failing_since), (None, None));
    assert_eq!(
        store
            .subscription(ops)
            .await
            .unwrap()
            .unwrap()
            .last_delivered_at,
        Some(at(25))
    );
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(at(24)));

    // Resolved: its event follows the reminder.
    store
        .save_provider_incident(
            Some(outage),
            &cloudflare_incident(Phase::Resolved, &[a, b]),
            at(55),
        )
        .await
        .unwrap();
    assert_eq!(
        events(
            store
                .events_to_fan_out(at(55), Sendable::All, 10)
                .await
                .unwrap()
        ),
        [(AlertEvent::ProviderResolved, Some(outage), 3)]
    );
    assert_eq!(store.queue_reminders(at(90)).await.unwrap(), 0);

    // Unsubscribing: the last email of an address takes its webhooks along.
    assert!(store.remove_subscription(dev).await.unwrap());
    assert!(!store.remove_subscription(dev).await.unwrap());
    assert_eq!(store.remove_email_subscription(hook).await.unwrap(), None);
    assert_eq!(store.remove_email_subscription(ops).await.unwrap(), Some(1));
    assert_eq!(store.remove_email_subscription(ops).await.unwrap(), None);
    assert!(store.subscriptions().await.unwrap().is_empty());
    assert!(store.delivery_counts().await.unwrap().is_empty());
}

fn update(reference: &str, status: OfficialStatus, published_at: DateTime<Utc>) -> OfficialUpdate {
    OfficialUpdate {
        reference: reference.to_owned(),
        status,
        text: format!("{} at {published_at}", status.plain()),
        published_at,
    }
}

fn official(
    reference: &str,
    started_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    updates: Vec<OfficialUpdate>,
) -> OfficialIncident {
    OfficialIncident {
        reference: reference.to_owned(),
        title: format!("Incident {reference}"),
        impact: OfficialImpact::Major,
        components: vec!["CDN".to_owned(), "DNS".to_owned()],
        started_at,
        resolved_at,
        url: Some(format!("https://status.example.test/incidents/{reference}")),
        updates,
    }
}

on_both!(providers_statements_and_their_sources);
async fn providers_statements_and_their_sources(store: Store) {
    store
        .add_sites(&[site("a.test", &[]), site("b.test", &[])], at(0))
        .await
        .unwrap();
    let [a, b] = ids(&store, &["a.test", "b.test"]).await[..] else {
        unreachable!()
    };
    let outage = store
        .save_provider_incident(
            None,
            &cloudflare_incident(Phase::Confirmed, &[a, b]),
            at(21),
        )
        .await
        .unwrap();
    store
        .save_provider_incident(None, &fastly_suspicion(b), at(5))
        .await
        .unwrap();

    let cloudflare = "https://www.cloudflarestatus.com/api/v2/incidents.json";
    let fastly = "https://www.fastlystatus.com/history.atom";
    // Cloudflare lists an old resolved incident and the new one.
    let document = Document {
        incidents: vec![
            official(
                "now",
                Some(at(24)),
                None,
                vec![update("n1", OfficialStatus::Investigating, at(26))],
            ),
            official(
                "old",
                Some(t("2025-11-01T09:00:00Z")),
                Some(t("2025-11-01T10:00:00Z")),
                vec![
                    update(
                        "o1",
                        OfficialStatus::Investigating,
                        t("2025-11-01T09:05:00Z"),
                    ),
                    update("o2", OfficialStatus::Resolved, t("2025-11-01T10:00:00Z")),
                ],
            ),
        ],
    };
    let recorded = store
        .record_statements("cloudflare", cloudflare, &document, at(27))
        .await
        .unwrap();
    assert_eq!((recorded.new_incidents, recorded.new_updates), (2, 3));
    let again = store
        .record_statements("cloudflare", cloudflare, &document, at(28))
        .await
        .unwrap();
    assert_eq!((again.new_incidents, again.new_updates), (0, 0));
    let fastly_document = Document {
        incidents: vec![official(
            "maint",
            None,
            None,
            vec![update("m1", OfficialStatus::Maintenance, at(10))],
        )],
    };
    store
        .record_statements("fastly", fastly, &fastly_document, at(12))
        .await
        .unwrap();

    store
        .record_status_poll(
            cloudflare,
            "cloudflare",
            (Some("\"v1\""), None),
            None,
            at(27),
        )
        .await
        .unwrap();
    store
        .record_status_poll(
            cloudflare,
            "cloudflare",
            (None, None),
            Some("HTTP 502"),
            at(32),
        )
        .await
        .unwrap();
    store
        .record_status_poll(
            fastly,
            "fastly",
            (None, Some("Tue, 18 Nov 2025 11:00:00 GMT")),
            None,
            at(12),
        )
        .await
        .unwrap();
    let source = store.status_source(cloudflare).await.unwrap().unwrap();
    assert_eq!(
        (
            source.etag.as_deref(),
            source.checked_at,
            source.ok_at,
            source.error.as_deref()
        ),
        (Some("\"v1\""), Some(at(32)), Some(at(27)), Some("HTTP 502"))
    );
    assert_eq!(
        store.status_source("https://nowhere.test/").await.unwrap(),
        None
    );
    let of_fastly = store.status_source_of("fastly").await.unwrap().unwrap();
    assert_eq!(
        (of_fastly.url.as_str(), of_fastly.last_modified.as_deref()),
        (fastly, Some("Tue, 18 Nov 2025 11:00:00 GMT"))
    );
    assert_eq!(store.status_source_of("akamai").await.unwrap(), None);
    let sources: Vec<(String, String)> = store
        .status_sources()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.provider, s.url))
        .collect();
    assert_eq!(
        sources,
        [
            ("cloudflare".to_owned(), cloudflare.to_owned()),
            ("fastly".to_owned(), fastly.to_owned())
        ]
    );

    // Matching: what waits for a match, and what it could match.
    let unmatched: Vec<(String, Option<DateTime<Utc>>, DateTime<Utc>)> = store
        .unmatched_statements(at(0))
        .await
        .unwrap()
        .into_iter()
        .map(|u| (u.provider, u.started_at, u.acknowledged_at))
        .collect();
    assert_eq!(
        unmatched,
        [
            ("cloudflare".to_owned(), Some(at(24)), at(26)),
            ("fastly".to_owned(), None, at(10)),
        ]
    );
    let since_november = store
        .unmatched_statements(t("2025-11-01T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(since_november.len(), 3);
    assert_eq!(
        since_november[1].resolved_at,
        Some(t("2025-11-01T10:00:00Z"))
    );
    let spans: Vec<(i64, String, Option<DateTime<Utc>>)> = store
        .provider_spans_since(at(0))
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s.provider, s.resolved_at))
        .collect();
    assert_eq!(spans, [(outage, "cloudflare".to_owned(), None)]);

    let now_id = store
        .statements_of_provider("cloudflare", 1)
        .await
        .unwrap()
        .pop()
        .unwrap()
        .id;
    store.link_statement(now_id, outage, at(30)).await.unwrap();
    // Linked twice: nothing more.
    store.link_statement(now_id, outage, at(31)).await.unwrap();
    assert_eq!(store.unmatched_statements(at(0)).await.unwrap().len(), 1);
    // Cloudflare resolves it: every linked statement is now resolved.
    let resolved = Document {
        incidents: vec![official(
            "now",
            Some(at(24)),
            Some(at(50)),
            vec![
                update("n1", OfficialStatus::Investigating, at(26)),
                update("n2", OfficialStatus::Resolved, at(50)),
            ],
        )],
    };
    let recorded = store
        .record_statements("cloudflare", cloudflare, &resolved, at(52))
        .await
        .unwrap();
    assert_eq!((recorded.new_incidents, recorded.new_updates), (0, 1));
    let said: Vec<(AlertEvent, i64, Option<OfficialStatus>)> = store
        .events_to_fan_out(at(60), Sendable::All, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event, e.seq, e.detail.official.map(|o| o.status)))
        .collect();
    assert_eq!(
        said,
        [
            (AlertEvent::ProviderConfirmed, 1, None),
            (AlertEvent::ProviderSuspected, 1, None),
            (
                AlertEvent::ProviderAcknowledged,
                2,
                Some(OfficialStatus::Investigating)
            ),
            (
                AlertEvent::ProviderOfficiallyResolved,
                3,
                Some(OfficialStatus::Resolved)
            ),
        ]
    );

    let about = store.statements_for_incident(outage).await.unwrap();
    assert_eq!(about.len(), 1);
    assert_eq!(
        (
            about[0].reference.as_str(),
            about[0].incident_id,
            about[0].impact
        ),
        ("now", Some(outage), OfficialImpact::Major)
    );
    assert_eq!(about[0].components, ["CDN", "DNS"]);
    assert_eq!(
        about[0]
            .updates
            .iter()
            .map(|u| u.status)
            .collect::<Vec<_>>(),
        [OfficialStatus::Investigating, OfficialStatus::Resolved]
    );
    assert_eq!(about[0].official_resolution(), Some(at(50)));
    assert_eq!(about[0].acknowledged_at(), Some(at(26)));
    let references =
        |found: Vec<store::Statement>| found.into_iter().map(|s| s.reference).collect::<Vec<_>>();
    assert_eq!(
        references(
            store
                .statements_of_provider("cloudflare", 10)
                .await
                .unwrap()
        ),
        ["now", "old"]
    );
    assert_eq!(
        references(store.statements_of_provider("cloudflare", 1).await.unwrap()),
        ["now"]
    );
    // Fastly's maintenance has no start: it counts from when it was seen.
    assert_eq!(
        references(store.all_statements(10).await.unwrap()),
        ["now", "maint", "old"]
    );
    assert_eq!(
        references(store.all_statements(2).await.unwrap()),
        ["now", "maint"]
    );
}

on_both!(administrators_tokens_and_the_own_network_guard);
async fn administrators_tokens_and_the_own_network_guard(store: Store) {
    // Administrators and their sessions.
    let ada = store
        .create_admin("ada", "hash-1", at(0))
        .await
        .unwrap()
        .unwrap();
    let bob = store
        .create_admin("bob", "hash-b", at(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.create_admin("ada", "other", at(1)).await.unwrap(),
        None
    );
    let admins: Vec<(i64, String)> = store
        .list_admins()
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.id, a.username))
        .collect();
    assert_eq!(admins, [(ada, "ada".to_owned()), (bob, "bob".to_owned())]);
    let (account, hash) = store.admin_credentials("ada").await.unwrap().unwrap();
    assert_eq!((account.id, hash.as_str()), (ada, "hash-1"));
    assert_eq!(store.admin_credentials("eve").await.unwrap(), None);

    store
        .create_session("s-ada", ada, at(0), at(60))
        .await
        .unwrap();
    store
        .create_session("s-bob", bob, at(0), at(10))
        .await
        .unwrap();
    assert_eq!(
        store
            .session_admin("s-ada", at(5))
            .await
            .unwrap()
            .unwrap()
            .id,
        ada
    );
    assert_eq!(store.session_admin("s-bob", at(10)).await.unwrap(), None);
    // A new session clears the expired ones.
    store
        .create_session("s-bob-2", bob, at(20), at(80))
        .await
        .unwrap();
    assert_eq!(store.session_admin("s-bob", at(5)).await.unwrap(), None);
    store.end_session("s-bob-2").await.unwrap();
    assert_eq!(store.session_admin("s-bob-2", at(21)).await.unwrap(), None);
    assert!(store.set_admin_password("ada", "hash-2").await.unwrap());
    assert!(!store.set_admin_password("eve", "hash").await.unwrap());
    assert_eq!(store.session_admin("s-ada", at(5)).await.unwrap(), None);
    assert_eq!(
        store.admin_credentials("ada").await.unwrap().unwrap().1,
        "hash-2"
    );

    // The audit trail.
    for (minute, username, action, detail) in [
        (1, "ada", "sign-in", "192.0.2.1"),
        (2, "ada", "add-sites", "3 sites"),
        (3, "ada", "sign-in", "192.0.2.2"),
        (4, "bob", "sign-in", "198.51.100.7"),
        (5, "ada", "sign-in", "192.0.2.1"),
        (6, "ada", "sign-in", ""),
    ] {
        store
            .record_audit(username, action, detail, at(minute))
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .admin_sign_in_addresses("ada", at(0), 10)
            .await
            .unwrap(),
        ["192.0.2.1", "192.0.2.2"]
    );
    assert_eq!(
        store
            .admin_sign_in_addresses("ada", at(2), 10)
            .await
            .unwrap(),
        ["192.0.2.1", "192.0.2.2"]
    );
    assert_eq!(
        store
            .admin_sign_in_addresses("ada", at(4), 10)
            .await
            .unwrap(),
        ["192.0.2.1"]
    );
    assert_eq!(
        store
            .admin_sign_in_addresses("ada", at(0), 1)
            .await
            .unwrap(),
        ["192.0.2.1"]
    );
    let audit: Vec<(DateTime<Utc>, String, String)> = store
        .recent_audit(3)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.at, e.username, e.action))
        .collect();
    assert_eq!(
        audit,
        [
            (at(6), "ada".to_owned(), "sign-in".to_owned()),
            (at(5), "ada".to_owned(), "sign-in".to_owned()),
            (at(4), "bob".to_owned(), "sign-in".to_owned()),
        ]
    );

    // API tokens.
    let write = store
        .create_api_token("newsroom", TokenScope::Write, "hash-w", "ada", at(0))
        .await
        .unwrap();
    let read = store
        .create_api_token("dashboard", TokenScope::Read, "hash-r", "bob", at(1))
        .await
        .unwrap();
    let found = store.api_token_by_hash("hash-r").await.unwrap().unwrap();
    assert_eq!(
        (found.id, found.scope, found.created_by.as_str()),
        (read, TokenScope::Read, "bob")
    );
    assert_eq!(store.api_token_by_hash("hash-x").await.unwrap(), None);
    store.touch_api_token(write, at(2)).await.unwrap();
    store
        .touch_api_token(write, at(2) + TimeDelta::seconds(30))
        .await
        .unwrap();
    assert_eq!(
        store
            .api_token_by_hash("hash-w")
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(at(2))
    );
    store.touch_api_token(write, at(4)).await.unwrap();
    assert!(store.revoke_api_token(write, at(5)).await.unwrap());
    assert!(!store.revoke_api_token(write, at(6)).await.unwrap());
    assert_eq!(store.api_token_by_hash("hash-w").await.unwrap(), None);
    let tokens = store
        .api_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.id, t.last_used_at, t.revoked_at))
        .collect::<Vec<_>>();
    assert_eq!(
        tokens,
        [(read, None, None), (write, Some(at(4)), Some(at(5)))]
    );

    // The vantage point: degraded, then offline, then online again.
    store
        .record_vantage_state(VantageState::Degraded, at(10), "1 of 3 anchors answer")
        .await
        .unwrap();
    store
        .record_vantage_state(VantageState::Offline, at(12), "no anchor answers")
        .await
        .unwrap();
    let current = store.current_vantage_event().await.unwrap().unwrap();
    assert_eq!(
        (
            current.state,
            current.started_at,
            current.ended_at,
            current.detail.as_str()
        ),
        (VantageState::Offline, at(12), None, "no anchor answers")
    );
    store
        .record_vantage_state(VantageState::Online, at(15), "")
        .await
        .unwrap();
    assert_eq!(store.current_vantage_event().await.unwrap(), None);
    let spans: Vec<(VantageState, DateTime<Utc>, Option<DateTime<Utc>>)> = store
        .vantage_events(at(11), at(20))
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.state, e.started_at, e.ended_at))
        .collect();
    assert_eq!(
        spans,
        [
            (VantageState::Degraded, at(10), Some(at(12))),
            (VantageState::Offline, at(12), Some(at(15))),
        ]
    );
    assert!(store
        .vantage_events(at(16), at(20))
        .await
        .unwrap()
        .is_empty());

    // The network failures probed while the vantage was failing become
    // suspect; an HTTP error does not.
    store
        .add_sites(
            &[
                site("a.test", &[]),
                site("b.test", &[]),
                site("c.test", &[]),
            ],
            at(0),
        )
        .await
        .unwrap();
    let [a, b, c] = ids(&store, &["a.test", "b.test", "c.test"]).await[..] else {
        unreachable!()
    };
    store
        .insert_probes(&[
            connect_timeout(a, at(9)),
            connect_timeout(a, at(11)),
            ProbeRecord {
                failure: Some(FailureClass::DnsTimeout),
                ..connect_timeout(b, at(11))
            },
            edge_500(c, at(11)),
        ])
        .await
        .unwrap();
    assert_eq!(store.site_summary().await.unwrap().failing, 3);
    assert_eq!(store.mark_suspect_since(at(10)).await.unwrap(), 2);
    assert_eq!(store.mark_suspect_since(at(10)).await.unwrap(), 0);
    let failing: Vec<i64> = store
        .failing_sites(10)
        .await
        .unwrap()
        .iter()
        .map(|s| s.site_id)
        .collect();
    assert_eq!(failing, [c]);
    let probes = store.recent_probes(a, 10).await.unwrap();
    assert_eq!(
        probes
            .iter()
            .map(|p| (p.started_at, p.suspect))
            .collect::<Vec<_>>(),
        [(at(11), true), (at(9), false)]
    );

    // Our resolvers.
    store
        .record_resolver_failing("1.1.1.1", at(10))
        .await
        .unwrap();
    store
        .record_resolver_failing("1.1.1.1", at(11))
        .await
        .unwrap();
    store
        .record_resolver_failing("9.9.9.9", at(12))
        .await
        .unwrap();
    store
        .record_resolver_recovered("1.1.1.1", at(14))
        .await
        .unwrap();
    store
        .record_resolver_recovered("8.8.8.8", at(14))
        .await
        .unwrap();
    store
        .record_resolver_failing("1.1.1.1", at(16))
        .await
        .unwrap();
    let events: Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)> = store
        .resolver_events(at(0), at(30))
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.resolver, e.started_at, e.ended_at))
        .collect();
    assert_eq!(
        events,
        [
            ("1.1.1.1".to_owned(), at(10), Some(at(14))),
            ("9.9.9.9".to_owned(), at(12), None),
            ("1.1.1.1".to_owned(), at(16), None),
        ]
    );
    assert_eq!(
        store.resolver_events(at(15), at(16)).await.unwrap().len(),
        1
    );
}

on_both!(agents_their_tokens_and_revocation);
async fn agents_their_tokens_and_revocation(store: Store) {
    let paris = store
        .add_agent("paris-1", "eu-west", "hash-paris", at(0))
        .await
        .unwrap()
        .unwrap();
    let tokyo = store
        .add_agent("tokyo-1", "ap-northeast", "hash-tokyo", at(1))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(paris, tokyo);
    assert_eq!(
        store
            .add_agent("paris-1", "us-east", "hash-other", at(2))
            .await
            .unwrap(),
        None,
        "a name is taken once"
    );

    let found = store.agent_by_token("hash-paris").await.unwrap().unwrap();
    assert_eq!(
        (found.id, found.name.as_str(), found.region.as_str()),
        (paris, "paris-1", "eu-west")
    );
    assert_eq!(store.agent_by_token("hash-other").await.unwrap(), None);

    store.touch_agent(paris, at(3)).await.unwrap();
    // Within a minute of the last note: not written again.
    store
        .touch_agent(paris, at(3) + TimeDelta::seconds(30))
        .await
        .unwrap();
    let listed = store.agents().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["paris-1", "tokyo-1"]);
    assert_eq!(listed[0].last_seen_at, Some(at(3)));
    assert_eq!(listed[1].last_seen_at, None);

    assert!(store.revoke_agent("paris-1", at(4)).await.unwrap());
    assert!(!store.revoke_agent("paris-1", at(5)).await.unwrap());
    assert!(!store.revoke_agent("nobody", at(5)).await.unwrap());
    assert_eq!(store.agent_by_token("hash-paris").await.unwrap(), None);
    assert_eq!(store.agents().await.unwrap()[0].revoked_at, Some(at(4)));
}

on_both!(an_incident_keeps_its_scope_and_regions);
async fn an_incident_keeps_its_scope_and_regions(store: Store) {
    store
        .add_sites(&[site("a.test", &[])], at(0))
        .await
        .unwrap();
    let a = store.list_sites().await.unwrap()[0].id;
    // One region probes: no scope is said.
    let alone = store
        .save_provider_incident(None, &cloudflare_incident(Phase::Confirmed, &[a]), at(21))
        .await
        .unwrap();
    let stored = store.incident(alone).await.unwrap().unwrap();
    assert_eq!((stored.scope, stored.regions()), (None, vec![]));

    let regional = ProviderIncidentRow {
        scope: engine::Scope::Regional,
        regions: vec!["eu-west".to_owned()],
        ..cloudflare_incident(Phase::Confirmed, &[a])
    };
    let id = store
        .save_provider_incident(None, &regional, at(21))
        .await
        .unwrap();
    let stored = store.incident(id).await.unwrap().unwrap();
    assert_eq!(stored.scope, Some(engine::Scope::Regional));
    assert_eq!(stored.regions(), ["eu-west"]);
    // Seen from every region later: the update says so.
    let global = ProviderIncidentRow {
        scope: engine::Scope::Global,
        regions: vec!["eu-west".to_owned(), "us-east".to_owned()],
        ..regional
    };
    store
        .save_provider_incident(Some(id), &global, at(25))
        .await
        .unwrap();
    let stored = store.incident(id).await.unwrap().unwrap();
    assert_eq!(stored.scope, Some(engine::Scope::Global));
    assert_eq!(stored.regions(), ["eu-west", "us-east"]);
    // The alert of its opening names where it was seen.
    let events = store
        .events_to_fan_out(at(30), store::Sendable::All, 10)
        .await
        .unwrap();
    let opened = events
        .iter()
        .find(|event| event.incident_id == Some(id))
        .expect("an alert event for the regional incident");
    assert_eq!(opened.detail.scope, Some(engine::Scope::Regional));
    assert_eq!(opened.detail.regions, ["eu-west"]);
    // Its spreading to a new region is news of its own, once.
    let about = |events: &[store::AlertEventRow]| -> Vec<AlertEvent> {
        events
            .iter()
            .filter(|event| event.incident_id == Some(id))
            .map(|event| event.event)
            .collect()
    };
    assert_eq!(
        about(&events),
        [AlertEvent::ProviderConfirmed, AlertEvent::ProviderSpread]
    );
    let spread = events
        .iter()
        .find(|event| event.event == AlertEvent::ProviderSpread)
        .unwrap();
    assert_eq!(spread.detail.scope, Some(engine::Scope::Global));
    assert_eq!(spread.detail.regions, ["eu-west", "us-east"]);
    store
        .save_provider_incident(Some(id), &global, at(26))
        .await
        .unwrap();
    // A suspicion that grows is still a suspicion: no news until it confirms.
    let suspected = ProviderIncidentRow {
        confirmed_at: None,
        scope: engine::Scope::Regional,
        regions: vec!["eu-west".to_owned()],
        ..cloudflare_incident(Phase::Suspected, &[a])
    };
    let suspicion = store
        .save_provider_incident(None, &suspected, at(26))
        .await
        .unwrap();
    store
        .save_provider_incident(
            Some(suspicion),
            &ProviderIncidentRow {
                regions: vec!["eu-west".to_owned(), "us-east".to_owned()],
                ..suspected
            },
            at(27),
        )
        .await
        .unwrap();
    let events = store
        .events_to_fan_out(at(30), store::Sendable::All, 10)
        .await
        .unwrap();
    assert_eq!(
        about(&events),
        [AlertEvent::ProviderConfirmed, AlertEvent::ProviderSpread],
        "nothing new for an update that adds no region"
    );
    assert_eq!(
        events
            .iter()
            .filter(|event| event.incident_id == Some(suspicion))
            .map(|event| event.event)
            .collect::<Vec<_>>(),
        [AlertEvent::ProviderSuspected]
    );
}

on_both!(an_unresolved_incident_reads_back_as_it_was_written);
async fn an_unresolved_incident_reads_back_as_it_was_written(store: Store) {
    store
        .add_sites(&[site("a.test", &[]), site("b.test", &[])], at(0))
        .await
        .unwrap();
    let ids: Vec<i64> = store
        .list_sites()
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    let mut open = ProviderIncidentRow {
        scope: engine::Scope::Regional,
        regions: vec!["eu-west".to_owned()],
        pattern: Pattern::Intermittent,
        relapses: 2,
        ..cloudflare_incident(Phase::Confirmed, &ids)
    };
    let open_id = store
        .save_provider_incident(None, &open, at(21))
        .await
        .unwrap();
    // A fourth wave, stored as an update.
    open.relapses = 3;
    store
        .save_provider_incident(Some(open_id), &open, at(22))
        .await
        .unwrap();
    let suspected_id = store
        .save_provider_incident(None, &fastly_suspicion(ids[0]), at(5))
        .await
        .unwrap();
    store
        .save_provider_incident(None, &cloudflare_incident(Phase::Resolved, &ids), at(35))
        .await
        .unwrap();

    let unresolved = store.unresolved_provider_incidents().await.unwrap();
    let found: Vec<i64> = unresolved.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        found,
        [open_id, suspected_id],
        "resolved ones are done with"
    );
    assert_eq!(unresolved[0].1, open, "read back as written");
    assert_eq!(unresolved[1].1.phase, Phase::Suspected);
}

on_both!(a_batch_answer_is_kept_a_day_per_agent_and_key);
async fn a_batch_answer_is_kept_a_day_per_agent_and_key(store: Store) {
    let paris = store
        .add_agent("paris-1", "eu-west", "hash-paris", at(0))
        .await
        .unwrap()
        .unwrap();
    let tokyo = store
        .add_agent("tokyo-1", "ap-northeast", "hash-tokyo", at(0))
        .await
        .unwrap()
        .unwrap();
    store
        .record_agent_batch(paris, "batch-1", at(1), "{\"stored\":3}")
        .await
        .unwrap();
    // The first answer stays.
    store
        .record_agent_batch(paris, "batch-1", at(2), "{\"stored\":0}")
        .await
        .unwrap();
    assert_eq!(
        store
            .agent_batch_answer(paris, "batch-1")
            .await
            .unwrap()
            .as_deref(),
        Some("{\"stored\":3}")
    );
    // Keys are the agent's own.
    assert_eq!(
        store.agent_batch_answer(tokyo, "batch-1").await.unwrap(),
        None
    );
    assert_eq!(
        store.agent_batch_answer(paris, "batch-2").await.unwrap(),
        None
    );

    store
        .prune(
            at(1) + store::BATCH_ANSWER_KEPT,
            store::Retention::default(),
        )
        .await
        .unwrap();
    assert!(store
        .agent_batch_answer(paris, "batch-1")
        .await
        .unwrap()
        .is_some());
    store
        .prune(
            at(1) + store::BATCH_ANSWER_KEPT + TimeDelta::seconds(1),
            store::Retention::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.agent_batch_answer(paris, "batch-1").await.unwrap(),
        None
    );
}
