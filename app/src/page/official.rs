use leptos::prelude::*;
use leptos_meta::Title;

use super::parts::{Time, Unavailable};
use crate::official::{get_comparison, ComparisonRow};
use crate::words;

/// "Faultline vs official": every provider incident Faultline measured
/// beside what the provider's status page said, and every statement
/// Faultline saw no outage for.
#[component]
pub fn Official() -> impl IntoView {
    let comparison = Resource::new(|| (), |()| get_comparison());
    view! {
        <Title text="Faultline and the providers' status pages · Faultline"/>
        <h1>"Faultline and the providers' status pages"</h1>
        <p class="muted">
            "Each provider-wide outage Faultline measured, beside what the provider's own status page said and when; and each incident a status page reported that Faultline saw no outage for. Lead time: from Faultline's detection to the provider's first statement (positive when Faultline was first). "
            <a href="/official/export.csv" rel="external" download data-test="official-csv">"Download (CSV)"</a>
        </p>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                comparison.get().map(|result| match result {
                    Ok(comparison) if comparison.rows.is_empty() => view! {
                        <p data-test="no-comparison">"Nothing to compare yet: no provider-wide incident measured and no statement read."</p>
                    }.into_any(),
                    Ok(comparison) => view! { <ComparisonTable rows=comparison.rows/> }.into_any(),
                    Err(_) => view! { <Unavailable/> }.into_any(),
                })
            }}
        </Transition>
    }
}

#[component]
fn ComparisonTable(rows: Vec<ComparisonRow>) -> impl IntoView {
    view! {
        <div class="scroll">
            <table class="data cards" data-test="comparison">
                <thead><tr>
                    <th scope="col">"Provider"</th>
                    <th scope="col">"Faultline detected"</th>
                    <th scope="col">"First official statement"</th>
                    <th scope="col">"Lead time"</th>
                    <th scope="col">"Official resolution"</th>
                    <th scope="col">"Measured recovery"</th>
                    <th scope="col">"Official title"</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|row| {
                        let verdict = row.verdict();
                        let unmatched = row.incident_id.is_none() || row.acknowledged_at.is_none();
                        view! {
                            <tr class:unmatched=unmatched>
                                <td data-label="Provider"><a href=format!("/provider/{}", row.provider)>{row.provider_name.clone()}</a></td>
                                <td data-label="Faultline detected">{match (row.incident_id, row.detected_at) {
                                    (Some(id), Some(at)) => view! { <a href=format!("/incident/{id}")><Time at/></a> }.into_any(),
                                    _ => view! { "not seen" }.into_any(),
                                }}</td>
                                <td data-label="First official statement">{row.acknowledged_at.map_or_else(
                                    || view! { "none" }.into_any(),
                                    |at| view! { <Time at/> }.into_any(),
                                )}</td>
                                <td data-label="Lead time" data-test="lead">{verdict}</td>
                                <td data-label="Official resolution">{match (row.acknowledged_at, row.official_resolved_at) {
                                    (_, Some(at)) => view! { <Time at/> }.into_any(),
                                    (Some(_), None) => view! { "still open" }.into_any(),
                                    (None, None) => view! { "–" }.into_any(),
                                }}</td>
                                <td data-label="Measured recovery">{match (row.detected_at, row.recovered_at) {
                                    (_, Some(at)) => view! { <Time at/> }.into_any(),
                                    (Some(_), None) => view! { "ongoing" }.into_any(),
                                    (None, None) => view! { "–" }.into_any(),
                                }}</td>
                                <td data-label="Official title">
                                    {match row.official_url.clone() {
                                        Some(url) => view! { <a href=url rel="external nofollow">{words::list(&row.official_titles)}</a> }.into_any(),
                                        None => view! { {words::list(&row.official_titles)} }.into_any(),
                                    }}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
