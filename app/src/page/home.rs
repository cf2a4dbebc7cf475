use leptos::prelude::*;

use leptos_meta::Title;

use super::check::SearchForm;
use super::parts::{Freshness, IncidentCards, Time};
use crate::error::AppError;
use crate::live::{use_poll, PollGate, BUSY_SECONDS, QUIET_SECONDS};
use crate::overview::{get_overview, poll_overview, Overview};
use crate::provider::Cohort;

#[component]
pub fn Home() -> impl IntoView {
    let refresh = ServerAction::<crate::overview::GetOverview>::new();
    // Refetches when the refresh action completes, and by itself: often
    // while something is failing, now and then when all is quiet.
    let (busy, set_busy) = signal(false);
    let tick = use_poll(move || {
        Some(if busy.get_untracked() {
            BUSY_SECONDS
        } else {
            QUIET_SECONDS
        })
    });
    let overview_gate = PollGate::default();
    let overview: Resource<Result<Overview, AppError>> = Resource::new(
        move || (refresh.version().get(), tick.get()),
        move |(_, tick)| {
            let poll = overview_gate.is_poll(tick);
            async move {
                if poll {
                    poll_overview().await
                } else {
                    get_overview().await
                }
            }
        },
    );
    // Set once the browser has taken over the server-rendered page, so users
    // (and tests) can tell live updates are on.
    let (live, set_live) = signal(false);
    Effect::new(move |_| set_live.set(true));
    Effect::new(move |_| {
        if let Some(Ok(overview)) = overview.get() {
            set_busy.set(overview.open().next().is_some() || overview.failing > 0);
        }
    });

    view! {
        <SearchForm/>
        <section class="headline" aria-live="polite">
            <Transition fallback=|| view! { <p class="headline-text">"Loading the overview…"</p> }>
                {move || {
                    overview
                        .get()
                        .map(|result| match result {
                            Ok(overview) => view! { <OverviewPanel overview/> }.into_any(),
                            Err(_) => {
                                view! {
                                    <p class="headline-text error">
                                        "The overview is unavailable right now."
                                    </p>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
            <ActionForm action=refresh attr:class="refresh">
                <button type="submit" data-test="refresh">"Refresh"</button>
                <span class="live" data-live=move || live.get().to_string()>
                    {move || if live.get() { "Live" } else { "Static page" }}
                </span>
            </ActionForm>
        </section>
        <Transition fallback=|| ()>
            {move || {
                overview
                    .get()
                    .map(|result| match result {
                        Ok(overview) if !overview.cohorts.is_empty() => {
                            view! { <ProviderGrid cohorts=overview.cohorts/> }.into_any()
                        }
                        _ => ().into_any(),
                    })
            }}
        </Transition>
    }
}

/// One card per provider and role, linking to the provider's page.
#[component]
fn ProviderGrid(cohorts: Vec<Cohort>) -> impl IntoView {
    view! {
        <section aria-labelledby="providers-title">
            <h2 id="providers-title">"Providers"</h2>
            <ul class="tiles" data-test="providers">
                {cohorts
                    .into_iter()
                    .map(|c| {
                        let state = c.health_class();
                        view! {
                            <li class=format!("tile {state}")>
                                <a href=format!("/provider/{}", c.provider)>
                                    <strong>{c.provider_name.clone()}</strong>
                                    " "
                                    <span class="muted">{c.role.plain()}</span>
                                </a>
                                <span class="tile-health" data-test=format!("cohort-{}-{}", c.provider, c.role)>{c.health()}</span>
                                <span class="muted">{format!("{} sites", c.sites)}</span>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn OverviewPanel(overview: Overview) -> impl IntoView {
    let today = overview.freshness.today();
    let open: Vec<_> = overview.open().cloned().collect();
    let resolved: Vec<_> = overview.recently_resolved().cloned().collect();
    // Each part is erased to `AnyView`: the page's view type would
    // otherwise nest too deep for the compiler.
    let summary = view! {
        <Title text=overview.title()/>
        <h1 class="headline-text" data-test="headline">{overview.headline()}</h1>
        {overview
            .vantage
            .clone()
            .map(|vantage| view! { <p class="vantage" data-test="vantage">{vantage.detail}</p> })}
        {overview
            .resolver_notice()
            .map(|notice| view! { <p class="vantage" data-test="resolver">{notice}</p> })}
        <Freshness freshness=overview.freshness.clone()/>
    }
    .into_any();
    let counts = view! {
        <dl class="counts">
            <div><dt>"Watched"</dt><dd data-test="watched">{overview.watched}</dd></div>
            <div><dt>"Probed now"</dt><dd data-test="probed">{overview.probed}</dd></div>
            <div><dt>"Failing now"</dt><dd data-test="failing-count">{overview.failing}</dd></div>
        </dl>
    }
    .into_any();
    let outages = (!open.is_empty())
        .then(|| {
            view! {
                <h2>"Provider-wide outages"</h2>
                <IncidentCards incidents=open today/>
            }
        })
        .into_any();
    let recent = (!resolved.is_empty())
        .then(|| {
            view! {
                <h2>"Recently resolved"</h2>
                <IncidentCards incidents=resolved today/>
            }
        })
        .into_any();
    let failing = (!overview.failing_sites.is_empty() && overview.vantage.is_none())
            .then(|| {
                view! {
                    <details class="failing-now" open=overview.open().next().is_none()>
                    <summary><h2>{format!("Failing now ({})", overview.failing)}</h2></summary>
                    <table class="failing cards" data-test="failing">
                        <thead>
                            <tr><th scope="col">"Site"</th><th scope="col">"What"</th><th scope="col">"Page by"</th><th scope="col">"Since"</th></tr>
                        </thead>
                        <tbody>
                            {overview
                                .failing_sites
                                .iter()
                                .map(|site| {
                                    view! {
                                        <tr>
                                            <td data-label="Site">
                                                <a href=format!("/site/{}", site.host)>{site.name.clone()}</a>
                                                {(site.name != site.host)
                                                    .then(|| view! { " " <span class="host">{site.host.clone()}</span> })}
                                            </td>
                                            <td data-label="What">{site.what.map_or("failure", engine::Cause::plain)}</td>
                                            <td data-label="Page by">{site.provider_name.clone().unwrap_or_else(|| "–".to_owned())}</td>
                                            <td data-label="Since"><Time at=site.since/></td>
                                        </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                    </details>
                }
            })
        .into_any();
    view! { {summary} {counts} {outages} {recent} {failing} }
}
