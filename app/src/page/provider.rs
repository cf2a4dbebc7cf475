use leptos::prelude::*;
use leptos_meta::{Link, Title};
use leptos_router::hooks::{use_params_map, use_query_map};

use super::parts::{
    Freshness, GetAlerts, IncidentCards, IncidentTable, Time, Unavailable, WindowTabs,
};
use crate::chart::Chart;
use crate::error::{not_found_status, AppError};
use crate::live::{use_poll, PollGate, BUSY_SECONDS, QUIET_SECONDS};
use crate::provider::{get_provider, poll_provider, OfficialNow, ProviderPage};

#[component]
pub fn Provider() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    // Often while the provider has an open incident, now and then if not.
    let (busy, set_busy) = signal(false);
    let tick = use_poll(move || {
        Some(if busy.get_untracked() {
            BUSY_SECONDS
        } else {
            QUIET_SECONDS
        })
    });
    let gate = PollGate::default();
    let page = Resource::new(
        move || {
            (
                params.read().get("id").unwrap_or_default(),
                query.read().get("window").unwrap_or_default(),
                tick.get(),
            )
        },
        move |(id, window, tick)| {
            let poll = gate.is_poll(tick);
            async move {
                if poll {
                    poll_provider(id, window).await
                } else {
                    get_provider(id, window).await
                }
            }
        },
    );
    Effect::new(move |_| {
        if let Some(Ok(page)) = page.get() {
            set_busy.set(page.live.iter().any(|live| live.phase.is_open()));
        }
    });
    view! {
        <Transition fallback=|| view! { <p>"Loading the provider…"</p> }>
            {move || {
                page.get().map(|result| match result {
                    Ok(page) => view! { <ProviderView page/> }.into_any(),
                    Err(AppError::NotFound(_)) => {
                        not_found_status();
                        view! {
                            <h1>"Unknown provider"</h1>
                            <p>"No watched site is attributed to this provider. " <a href="/">"Back to the overview"</a></p>
                        }.into_any()
                    }
                    Err(_) => view! { <Unavailable/> }.into_any(),
                })
            }}
        </Transition>
    }
}

#[component]
fn ProviderView(page: ProviderPage) -> impl IntoView {
    let name = page.name.clone();
    let today = page.freshness.today();
    let past = page.past.clone();
    let sentence = match page.live.iter().find(|i| i.phase.is_open()) {
        Some(incident) => incident.sentence(today),
        None => format!("No {name}-wide incident is open."),
    };
    let availability = page.series.availability_chart(
        "cohort-availability",
        &format!("{name}'s sites"),
        page.window,
    );
    let response =
        page.series
            .response_chart("cohort-response", &format!("{name}'s sites"), page.window);
    let now = page.freshness.now;
    let alerts = page.email_alerts.then(|| {
        (
            format!("provider:{}", page.id),
            format!("/provider/{}", page.id),
        )
    });
    let about = name.clone();
    view! {
        <Title text=format!("{name} · Faultline")/>
        <Link rel="alternate" type_="application/atom+xml" title=format!("{name} incidents") href=format!("/provider/{}/incidents.atom", page.id)/>
        {view! {
        <section class="headline" aria-labelledby="provider-title">
            <h1 id="provider-title">{name.clone()}</h1>
            <p class="headline-text" data-test="provider-status">{sentence}</p>
            <dl class="counts">
                {page.cohorts.iter().map(|c| view! {
                    <div>
                        <dt>{format!("{} sites", c.role.plain())}</dt>
                        <dd data-test=format!("cohort-{}", c.role)>{c.health()}</dd>
                    </div>
                }).collect_view()}
            </dl>
            <Freshness freshness=page.freshness.clone()/>
            <OfficialNowView official=page.official.clone() name=name.clone()/>
            <p class="muted">
                <a href=format!("/provider/{}/incidents.atom", page.id) rel="external" data-test="provider-feed">"Incident feed (Atom)"</a>
            </p>
        </section>
        }.into_any()}
        {view! {
        <section aria-labelledby="health-title">
            <h2 id="health-title">"Health over time"</h2>
            <p class="muted">"All probes of the sites this provider serves now, summed."</p>
            <WindowTabs base=format!("/provider/{}", page.id) current=page.window/>
            <Chart chart=availability/>
            <Chart chart=response/>
        </section>
        }.into_any()}
        {view! {
        <section aria-labelledby="current-title">
            <h2 id="current-title">"Current and recent incidents"</h2>
            {if page.live.is_empty() {
                view! { <p>"None."</p> }.into_any()
            } else {
                view! { <IncidentCards incidents=page.live.clone() today/> }.into_any()
            }}
        </section>
        }.into_any()}
        {view! {
        <section aria-labelledby="past-title">
            <h2 id="past-title">"Past incidents"</h2>
            {if past.is_empty() {
                view! { <p>"None recorded."</p> }.into_any()
            } else {
                view! { <IncidentTable incidents=past now/> }.into_any()
            }}
        </section>
        }.into_any()}
        {view! {
        <section aria-labelledby="sites-title">
            <h2 id="sites-title">{format!("Sites behind {name}")}</h2>
            <div class="scroll">
                <table class="data cards" data-test="cohort-sites">
                    <thead><tr>
                        <th scope="col">"Site"</th><th scope="col">"Role"</th>
                        <th scope="col">"Now"</th><th scope="col">"Error page by"</th><th scope="col">"Since"</th>
                    </tr></thead>
                    <tbody>
                        {page.sites.into_iter().map(|s| {
                            let now_text = s.state();
                            view! {
                                <tr class:failed=s.ok == Some(false)>
                                    <td data-label="Site"><a href=format!("/site/{}", s.host)>{s.host.clone()}</a></td>
                                    <td data-label="Role">{s.role.plain()}</td>
                                    <td data-label="Now">{now_text}</td>
                                    <td data-label="Error page by">{s.generator_name.clone().unwrap_or_else(|| "–".to_owned())}</td>
                                    <td data-label="Since">{s.since.map(|at| view! { <Time at/> })}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
        }.into_any()}
        {alerts.map(|(scope, back)| view! { <GetAlerts scope about back/> }.into_any())}
    }
}

/// What the provider's own status page says now, beside what Faultline
/// measures; its latest incidents, each with whether Faultline saw it.
#[component]
fn OfficialNowView(official: OfficialNow, name: String) -> impl IntoView {
    if official.page.is_none() && official.latest.is_empty() {
        return ().into_any();
    }
    let open = official.open();
    let said = match open.first() {
        Some(view) => format!(
            "{name}'s status page reports an open incident: “{}”, {}{}.",
            view.title,
            crate::official::stage(view.status()).to_lowercase(),
            view.acknowledged_at()
                .map(|at| format!(" since {}", crate::words::utc(at)))
                .unwrap_or_default()
        ),
        None => match official.read_at {
            Some(at) => format!(
                "{name}'s status page reports no open incident (read {}).",
                crate::words::utc(at)
            ),
            None => format!("{name}'s status page has not been read yet."),
        },
    };
    let failing = official.error.clone().map(|error| {
        format!("The last attempt to read it failed ({error}); this is what it said before.")
    });
    view! {
        <div class="official-now" data-test="official-now">
            <p>
                <strong>"Official status: "</strong>{said}" "
                {official.page.clone().map(|url| view! { <a href=url rel="external nofollow">"status page"</a> })}
            </p>
            {failing.map(|text| view! { <p class="muted" data-test="official-error">{text}</p> })}
            {(!official.latest.is_empty()).then(|| view! {
                <ul class="official-latest" data-test="official-latest">
                    {official.latest.iter().map(|view| {
                        let matched = match view.incident_id {
                            Some(id) => view! { " — " <a href=format!("/incident/{id}")>{format!("Faultline incident #{id}")}</a> }.into_any(),
                            None => view! { <span class="muted" data-test="official-unmatched">" — not matched to any outage Faultline measured"</span> }.into_any(),
                        };
                        view! {
                            <li>
                                {view.acknowledged_at().map(|at| view! { <Time at/> " " })}
                                "“"{view.title.clone()}"” ("{crate::official::stage(view.status()).to_lowercase()}")"
                                {matched}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
        </div>
    }
    .into_any()
}
