use leptos::prelude::*;
use leptos_meta::{Link, Title};

use super::parts::{Freshness, IncidentTable, Unavailable};
use crate::incident::{list_incidents, poll_incidents};
use crate::live::{use_poll, PollGate, QUIET_SECONDS};

#[component]
pub fn Incidents() -> impl IntoView {
    let tick = use_poll(|| Some(QUIET_SECONDS));
    let gate = PollGate::default();
    let incidents = Resource::new(
        move || tick.get(),
        move |tick| {
            let poll = gate.is_poll(tick);
            async move {
                if poll {
                    poll_incidents().await
                } else {
                    list_incidents().await
                }
            }
        },
    );
    view! {
        <Title text="Provider-wide incidents · Faultline"/>
        <Link rel="alternate" type_="application/atom+xml" title="Faultline incidents" href="/incidents.atom"/>
        <h1>"Provider-wide incidents"</h1>
        <p class="muted">
            "Outages that hit many unrelated sites behind the same provider at once, newest first. "
            <a href="/incidents.atom" rel="external" data-test="feed">"Atom feed"</a>
            " · "
            <a href="/official" data-test="official-link">"Faultline and the providers' status pages"</a>
        </p>
        <Transition fallback=|| view! { <p>"Loading the incidents…"</p> }>
            {move || {
                incidents.get().map(|result| match result {
                    Ok(list) if list.incidents.is_empty() => view! {
                        <Freshness freshness=list.freshness/>
                        <p data-test="no-incidents">"No provider-wide incident recorded."</p>
                    }.into_any(),
                    Ok(list) => {
                        let now = list.freshness.now;
                        view! {
                            <Freshness freshness=list.freshness/>
                            <IncidentTable incidents=list.incidents now/>
                        }.into_any()
                    }
                    Err(_) => view! { <Unavailable/> }.into_any(),
                })
            }}
        </Transition>
    }
}
