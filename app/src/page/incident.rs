use engine::Phase;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::use_params_map;

use super::parts::{EvidenceList, Freshness, GetAlerts, ProviderLink, Tail, Time, Unavailable};
use crate::chart::Chart;
use crate::error::{not_found_status, AppError};
use crate::incident::{get_incident, poll_incident, waves, IncidentPage};
use crate::live::{use_poll, PollGate, BUSY_SECONDS};
use crate::words;

#[component]
pub fn Incident() -> impl IntoView {
    let params = use_params_map();
    // While the incident is open, the page follows it.
    let (open, set_open) = signal(false);
    let tick = use_poll(move || open.get_untracked().then_some(BUSY_SECONDS));
    let gate = PollGate::default();
    let page = Resource::new(
        move || {
            (
                params
                    .read()
                    .get("id")
                    .and_then(|id| id.parse::<i64>().ok()),
                tick.get(),
            )
        },
        move |(id, tick)| {
            let poll = gate.is_poll(tick);
            async move {
                match id {
                    Some(id) if poll => poll_incident(id).await,
                    Some(id) => get_incident(id).await,
                    None => Err(AppError::not_found("No such incident.")),
                }
            }
        },
    );
    Effect::new(move |_| {
        if let Some(Ok(page)) = page.get() {
            set_open.set(page.incident.is_open());
        }
    });
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    view! {
        {move || {
            (hydrated.get() && open.get())
                .then(|| {
                    view! {
                        <p class="live" data-test="live">
                            {format!("Live: this page follows the incident, every {BUSY_SECONDS} s, while it is open.")}
                        </p>
                    }
                })
        }}
        <Transition fallback=|| view! { <p>"Loading the incident…"</p> }>
            {move || {
                page.get().map(|result| match result {
                    Ok(page) => view! { <IncidentView page/> }.into_any(),
                    Err(AppError::NotFound(_)) => {
                        not_found_status();
                        view! {
                            <h1>"No such incident"</h1>
                            <p><a href="/incidents">"All incidents"</a></p>
                        }.into_any()
                    }
                    Err(_) => view! { <Unavailable/> }.into_any(),
                })
            }}
        </Transition>
    }
}

#[component]
fn IncidentView(page: IncidentPage) -> impl IntoView {
    let i = page.incident.clone();
    let title = i.title();
    let chart = page.chart();
    let cite = page.cite();
    let lines = page.timeline_lines();
    let lead = page.lead();
    let id = i.id;
    let wave_count = if page.waves.is_empty() {
        waves(&page.timeline)
    } else {
        page.waves.len()
    };
    let today = page.freshness.today();
    // While open, the incident says where it is as every page does; once
    // over, it gives its figures.
    let tail = page
        .live
        .as_ref()
        .map(|live| live.tail.clone())
        .unwrap_or_default();
    let summary = page
        .live
        .as_ref()
        .filter(|live| live.phase.is_open())
        .map(|live| live.sentence(today))
        .unwrap_or_else(|| {
            format!(
                "{} {}. Peak {} of the watched sites failing; {} affected; confidence {}.",
                match i.phase {
                    Phase::Resolved => "Resolved:",
                    Phase::Recovering => "Recovering:",
                    Phase::Confirmed => "Ongoing:",
                    Phase::Suspected | Phase::Unknown => "Suspected:",
                },
                i.resolved_at
                    .map(|end| format!(
                        "{} ({})",
                        words::span(i.onset_at, end),
                        i.duration(page.freshness.now)
                    ))
                    .unwrap_or_else(|| format!(
                        "since {}, {}",
                        words::utc(i.onset_at),
                        i.duration(page.freshness.now)
                    )),
                page.peak
                    .map(|(_, tally)| tally.short())
                    .or_else(|| i.peak_share.map(words::percent))
                    .unwrap_or_else(|| "–".to_owned()),
                words::count(
                    usize::try_from(i.sites_affected).unwrap_or_default(),
                    "site",
                    "sites"
                ),
                i.confidence
                    .map(words::percent)
                    .unwrap_or_else(|| "–".to_owned()),
            )
        });
    let dated = format!("{title}, {}", i.onset_at.format("%-d %b %Y"));
    let card = format!("{}/incidents/{id}/card.png", page.origin);
    let card_alt = format!(
        "{dated}: the share of {}'s watched sites failing over time",
        i.provider_name
            .clone()
            .unwrap_or_else(|| "the provider".to_owned())
    );
    let alerts = page
        .email_alerts
        .then(|| page.incident.provider.clone())
        .flatten()
        .map(|id| {
            (
                format!("provider:{id}"),
                format!("/incident/{}", page.incident.id),
                page.incident.provider_name.clone().unwrap_or(id),
            )
        });
    view! {
        <Title text=format!("{dated} · Faultline")/>
        <Meta property="og:type" content="article"/>
        <Meta property="og:site_name" content="Faultline"/>
        <Meta property="og:title" content=dated.clone()/>
        <Meta property="og:description" content=summary.clone()/>
        <Meta property="og:url" content=page.permalink()/>
        <Meta property="og:image" content=card.clone()/>
        <Meta property="og:image:width" content="1200"/>
        <Meta property="og:image:height" content="630"/>
        <Meta property="og:image:alt" content=card_alt.clone()/>
        <Meta name="twitter:card" content="summary_large_image"/>
        <Meta name="twitter:title" content=dated.clone()/>
        <Meta name="twitter:description" content=summary.clone()/>
        <Meta name="twitter:image" content=card/>
        <Meta name="twitter:image:alt" content=card_alt/>
        <Meta name="description" content=summary.clone()/>
        {view! {
        <section class="headline" aria-labelledby="incident-title">
            <h1 id="incident-title">{title.clone()}</h1>
            <p class="headline-text" data-test="incident-summary"
                data-failing=page.live.as_ref().map(|live| live.now.failing.to_string())
                data-of=page.live.as_ref().map(|live| live.now.of.to_string())>{summary}</p>
            {i.reach().map(|reach| view! { <p data-test="reach">{reach}</p> })}
            {lead.map(|lead| view! { <p class="lead-time" data-test="lead-time">{lead}</p> })}
            <Tail sites=tail whose=format!("{}'s", i.provider_name.clone().unwrap_or_default())/>
            <Freshness freshness=page.freshness.clone()/>
            {(i.pattern == engine::Pattern::Intermittent).then(|| view! {
                <p class="badge-line" data-test="intermittent">
                    <span class="badge intermittent">"INTERMITTENT"</span>
                    {format!(" The failures came and went: {wave_count} waves above half the peak share. Each rise after a fall below the threshold counts in the same incident.")}
                </p>
            })}
            {(i.pattern == engine::Pattern::Intermittent && page.waves.len() > 1).then(|| view! {
                <Waves waves=page.waves.clone() noun=format!("{} sites", i.provider_name.clone().unwrap_or_default()) today/>
            })}
            <p class="muted">
                {i.provider.clone().zip(i.provider_name.clone()).map(|(id, name)| view! { "Provider: " <ProviderLink id name/> ". " })}
                {i.site.clone().map(|host| view! { "Site: " <a href=format!("/site/{host}")>{host.clone()}</a> ". " })}
                {i.explained_by.map(|by| view! {
                    <span data-test="explained-by">"Explained by the provider-wide "
                        <a href=format!("/incident/{by}")>{format!("incident #{by}")}</a> ". "</span>
                })}
                "Permalink: " <a href=format!("/incident/{id}") data-test="permalink">{page.permalink()}</a>
            </p>
            <p class="exports">
                "Download: "
                <a href=format!("/incidents/{id}/export.csv") rel="external" download data-test="export-csv">"affected sites (CSV)"</a>
                " · "
                <a href=format!("/incidents/{id}/export.json") rel="external" data-test="export-json">"incident (JSON)"</a>
            </p>
        </section>
        }.into_any()}

        {view! {
        <section aria-labelledby="timeline-title">
            <h2 id="timeline-title">"Timeline"</h2>
            {(!page.timeline.is_empty()).then(|| view! { <Chart chart=chart/> })}
            <ol class="timeline" data-test="timeline">
                {lines.into_iter().map(|line| {
                    let official = line.official;
                    view! {
                        <li class:official=official data-test=official.then_some("official-update")>
                            <Time at=line.at long=true/> " — " <strong>{line.label}</strong>
                            {line.said.map(|said| view! { " — " <q>{said}</q> })}
                            {line.url.map(|url| view! { " " <a href=url rel="external nofollow">"status page"</a> })}
                        </li>
                    }
                }).collect_view()}
            </ol>
            <OfficialNote page=page.clone()/>
            {(!page.annotations.is_empty()).then(|| view! {
                <h3>"Notes"</h3>
                <ol class="notes">
                    {page.annotations.clone().into_iter().map(|note| view! {
                        <li>
                            <Time at=note.at long=true/> ": " {note.text}
                            {note.url.map(|url| view! { " " <a href=url.clone() rel="external nofollow">"source"</a> })}
                            <span class="muted">{format!(" ({})", note.author)}</span>
                        </li>
                    }).collect_view()}
                </ol>
            })}
        </section>
        }.into_any()}

        {view! {
        <section aria-labelledby="cite-title">
            <h2 id="cite-title">"Cite this"</h2>
            <blockquote class="cite" data-test="cite">{cite.clone()}</blockquote>
            <CopyButton text=cite/>
        </section>
        }.into_any()}

        {view! {
        <section aria-labelledby="evidence-title">
            <h2 id="evidence-title">"Evidence"</h2>
            {if page.evidence.is_empty() {
                view! { <p>"No evidence recorded."</p> }.into_any()
            } else {
                view! { <EvidenceList evidence=page.evidence.clone()/> }.into_any()
            }}
        </section>
        }.into_any()}

        {view! {
        <section aria-labelledby="affected-title">
            <h2 id="affected-title">{format!("Affected sites ({})", page.sites.len())}</h2>
            <div class="scroll">
                <table class="data cards" data-test="affected">
                    <caption class="muted">"Each site's first and last failure counted in this incident, and what its last failing probe showed (while raw probes are kept)."</caption>
                    <thead><tr>
                        <th scope="col">"Site"</th><th scope="col">"First failure"</th><th scope="col">"Last failure"</th>
                        <th scope="col">"Status"</th><th scope="col">"Error page by"</th><th scope="col">"Fault"</th><th scope="col">"Evidence"</th>
                    </tr></thead>
                    <tbody>
                        {page.sites.clone().into_iter().map(|s| view! {
                            <tr>
                                <td data-label="Site"><a href=format!("/site/{}", s.host)>{s.host.clone()}</a></td>
                                <td data-label="First failure"><Time at=s.first_failure/></td>
                                <td data-label="Last failure"><Time at=s.last_failure/></td>
                                <td data-label="Status">{s.status.map(|c| c.to_string()).or(s.failure.map(|f| f.plain().to_owned())).unwrap_or_else(|| "–".to_owned())}</td>
                                <td data-label="Error page by">{s.generator_name.clone().unwrap_or_else(|| "–".to_owned())}</td>
                                <td data-label="Fault">{s.fault.map_or("–", engine::Fault::plain)}</td>
                                <td data-label="Evidence"><EvidenceList evidence=s.evidence.into_iter().take(3).collect()/></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
        }.into_any()}
        {alerts.map(|(scope, back, about)| view! { <GetAlerts scope about back/> }.into_any())}
    }
}

/// Where the provider's statements came from, or that none was matched.
#[component]
fn OfficialNote(page: IncidentPage) -> impl IntoView {
    let name = page
        .incident
        .provider_name
        .clone()
        .unwrap_or_else(|| "the provider".to_owned());
    if !page.official.is_empty() {
        let titles: Vec<String> = page
            .official
            .iter()
            .map(|view| format!("“{}”", view.title))
            .collect();
        let resolved = crate::official::resolved_at(&page.official);
        let text = format!(
            "Marked lines are {name}'s own updates on its status page ({}), at the times it published them{}.",
            titles.join(", "),
            match resolved {
                Some(at) => format!("; it declared the incident resolved at {}", words::utc(at)),
                None => "; it has not declared the incident resolved".to_owned(),
            }
        );
        return view! { <p class="muted" data-test="official-note">{text}</p> }.into_any();
    }
    match page.status_page.filter(|_| page.incident.provider.is_some()) {
        Some(url) => view! {
            <p class="muted" data-test="official-none">
                {format!("{name}'s status page has published nothing Faultline could match to this incident: an outage it did not report. ")}
                <a href=url rel="external nofollow">{format!("{name}'s status page")}</a>
            </p>
        }
        .into_any(),
        None => ().into_any(),
    }
}

/// The waves of an intermittent incident, one row each: when failures rose
/// and fell, and the most sites failing at once.
#[component]
fn Waves(
    waves: Vec<engine::figures::Wave>,
    noun: String,
    today: Option<chrono::NaiveDate>,
) -> impl IntoView {
    view! {
        <table class="data cards" data-test="waves">
            <caption class="muted">"Each wave: failures above half the incident's peak, until they fell below it."</caption>
            <thead><tr>
                <th scope="col">"Wave"</th><th scope="col">"From"</th><th scope="col">"Until"</th>
                <th scope="col">"Lasted"</th><th scope="col">"Most failing"</th>
            </tr></thead>
            <tbody>
                {waves.into_iter().enumerate().map(|(n, wave)| {
                    let lasted = wave.until.map_or_else(
                        || "still above".to_owned(),
                        |until| words::duration((until - wave.from).num_seconds()),
                    );
                    let most = if wave.peak.counted() {
                        format!("{} at {}", wave.peak.tally.phrase(&noun), words::when(wave.peak.at, today))
                    } else {
                        words::percent(wave.peak.share)
                    };
                    view! {
                        <tr>
                            <th scope="row" data-label="Wave">{(n + 1).to_string()}</th>
                            <td data-label="From"><Time at=wave.from/></td>
                            <td data-label="Until">{wave.until.map(|at| view! { <Time at/> })}</td>
                            <td data-label="Lasted">{lasted}</td>
                            <td data-label="Most failing">{most}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// Copies `text` to the clipboard. Shown once the page has hydrated: before
/// that, and without JavaScript, the citation is selected whole by a click.
#[component]
fn CopyButton(text: String) -> impl IntoView {
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    let (said, set_said) = signal("Copy the citation");
    let copy = move |_| {
        let text = text.clone();
        leptos::task::spawn_local(async move {
            set_said.set(if copy_text(&text).await {
                "Copied"
            } else {
                "Could not copy: select the text and copy it"
            });
        });
    };
    move || {
        hydrated.get().then(|| {
            view! {
                <p class="copy">
                    <button type="button" data-test="copy-cite" on:click=copy.clone()>{said}</button>
                </p>
            }
        })
    }
}

#[cfg(feature = "hydrate")]
async fn copy_text(text: &str) -> bool {
    let promise = window().navigator().clipboard().write_text(text);
    wasm_bindgen_futures::JsFuture::from(promise).await.is_ok()
}

#[cfg(not(feature = "hydrate"))]
async fn copy_text(_text: &str) -> bool {
    false
}
