use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    crate::error::not_found_status();
    view! {
        <h1>"Page not found"</h1>
        <p><a href="/">"Back to the overview"</a></p>
    }
}
