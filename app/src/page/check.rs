use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::parts::Unavailable;
use crate::error::{not_found_status, AppError};
use crate::ondemand::{check_now, OnDemandOutcome, OnDemandResult};
use crate::site::{check_site, CheckOutcome};

/// The search form: a plain GET form, so it works without JavaScript.
#[component]
pub fn SearchForm(#[prop(optional, into)] value: String) -> impl IntoView {
    view! {
        <form class="search" method="get" action="/check" role="search">
            <label for="q">"Is it down? Enter a site or a provider"</label>
            <div class="search-row">
                <input id="q" name="q" type="text" inputmode="url" autocomplete="off" spellcheck="false"
                    placeholder="example.com, a web address, or Cloudflare" value=value required/>
                <button type="submit" data-test="check">"Check"</button>
            </div>
        </form>
    }
}

/// `/check?q=...`: a watched site redirects to its page; anything else is
/// answered here.
#[component]
pub fn Check() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    let outcome = Resource::new(q, check_site);
    let now = move || query.read().get("now").is_some_and(|v| v == "1");
    // Made once per page, outside the view's closures, so one visit is
    // one probe.
    let checked = Resource::new(
        move || now().then(q),
        |query| async move {
            match query {
                Some(query) => Some(check_now(query).await),
                None => None,
            }
        },
    );
    view! {
        <Title text="Is it down? · Faultline"/>
        <h1>"Is it down?"</h1>
        <SearchForm value=q()/>
        <Suspense fallback=|| view! { <p>"Looking it up…"</p> }>
            {move || {
                outcome.get().map(|result| match result {
                    Ok(CheckOutcome::Watched { host }) => view! {
                        <p data-test="check-result">
                            "Faultline watches " {host.clone()} ": "
                            <a href=format!("/site/{host}")>"see its status"</a> "."
                        </p>
                    }.into_any(),
                    Ok(CheckOutcome::NotWatched { host, can_check }) => {
                        // A check made now is an answer worth caching; the
                        // bare "not watched" page is a miss.
                        if !now() {
                            not_found_status();
                        }
                        view! {
                            <p class="headline-text" data-test="check-result">
                                {format!("{host} is not on Faultline's watchlist.")}
                            </p>
                            {if !can_check {
                                view! {
                                    <p data-test="not-watched">
                                        "This Faultline server checks only the sites on its watchlist."
                                    </p>
                                }.into_any()
                            } else if now() {
                                view! { <CheckNow host=host.clone() checked/> }.into_any()
                            } else {
                                view! {
                                    <p data-test="not-watched">
                                        "Faultline does not probe it all the time, but it can check it once, now, from its own network."
                                    </p>
                                    <form method="get" action="/check">
                                        <input type="hidden" name="q" value=host.clone()/>
                                        <input type="hidden" name="now" value="1"/>
                                        <button type="submit" data-test="check-now">{format!("Check {host} now")}</button>
                                    </form>
                                }.into_any()
                            }}
                        }.into_any()
                    }
                    Ok(CheckOutcome::Provider { id, name }) => view! {
                        <p data-test="check-result">
                            {format!("{name} is a provider Faultline watches sites behind: ")}
                            <a href=format!("/provider/{id}")>{format!("see {name}'s status")}</a> "."
                        </p>
                    }.into_any(),
                    Ok(CheckOutcome::Invalid) => view! {
                        <p data-test="check-result">"Enter a domain such as example.com, a web address, or a provider's name such as Cloudflare."</p>
                    }.into_any(),
                    Err(_) => view! { <Unavailable/> }.into_any(),
                })
            }}
        </Suspense>
    }
}

/// One probe of an unwatched site, now, and what it found.
#[component]
fn CheckNow(
    host: String,
    checked: Resource<Option<Result<OnDemandOutcome, AppError>>>,
) -> impl IntoView {
    view! {
        <Suspense fallback=move || view! {
            <p class="live" role="status">{format!("Checking {host}: looking up its name, connecting, asking for its home page…")}</p>
        }>
            {move || checked.get().flatten().map(|outcome| match outcome {
                Ok(OnDemandOutcome::Checked(found)) => view! { <CheckedNow found/> }.into_any(),
                Err(AppError::RateLimited(_)) => view! {
                    <p class="error" role="alert" data-test="check-limited">
                        "You have asked for several checks in a short time; try again in a minute."
                    </p>
                }.into_any(),
                Ok(OnDemandOutcome::Unavailable) => view! {
                    <p data-test="check-unavailable">"This Faultline server does not check unwatched sites."</p>
                }.into_any(),
                Ok(OnDemandOutcome::Invalid) => view! {
                    <p>"Enter a domain such as example.com, or a web address."</p>
                }.into_any(),
                Err(_) => view! { <Unavailable/> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn CheckedNow(found: OnDemandResult) -> impl IntoView {
    let timing = found
        .total_ms
        .map(|ms| format!(" in {ms} ms"))
        .unwrap_or_default();
    let sentence = match (&found.status, found.ok) {
        (Some(status), true) => format!(
            "{} is up from here: it answered HTTP {status}{timing}.",
            found.host
        ),
        (Some(status), false) => format!(
            "{} answered with an error from here: HTTP {status}{timing}.",
            found.host
        ),
        (None, _) => format!(
            "{} is unreachable from here: {}.",
            found.host,
            found.failure.unwrap_or_default().plain()
        ),
    };
    view! {
        <section aria-labelledby="check-now-heading">
            <h2 id="check-now-heading">"Checked just now"</h2>
            <p class="headline-text" data-test="check-now-result">{sentence}</p>
            {found.explanation.clone().map(|e| view! { <p data-test="check-now-explanation">{e}</p> })}
            {found.detail.clone().map(|d| view! { <p class="muted">"Detail: " <code>{d}</code></p> })}
            {(!found.providers.is_empty()).then(|| view! {
                <p>"Providers seen: " {found.providers.join(", ")} "."</p>
            })}
            <p class="muted">
                "One probe from Faultline's own network; it cannot tell whether the site works for you. "
                "Sites on the watchlist are probed every minute and compared with others behind the same providers."
            </p>
        </section>
    }
}
