use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::parts::Unavailable;
use crate::error::{not_found_status, AppError};
use crate::explain::{get_explanation, ExplainPage, Explanation, MAX_PASTED_BYTES};
use leptos::server_fn::ServerFn;

/// The paste form: a plain POST form to the server function, which
/// redirects to the answer, so it works with or without JavaScript.
#[component]
fn ExplainForm() -> impl IntoView {
    view! {
        <form class="explain" method="post" action=ExplainPage::url()>
            <label for="html">"The error page: its HTML (view the page's source), or the text you can select on screen"</label>
            <textarea id="html" name="html" rows="10" required
                maxlength=MAX_PASTED_BYTES.to_string()
                placeholder="<!DOCTYPE html>…"></textarea>
            <label for="headers">"Its response headers, if you have them (optional: one per line, or the whole response head)"</label>
            <textarea id="headers" name="headers" rows="4"
                placeholder="HTTP/1.1 522\nserver: cloudflare\ncf-ray: 8f1c2a3b4d5e6f70-AMS"></textarea>
            <button type="submit" data-test="explain">"Explain"</button>
        </form>
    }
}

/// `/explain`: what the page is for, and the form.
#[component]
pub fn Explain() -> impl IntoView {
    view! {
        <Title text="Explain an error page · Faultline"/>
        <h1>"Explain an error page"</h1>
        <p>
            "Paste an error page you saw and Faultline tells you who produced it and whose fault it is: "
            "the provider in front of the site (Cloudflare, Fastly, CloudFront…), the site's own servers, "
            "or a deliberate block. Nothing you paste is kept, only the answer."
        </p>
        <ExplainForm/>
    }
}

/// `/explain/:id`: a kept answer, then the form again.
#[component]
pub fn Explanation() -> impl IntoView {
    let params = use_params_map();
    let answer = Resource::new(
        move || params.read().get("id").unwrap_or_default(),
        get_explanation,
    );
    view! {
        <Title text="Explanation · Faultline"/>
        <h1>"Explain an error page"</h1>
        <Suspense fallback=|| view! { <p>"Reading the answer…"</p> }>
            {move || {
                answer.get().map(|result| match result {
                    Ok(answer) => view! { <Answer answer/> }.into_any(),
                    Err(AppError::NotFound(_)) => {
                        not_found_status();
                        view! {
                            <p data-test="explanation-missing">
                                "This answer has expired or never existed. Paste the page again below."
                            </p>
                        }
                            .into_any()
                    }
                    Err(_) => view! { <Unavailable/> }.into_any(),
                })
            }}
        </Suspense>
        <h2>"Explain another page"</h2>
        <ExplainForm/>
    }
}

#[component]
fn Answer(answer: Explanation) -> impl IntoView {
    let side = answer
        .at_fault
        .clone()
        .unwrap_or_else(|| "not named by the page".to_owned());
    let producer = answer
        .provider
        .clone()
        .or(answer.server_software.clone())
        .unwrap_or_else(|| "not recognised: no provider's page looks like this".to_owned());
    let status = match (answer.status, answer.status_from_page) {
        (Some(status), true) => format!("{status}, read from the page"),
        (Some(status), false) => status.to_string(),
        (None, _) => "not given, and the page names none".to_owned(),
    };
    let certainty = format!(
        "{} ({:.0} %)",
        answer.certainty(),
        answer.confidence * 100.0
    );
    let codes = [
        answer.fault.map(|f| format!("fault {f}")),
        answer.fault_side.map(|s| format!("fault side {s}")),
        answer.status.map(|s| format!("status {s}")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    view! {
        <section class="answer" aria-labelledby="answer-heading">
            <h2 id="answer-heading" class="visually-hidden">"The answer"</h2>
            <p class="headline-text" data-test="explanation">{answer.explanation.clone()}</p>
            {answer.incident.clone().map(|incident| view! {
                <p class="explained" data-test="explained-incident">
                    "Faultline sees this now: "
                    <a href=format!("/incident/{}", incident.id)>{incident.sentence}</a>
                </p>
            })}
            <dl class="facts">
                <dt>"Produced by"</dt>
                <dd data-test="explained-provider">{producer}</dd>
                <dt>"Whose fault"</dt>
                <dd data-test="explained-side">{side}</dd>
                <dt>"What went wrong"</dt>
                <dd>{answer.fault.map_or("nothing this page marks as an error", engine::Fault::plain)}</dd>
                <dt>"Status"</dt>
                <dd data-test="explained-status">{status}</dd>
                <dt>"How sure"</dt>
                <dd>{certainty}</dd>
            </dl>
            <details class="how">
                <summary>"How Faultline decided"</summary>
                {(!codes.is_empty()).then(|| view! { <p>"Codes: " <code>{codes}</code></p> })}
                <ul class="evidence">
                    {answer.evidence.iter().map(|e| view! { <li><code>{e.clone()}</code></li> }).collect_view()}
                </ul>
                {(!answer.seen.is_empty()).then(|| view! {
                    <p>"Providers seen: " {answer.seen.join(", ")} "."</p>
                })}
            </details>
        </section>
    }
}
