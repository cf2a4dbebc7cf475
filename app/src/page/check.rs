use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::parts::Unavailable;
use crate::site::{check_site, CheckOutcome};

/// The search form: a plain GET form, so it works without JavaScript.
#[component]
pub fn SearchForm(#[prop(optional, into)] value: String) -> impl IntoView {
    view! {
        <form class="search" method="get" action="/check" role="search">
            <label for="q">"Is it down? Enter a site"</label>
            <div class="search-row">
                <input id="q" name="q" type="text" inputmode="url" autocomplete="off" spellcheck="false"
                    placeholder="example.com or https://example.com/page" value=value required/>
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
                    Ok(CheckOutcome::NotWatched { host }) => {
                        crate::not_found_status();
                        view! {
                            <p class="headline-text" data-test="check-result">
                                {format!("{host} is not on Faultline's watchlist.")}
                            </p>
                            // On-demand checks of unwatched sites plug in here.
                            <p data-test="not-watched">
                                "Faultline only reports on the sites it probes all the time, so it cannot say whether "
                                {host.clone()}
                                " is down right now. Sites behind a provider with an ongoing incident are listed on the "
                                <a href="/incidents">"incidents page"</a> "."
                            </p>
                        }.into_any()
                    }
                    Ok(CheckOutcome::Invalid) => view! {
                        <p data-test="check-result">"Enter a domain such as example.com, or a web address."</p>
                    }.into_any(),
                    Err(_) => view! { <Unavailable/> }.into_any(),
                })
            }}
        </Suspense>
    }
}
