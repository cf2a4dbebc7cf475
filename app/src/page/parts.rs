//! Pieces several pages share: times, window tabs, incident tables.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::incident::{IncidentSummary, LiveIncident, SiteName};
use crate::site::Window;
use crate::status;
use crate::words;

/// A `<time>` with the machine-readable instant and a readable UTC text.
#[component]
pub fn Time(at: DateTime<Utc>, #[prop(optional)] long: bool) -> impl IntoView {
    let text = if long {
        words::utc(at)
    } else {
        words::stamp(at)
    };
    view! { <time datetime=words::rfc3339(at)>{text}</time> }
}

/// A moment that may not have happened yet: its time, or "never".
#[component]
pub fn TimeOrNever(at: Option<DateTime<Utc>>) -> impl IntoView {
    match at {
        Some(at) => view! { <Time at/> }.into_any(),
        None => view! { "never" }.into_any(),
    }
}

/// Links to the same page over 24 hours, 7 days or 30 days: plain links,
/// so they work without JavaScript.
#[component]
pub fn WindowTabs(base: String, current: Window) -> impl IntoView {
    view! {
        <nav class="tabs" aria-label="Chart window">
            {Window::ALL
                .into_iter()
                .map(|window| {
                    let href = format!("{base}?window={}", window.key());
                    let current = (window == current).then_some("page");
                    view! {
                        <a href=href aria-current=current data-test=format!("window-{}", window.key())>
                            {window.label()}
                        </a>
                    }
                })
                .collect_view()}
        </nav>
    }
}

/// A table of incidents with their key figures, each linking to its page.
#[component]
pub fn IncidentTable(incidents: Vec<IncidentSummary>, now: DateTime<Utc>) -> impl IntoView {
    view! {
        <div class="scroll">
            <table class="data cards" data-test="incident-table">
                <thead>
                    <tr>
                        <th scope="col">"Incident"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Onset (UTC)"</th>
                        <th scope="col">"Duration"</th>
                        <th scope="col">"Peak"</th>
                        <th scope="col">"Sites"</th>
                        <th scope="col">"Confidence"</th>
                    </tr>
                </thead>
                <tbody>
                    {incidents
                        .into_iter()
                        .map(|i| {
                            let href = format!("/incident/{}", i.id);
                            let state = if i.pattern == engine::Pattern::Intermittent {
                                format!("{}, intermittent", i.phase.plain())
                            } else {
                                i.phase.plain().to_owned()
                            };
                            view! {
                                <tr class:open=i.is_open()>
                                    <td data-label="Incident"><a href=href>{i.title()}</a></td>
                                    <td data-label="State">{state}</td>
                                    <td data-label="Onset (UTC)"><Time at=i.onset_at/></td>
                                    <td data-label="Duration">{i.duration(now)}</td>
                                    <td data-label="Peak">{i.peak_text()}</td>
                                    <td data-label="Sites" class="num">{i.sites_affected}</td>
                                    <td data-label="Confidence">{i.confidence.map(words::percent).unwrap_or_else(|| "–".to_owned())}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// Which snapshot the page shows and how old its data is, with a warning
/// when probing looks stalled.
#[component]
pub fn Freshness(freshness: status::Freshness) -> impl IntoView {
    let warning = freshness.warning();
    let replay = freshness.replay.clone();
    view! {
        {replay.map(|banner| view! { <p class="replay-banner" role="note" data-test="replay">{banner}</p> })}
        <p class="freshness" data-test="freshness" data-version=freshness.version.to_string()>
            {match (freshness.data_until, freshness.age_seconds()) {
                (Some(at), Some(age)) => view! {
                    "Probes up to "
                    <time data-test="as-of" datetime=words::rfc3339(at)>{words::moment(at, freshness.today())}</time>
                    {format!(", {} ago.", words::age(age))}
                }.into_any(),
                _ => view! { "No probe has been judged yet." }.into_any(),
            }}
        </p>
        {warning.map(|warning| view! { <p class="stale" role="status" data-test="stale">{warning}</p> })}
    }
}

/// A card per provider incident of the snapshot: its sentence with
/// absolute figures, and a link to its page.
#[component]
pub fn IncidentCards(
    incidents: Vec<LiveIncident>,
    today: Option<chrono::NaiveDate>,
) -> impl IntoView {
    view! {
        <ul class="incident-cards" data-test="incidents">
            {incidents
                .into_iter()
                .map(|incident| {
                    let sentence = incident.sentence(today);
                    let open = incident.phase.is_open();
                    let tail = incident.tail.clone();
                    view! {
                        <li class="incident-card" class:open=open data-test="incident-card"
                            data-failing=incident.now.failing.to_string()
                            data-of=incident.now.of.to_string()>
                            <p>
                                {match incident.id {
                                    Some(id) => view! {
                                        <a href=format!("/incident/{id}")><strong>{incident.title()}</strong></a>
                                    }.into_any(),
                                    None => view! { <strong>{incident.title()}</strong> }.into_any(),
                                }}
                            </p>
                            <p data-test="incident-sentence">{sentence}</p>
                            {incident.reach().map(|reach| view! { <p class="muted" data-test="reach">{reach}</p> })}
                            <Strip incident=incident.clone() today/>
                            <p class="meaning" data-test="meaning">{incident.meaning()}</p>
                            <Tail sites=tail whose="its".to_owned()/>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

/// An incident card's timeline strip: the share failing from onset to
/// now, as a small filled step line, labelled for screen readers.
#[component]
pub fn Strip(incident: LiveIncident, today: Option<chrono::NaiveDate>) -> impl IntoView {
    const WIDTH: f64 = 300.0;
    const HEIGHT: f64 = 36.0;
    let (Some(first), Some(last)) = (incident.strip.first(), incident.strip.last()) else {
        return ().into_any();
    };
    let (from, until) = (first.0, last.0.max(first.0 + 60));
    let x = |at: i64| (at - from) as f64 / (until - from) as f64 * WIDTH;
    let y = |share: f64| HEIGHT - share.clamp(0.0, 1.0) * (HEIGHT - 2.0);
    let mut path = format!("M0,{HEIGHT}");
    for (at, share) in &incident.strip {
        path.push_str(&format!(" H{:.1} V{:.1}", x(*at), y(*share)));
    }
    path.push_str(&format!(" H{WIDTH} V{HEIGHT} Z"));
    let label = format!(
        "Share of {}'s watched sites failing from {} to {}: peak {} at {}.",
        incident.provider_name,
        crate::words::when(incident.onset_at, today),
        DateTime::<Utc>::from_timestamp(until, 0)
            .map(|at| crate::words::when(at, today))
            .unwrap_or_default(),
        incident.peak.short(),
        incident
            .peak_at
            .map(|at| crate::words::when(at, today))
            .unwrap_or_default(),
    );
    view! {
        <svg class="strip" data-test="strip" viewBox=format!("0 0 {WIDTH} {HEIGHT}") preserveAspectRatio="none"
            role="img" aria-label=label>
            <path d=path/>
        </svg>
    }
    .into_any()
}

/// The sites still failing with a resolved incident's errors, each linking
/// to its page; nothing when there are none.
#[component]
pub fn Tail(sites: Vec<SiteName>, whose: String) -> impl IntoView {
    (!sites.is_empty()).then(|| {
        view! {
            <p class="tail" data-test="tail">
                {format!("Still failing with {whose} errors: ")}
                {sites.into_iter().enumerate().map(|(n, site)| view! {
                    {(n > 0).then_some(", ")}
                    <a class="host" href=format!("/site/{}", site.host)>{site.host.clone()}</a>
                }).collect_view()}
            </p>
        }
    })
}

/// A provider's name linking to its page.
#[component]
pub fn ProviderLink(id: String, name: String) -> impl IntoView {
    view! { <a href=format!("/provider/{id}")>{name}</a> }
}

/// A bulleted list of evidence strings, or nothing.
#[component]
pub fn EvidenceList(evidence: Vec<String>) -> impl IntoView {
    (!evidence.is_empty()).then(|| {
        view! {
            <ul class="evidence">
                {evidence.into_iter().map(|e| view! { <li><code>{e}</code></li> }).collect_view()}
            </ul>
        }
    })
}

/// "Get alerts" for a site or a provider (`scope`): one address field, a
/// plain POST back to this page (`back`), the outcome read from `?alerts=`.
#[component]
pub fn GetAlerts(scope: String, about: String, back: String) -> impl IntoView {
    use crate::subscribe::{Outcome, SubscribeEmail};
    use leptos::server_fn::ServerFn;
    let query = leptos_router::hooks::use_query_map();
    let outcome = move || query.with(|q| q.get("alerts").as_deref().and_then(Outcome::from_key));
    // The same incidents as a feed, for a feed reader instead of a mailbox.
    let feed = match scope.split_once(':') {
        Some(("provider", id)) => Some(format!("/provider/{id}/incidents.atom")),
        Some(("site", host)) => Some(format!("/site/{host}/incidents.atom")),
        _ => None,
    };
    view! {
        <section id="alerts" aria-labelledby="alerts-title">
            <h2 id="alerts-title">"Get alerts"</h2>
            <p>
                {format!("An email when {about} has an outage, once per change and with the evidence. Nothing is sent until you confirm your address, and every mail can stop them in one click.")}
            </p>
            {move || outcome().map(|o| view! {
                <p class=if o == Outcome::Sent { "notice" } else { "error" } role="status" data-test="alerts-message">{o.message()}</p>
            })}
            <form class="stack narrow" method="post" action=SubscribeEmail::url()>
                <label for="alerts-address">"Email address"</label>
                <input id="alerts-address" name="address" type="email" required maxlength="254" autocomplete="email"/>
                <input type="hidden" name="scope" value=scope/>
                <input type="hidden" name="back" value=back/>
                <button type="submit" data-test="get-alerts">"Get alerts"</button>
            </form>
            {feed.map(|feed| view! {
                <p class="muted">"Or follow the " <a href=feed rel="external" data-test="alerts-feed">"Atom feed"</a> " of these incidents in a feed reader: no address needed."</p>
            })}
        </section>
    }
}

#[component]
pub fn Unavailable() -> impl IntoView {
    view! { <p class="error" role="alert">"This page is unavailable right now. Try again in a moment."</p> }
}
