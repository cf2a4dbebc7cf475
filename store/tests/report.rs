#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on unexpected errors"
)]

//! The page queries against a real SQLite file: a small Cloudflare outage
//! written the way the writer and the correlator write it.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use engine::{Cause, FailureClass, Fault, FaultSide, IncidentKind, Pattern, Phase, Role};
use store::{
    IncidentFilter, NewSite, ProbeRecord, ProviderIncidentRow, Resolution, Sendable, SiteChange,
    Store,
};

fn t(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn site(host: &str) -> NewSite {
    NewSite {
        url: format!("https://{host}/"),
        host: host.to_owned(),
        name: host.to_owned(),
        tags: vec![],
        interval_s: 60,
    }
}

fn ok(site_id: i64, at: DateTime<Utc>, total_ms: i64) -> ProbeRecord {
    ProbeRecord {
        site_id,
        started_at: at,
        ok: true,
        status: Some(200),
        dns_ms: Some(3),
        connect_ms: Some(10),
        tls_ms: Some(20),
        ttfb_ms: Some(total_ms - 5),
        total_ms: Some(total_ms),
        ..ProbeRecord::default()
    }
}

fn edge_500(site_id: i64, at: DateTime<Utc>) -> ProbeRecord {
    ProbeRecord {
        site_id,
        started_at: at,
        ok: false,
        status: Some(500),
        failure: Some(FailureClass::HttpStatus),
        body_gz: Some(vec![1, 2, 3]),
        provider: Some("cloudflare".to_owned()),
        fault_side: Some(FaultSide::Edge),
        fault: Some(Fault::EdgeError),
        confidence: Some(0.9),
        evidence: Some(r#"["server: cloudflare","cf-ray header"]"#.to_owned()),
        total_ms: Some(40),
        ..ProbeRecord::default()
    }
}

struct World {
    store: Store,
    a: i64,
    b: i64,
    c: i64,
    incident: i64,
}

/// a.test and b.test behind Cloudflare fail with its 500 from 11:20;
/// c.test, behind Fastly, stays up. A provider incident covers a and b.
async fn world(store: Store) -> World {
    let start = t("2025-11-18T11:00:00Z");
    store
        .add_sites(&[site("a.test"), site("b.test"), site("c.test")], start)
        .await
        .unwrap();
    let ids = |host: &str| {
        let store = store.clone();
        let host = host.to_owned();
        async move { store.site_by_host(&host).await.unwrap().unwrap().id }
    };
    let (a, b, c) = (
        ids("a.test").await,
        ids("b.test").await,
        ids("c.test").await,
    );
    let cf = |evidence: &str| {
        vec![(
            "cloudflare".to_owned(),
            Role::Cdn,
            vec![evidence.to_owned()],
        )]
    };
    store
        .record_attribution(a, &cf("server: cloudflare"), start)
        .await
        .unwrap();
    store
        .record_attribution(b, &cf("cf-ray header"), start)
        .await
        .unwrap();
    let fastly = vec![(
        "fastly".to_owned(),
        Role::Cdn,
        vec!["x-served-by".to_owned()],
    )];
    store.record_attribution(c, &fastly, start).await.unwrap();

    let mut batch = Vec::new();
    for minute in 0..40 {
        let at = start + TimeDelta::minutes(minute);
        let failing = (20..30).contains(&minute);
        for id in [a, b] {
            batch.push(if failing {
                edge_500(id, at)
            } else {
                ok(id, at, 100 + minute)
            });
        }
        batch.push(ok(c, at, 80));
    }
    store.insert_probes(&batch).await.unwrap();

    let incident = store
        .save_provider_incident(
            None,
            &ProviderIncidentRow {
                mechanism: engine::Mechanism::Own,
                origins: 0,
                provider: "cloudflare".to_owned(),
                role: Role::Cdn,
                phase: Phase::Resolved,
                pattern: Pattern::Steady,
                onset_at: t("2025-11-18T11:20:00Z"),
                detected_at: t("2025-11-18T11:21:00Z"),
                confirmed_at: Some(t("2025-11-18T11:21:00Z")),
                peak_share: 1.0,
                peak_at: t("2025-11-18T11:22:00Z"),
                recovering_at: Some(t("2025-11-18T11:30:00Z")),
                resolved_at: Some(t("2025-11-18T11:35:00Z")),
                confidence: 0.9,
                sites: vec![
                    (a, t("2025-11-18T11:20:00Z"), t("2025-11-18T11:29:00Z")),
                    (b, t("2025-11-18T11:20:00Z"), t("2025-11-18T11:28:00Z")),
                ],
                evidence: vec!["a.test: cloudflare edge 500".to_owned()],
                timeline: vec![
                    engine::TimelinePoint {
                        at: t("2025-11-18T11:21:00Z"),
                        share: 1.0,
                        tally: engine::Tally::new(2, 2),
                    },
                    engine::TimelinePoint {
                        at: t("2025-11-18T11:30:00Z"),
                        share: 0.0,
                        tally: engine::Tally::new(0, 2),
                    },
                ],
                ..ProviderIncidentRow::default()
            },
            t("2025-11-18T11:35:00Z"),
        )
        .await
        .unwrap();
    // A suspicion that never confirmed stays off the pages.
    store
        .save_provider_incident(
            None,
            &ProviderIncidentRow {
                mechanism: engine::Mechanism::Own,
                origins: 0,
                provider: "fastly".to_owned(),
                role: Role::Cdn,
                phase: Phase::Resolved,
                pattern: Pattern::Steady,
                onset_at: start,
                detected_at: start,
                peak_at: start,
                sites: vec![(c, start, start)],
                ..ProviderIncidentRow::default()
            },
            start,
        )
        .await
        .unwrap();
    store
        .open_site_incident(
            a,
            t("2025-11-18T11:20:00Z"),
            t("2025-11-18T11:22:00Z"),
            Some(Cause::Fault(Fault::EdgeError)),
            Some(incident),
        )
        .await
        .unwrap();
    World {
        store,
        a,
        b,
        c,
        incident,
    }
}

on_both!(a_site_page_reads_status_last_error_providers_and_incidents);
async fn a_site_page_reads_status_last_error_providers_and_incidents(store: Store) {
    let w = world(store).await;
    assert!(w
        .store
        .site_by_host("nowhere.test")
        .await
        .unwrap()
        .is_none());

    let status = w.store.site_status(w.a).await.unwrap().unwrap();
    assert!(status.ok);
    assert_eq!(status.since, t("2025-11-18T11:30:00Z"));
    assert_eq!(status.started_at, t("2025-11-18T11:39:00Z"));

    let error = w.store.latest_failure(w.a).await.unwrap().unwrap();
    assert_eq!(error.started_at, t("2025-11-18T11:29:00Z"));
    assert_eq!(error.provider.as_deref(), Some("cloudflare"));
    assert_eq!(error.fault_side, Some(FaultSide::Edge));
    assert_eq!(error.body_gz, None, "pages never carry error bodies");
    assert!(w.store.latest_failure(w.c).await.unwrap().is_none());

    let probes = w.store.probe_history(w.a, 5).await.unwrap();
    assert_eq!(probes.len(), 5);
    assert_eq!(probes[0].started_at, t("2025-11-18T11:39:00Z"));
    assert_eq!(probes[0].dns_ms, Some(3));

    let providers = w.store.site_provider_history(w.a).await.unwrap();
    assert_eq!(providers.len(), 1);
    assert_eq!(providers[0].provider, "cloudflare");
    assert!(providers[0].until.is_none());
    assert!(providers[0].evidence.contains("server: cloudflare"));

    let incidents = w.store.site_incidents(w.a, 10).await.unwrap();
    let kinds: Vec<&str> = incidents.iter().map(|i| i.kind.as_str()).collect();
    assert_eq!(kinds, ["site", "provider"]);
    assert_eq!(incidents[0].explained_by, Some(w.incident));
    assert!(
        w.store.site_incidents(w.c, 10).await.unwrap().is_empty(),
        "an unconfirmed suspicion is not one of c's incidents"
    );
}

on_both!(a_provider_page_reads_its_cohort_rollups_and_incidents);
async fn a_provider_page_reads_its_cohort_rollups_and_incidents(store: Store) {
    let w = world(store).await;
    let cohorts = w.store.provider_cohorts().await.unwrap();
    let cloudflare = cohorts.iter().find(|c| c.provider == "cloudflare").unwrap();
    assert_eq!((cloudflare.sites, cloudflare.probed), (2, 2));
    assert_eq!((cloudflare.failing, cloudflare.failing_here), (0, 0));
    assert_eq!(cloudflare.latest_probe, Some(t("2025-11-18T11:39:00Z")));
    assert_eq!(cohorts[0].provider, "cloudflare", "largest cohort first");

    let sites = w.store.provider_sites("cloudflare").await.unwrap();
    let hosts: Vec<&str> = sites.iter().map(|s| s.host.as_str()).collect();
    assert_eq!(hosts, ["a.test", "b.test"]);
    assert_eq!(sites[0].ok, Some(true));

    let hours = w
        .store
        .provider_rollups(
            "cloudflare",
            Resolution::Hour,
            t("2025-11-18T00:00:00Z"),
            t("2025-11-19T00:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(hours.len(), 1);
    assert_eq!((hours[0].probes, hours[0].failures), (80, 20));

    let minutes = w
        .store
        .provider_rollups(
            "cloudflare",
            Resolution::Minute,
            t("2025-11-18T11:20:00Z"),
            t("2025-11-18T11:21:00Z"),
        )
        .await
        .unwrap();
    assert_eq!((minutes[0].probes, minutes[0].failures), (2, 2));

    let mine = w
        .store
        .provider_incidents(Some("cloudflare"), 10)
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert!(w
        .store
        .provider_incidents(Some("fastly"), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(w.store.provider_incidents(None, 10).await.unwrap().len(), 1);
}

on_both!(an_incident_reads_its_sites_with_evidence_and_its_annotations);
async fn an_incident_reads_its_sites_with_evidence_and_its_annotations(store: Store) {
    let w = world(store).await;
    let incident = w.store.incident(w.incident).await.unwrap().unwrap();
    assert_eq!(incident.provider.as_deref(), Some("cloudflare"));
    assert_eq!(incident.sites_affected, 2);
    assert!(w.store.incident(w.incident + 100).await.unwrap().is_none());

    let sites = w.store.incident_sites(w.incident).await.unwrap();
    let hosts: Vec<&str> = sites.iter().map(|s| s.host.as_str()).collect();
    assert_eq!(hosts, ["a.test", "b.test"]);
    assert_eq!(sites[1].site_id, w.b);
    assert_eq!(sites[0].last_failure, t("2025-11-18T11:29:00Z"));
    assert_eq!(sites[0].status, Some(500));
    assert_eq!(sites[0].generator.as_deref(), Some("cloudflare"));
    assert_eq!(sites[0].fault, Some(Fault::EdgeError));
    assert!(sites[0]
        .evidence
        .as_deref()
        .unwrap()
        .contains("server: cloudflare"));

    assert!(w.store.annotations(w.incident).await.unwrap().is_empty());
    w.store
        .annotate_incident(
            w.incident,
            t("2025-11-18T11:48:00Z"),
            "Cloudflare status page: investigating",
            Some("https://www.cloudflarestatus.com/"),
            "desk",
            t("2025-11-18T12:00:00Z"),
        )
        .await
        .unwrap();
    w.store
        .annotate_incident(
            w.incident,
            t("2025-11-18T11:25:00Z"),
            "first reports",
            None,
            "desk",
            t("2025-11-18T12:00:00Z"),
        )
        .await
        .unwrap();
    let notes = w.store.annotations(w.incident).await.unwrap();
    let texts: Vec<&str> = notes.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(
        texts,
        ["first reports", "Cloudflare status page: investigating"]
    );
}

on_both!(a_site_incident_lists_its_own_site_with_its_last_failure);
async fn a_site_incident_lists_its_own_site_with_its_last_failure(store: Store) {
    let start = t("2025-11-18T11:00:00Z");
    store
        .add_sites(&[site("lonely.test")], start)
        .await
        .unwrap();
    let id = store.site_by_host("lonely.test").await.unwrap().unwrap().id;
    let minute = |m: i64| start + TimeDelta::minutes(m);
    store
        .insert_probes(&[
            ok(id, minute(0), 100),
            edge_500(id, minute(1)),
            edge_500(id, minute(2)),
            ok(id, minute(3), 100),
            edge_500(id, minute(9)),
        ])
        .await
        .unwrap();
    let incident = store
        .open_site_incident(
            id,
            minute(1),
            minute(2),
            Some(Cause::Fault(Fault::EdgeError)),
            None,
        )
        .await
        .unwrap();
    store.resolve_site_incident(id, minute(3)).await.unwrap();
    let sites = store.incident_sites(incident).await.unwrap();
    assert_eq!(sites.len(), 1, "{sites:?}");
    assert_eq!(sites[0].host, "lonely.test");
    assert_eq!(sites[0].first_failure, minute(1));
    // The last failure within the incident, not the one after it.
    assert_eq!(sites[0].last_failure, minute(2));
    assert_eq!(sites[0].status, Some(500));
    assert_eq!(sites[0].fault, Some(Fault::EdgeError));
}

on_both!(a_site_incident_that_overlaps_the_last_one_continues_it);
async fn a_site_incident_that_overlaps_the_last_one_continues_it(store: Store) {
    let start = t("2025-11-18T11:00:00Z");
    store.add_sites(&[site("flaky.test")], start).await.unwrap();
    let id = store.site_by_host("flaky.test").await.unwrap().unwrap().id;
    let minute = |m: i64| start + TimeDelta::minutes(m);
    let cause = Some(Cause::Fault(Fault::EdgeError));
    let first = store
        .open_site_incident(id, minute(1), minute(2), cause, None)
        .await
        .unwrap();
    // Still open: the same incident.
    let again = store
        .open_site_incident(id, minute(3), minute(4), cause, None)
        .await
        .unwrap();
    assert_eq!(again, first);
    store.resolve_site_incident(id, minute(10)).await.unwrap();
    // Failing again from before it ended: it goes on.
    let overlapping = store
        .open_site_incident(id, minute(9), minute(11), cause, None)
        .await
        .unwrap();
    assert_eq!(overlapping, first);
    let merged = store.incident(first).await.unwrap().unwrap();
    assert_eq!(merged.phase, Phase::Confirmed);
    assert_eq!(merged.onset_at, minute(1));
    assert_eq!(merged.resolved_at, None);
    store.resolve_site_incident(id, minute(12)).await.unwrap();
    // After it ended: a new one.
    let later = store
        .open_site_incident(id, minute(20), minute(21), cause, None)
        .await
        .unwrap();
    assert_ne!(later, first);
}

on_both!(site_changes_in_one_batch_apply_in_order);
/// The correlator stores site changes in batches; a batch must end where
/// the same changes applied one by one end, alert events included.
async fn site_changes_in_one_batch_apply_in_order(store: Store) {
    let start = t("2025-11-18T11:00:00Z");
    store
        .add_sites(&[site("one.test"), site("two.test")], start)
        .await
        .unwrap();
    let one = store.site_by_host("one.test").await.unwrap().unwrap().id;
    let two = store.site_by_host("two.test").await.unwrap().unwrap().id;
    let minute = |m: i64| start + TimeDelta::minutes(m);
    let cause = Some(Cause::Fault(Fault::EdgeError));
    let down = |site_id: i64, onset: i64, at: i64| SiteChange::Down {
        site_id,
        onset_at: minute(onset),
        detected_at: minute(at),
        cause,
        explained_by: None,
    };
    let up = |site_id: i64, at: i64| SiteChange::Up {
        site_id,
        at: minute(at),
    };
    // one: down, up, down again from before it ended (the same incident
    // goes on); two: down and up, then down after (a new incident).
    store
        .apply_site_changes(&[
            down(one, 1, 2),
            down(two, 1, 2),
            up(one, 10),
            down(one, 9, 11),
            up(two, 12),
            down(two, 20, 21),
        ])
        .await
        .unwrap();
    let incidents = store
        .list_incidents(Some(IncidentKind::Site), 10)
        .await
        .unwrap();
    let summary: Vec<_> = incidents
        .iter()
        .map(|i| (i.site_id, i.phase, i.onset_at, i.resolved_at))
        .collect();
    assert_eq!(
        summary,
        [
            (Some(two), Phase::Confirmed, minute(20), None),
            (Some(two), Phase::Resolved, minute(1), Some(minute(12))),
            (Some(one), Phase::Confirmed, minute(1), None),
        ]
    );
    let events = store
        .events_to_fan_out(minute(60), Sendable::All, 100)
        .await
        .unwrap();
    assert_eq!(events.len(), 6, "one alert event per change: {events:?}");
    assert!(store.apply_site_changes(&[]).await.is_ok());
}

on_both!(incident_lists_filter_by_kind_provider_state_and_time_and_page_by_cursor);
async fn incident_lists_filter_by_kind_provider_state_and_time_and_page_by_cursor(store: Store) {
    let world = world(store).await;
    let store = &world.store;
    let ids = |incidents: Vec<store::Incident>| -> Vec<i64> {
        incidents.into_iter().map(|i| i.id).collect()
    };
    let everything = ids(store
        .incidents(&IncidentFilter::default(), 10)
        .await
        .unwrap());
    // The site incident and the provider incident; never the suspicion.
    assert_eq!(everything.len(), 2, "{everything:?}");
    assert!(everything.contains(&world.incident));
    assert!(everything.windows(2).all(|w| w[0] > w[1]), "newest first");

    let provider = |provider: &str| IncidentFilter {
        kind: Some(IncidentKind::Provider),
        provider: Some(provider.to_owned()),
        ..IncidentFilter::default()
    };
    assert_eq!(
        ids(store.incidents(&provider("cloudflare"), 10).await.unwrap()),
        [world.incident]
    );
    assert!(store
        .incidents(&provider("fastly"), 10)
        .await
        .unwrap()
        .is_empty());

    let open = IncidentFilter {
        open: Some(true),
        kind: Some(IncidentKind::Provider),
        ..IncidentFilter::default()
    };
    assert!(store.incidents(&open, 10).await.unwrap().is_empty());
    let resolved = IncidentFilter {
        open: Some(false),
        ..open.clone()
    };
    assert_eq!(
        ids(store.incidents(&resolved, 10).await.unwrap()),
        [world.incident]
    );

    // In a window: resolved 11:35, so a window from 11:40 misses it and
    // one ending 11:10, before its onset, does too.
    let window = |since: &str, until: &str| IncidentFilter {
        kind: Some(IncidentKind::Provider),
        since: Some(t(since)),
        until: Some(t(until)),
        ..IncidentFilter::default()
    };
    let within = store
        .incidents(&window("2025-11-18T11:30:00Z", "2025-11-18T12:00:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(ids(within), [world.incident]);
    for (since, until) in [
        ("2025-11-18T11:40:00Z", "2025-11-18T12:00:00Z"),
        ("2025-11-18T10:00:00Z", "2025-11-18T11:10:00Z"),
    ] {
        assert!(store
            .incidents(&window(since, until), 10)
            .await
            .unwrap()
            .is_empty());
    }

    // Pages of one: the cursor is the last id seen.
    let first = ids(store
        .incidents(&IncidentFilter::default(), 1)
        .await
        .unwrap());
    let next = IncidentFilter {
        before_id: first.last().copied(),
        ..IncidentFilter::default()
    };
    let second = ids(store.incidents(&next, 1).await.unwrap());
    assert_eq!([first, second].concat(), everything);
}

on_both!(a_site_search_matches_host_or_name_literally_and_pages_by_host);
async fn a_site_search_matches_host_or_name_literally_and_pages_by_host(store: Store) {
    let world = world(store).await;
    let store = &world.store;
    let hosts =
        |sites: Vec<store::Site>| -> Vec<String> { sites.into_iter().map(|s| s.host).collect() };
    assert_eq!(
        hosts(store.search_sites(None, None, 10).await.unwrap()),
        ["a.test", "b.test", "c.test"]
    );
    assert_eq!(
        hosts(store.search_sites(Some("B.TE"), None, 10).await.unwrap()),
        ["b.test"]
    );
    // A wildcard in the search is a character, not a pattern.
    assert!(store
        .search_sites(Some("%"), None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .search_sites(Some("a_test"), None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        hosts(store.search_sites(None, Some("a.test"), 1).await.unwrap()),
        ["b.test"]
    );
}
