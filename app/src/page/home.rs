use leptos::prelude::*;

use crate::overview::{get_overview, Overview};

#[component]
pub fn Home() -> impl IntoView {
    let refresh = ServerAction::<crate::overview::GetOverview>::new();
    // Refetches whenever the refresh action completes.
    let overview = Resource::new(move || refresh.version().get(), |_| get_overview());
    // Set once the browser has taken over the server-rendered page, so users
    // (and tests) can tell live updates are on.
    let (live, set_live) = signal(false);
    Effect::new(move |_| set_live.set(true));

    view! {
        <section class="headline" aria-live="polite">
            <Suspense fallback=|| view! { <p class="headline-text">"Loading the overview…"</p> }>
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
            </Suspense>
            <ActionForm action=refresh attr:class="refresh">
                <button type="submit" data-test="refresh">"Refresh"</button>
                <span class="live" data-live=move || live.get().to_string()>
                    {move || if live.get() { "Live" } else { "Static page" }}
                </span>
            </ActionForm>
        </section>
    }
}

#[component]
fn OverviewPanel(overview: Overview) -> impl IntoView {
    view! {
        <p class="headline-text" data-test="headline">{overview.headline()}</p>
        {overview
            .vantage
            .clone()
            .map(|vantage| view! { <p class="vantage" data-test="vantage">{vantage.detail}</p> })}
        <dl class="counts">
            <div><dt>"Watched"</dt><dd data-test="watched">{overview.watched}</dd></div>
            <div><dt>"Probed"</dt><dd>{overview.probed}</dd></div>
            <div><dt>"Failing"</dt><dd>{overview.failing}</dd></div>
        </dl>
        <p class="freshness">"As of " <time data-test="as-of" datetime=overview.as_of.clone()>{overview.as_of.clone()}</time></p>
    }
}
