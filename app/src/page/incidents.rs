use leptos::prelude::*;
use leptos_meta::{Link, Title};

use super::parts::{IncidentTable, Unavailable};
use crate::incident::list_incidents;

#[component]
pub fn Incidents() -> impl IntoView {
    let incidents = Resource::new(|| (), |()| list_incidents());
    view! {
        <Title text="Provider-wide incidents · Faultline"/>
        <Link rel="alternate" type_="application/atom+xml" title="Faultline incidents" href="/incidents.atom"/>
        <h1>"Provider-wide incidents"</h1>
        <p class="muted">
            "Outages that hit many unrelated sites behind the same provider at once, newest first. "
            <a href="/incidents.atom" rel="external" data-test="feed">"Atom feed"</a>
        </p>
        <Suspense fallback=|| view! { <p>"Loading the incidents…"</p> }>
            {move || {
                incidents.get().map(|result| match result {
                    Ok(list) if list.is_empty() => view! { <p data-test="no-incidents">"No provider-wide incident recorded."</p> }.into_any(),
                    Ok(list) => view! { <IncidentTable incidents=list now=chrono::Utc::now()/> }.into_any(),
                    Err(_) => view! { <Unavailable/> }.into_any(),
                })
            }}
        </Suspense>
    }
}
