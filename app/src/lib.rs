//! The Faultline web app: routes, pages and the server functions they call.
//!
//! Built twice: with `ssr` into the server (rendering HTML and answering
//! server functions from the database) and with `hydrate` into the browser.

pub mod admin;
pub mod admin_alerts;
pub mod admin_tokens;
pub mod chart;
pub mod client;
pub mod error;
pub mod explain;
pub mod incident;
pub mod knowledge;
pub mod live;
pub mod official;
pub mod ondemand;
pub mod origin;
pub mod overview;
mod page;
pub mod provider;
pub mod site;
pub mod status;
pub mod subscribe;
pub mod words;

pub use origin::PublicOrigin;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Set once the browser has taken over the server-rendered page: tests
    // wait for it to know hydration went through.
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    view! {
        <Stylesheet id="faultline" href="/pkg/faultline.css"/>
        <Title text="Faultline: is it down, and whose fault is it?"/>
        <header class="site-header">
            <a class="brand" href="/">"Faultline"</a>
            <span class="tagline">"Is it down, and whose fault is it?"</span>
            <nav aria-label="Main">
                <a href="/">"Overview"</a>
                <a href="/incidents">"Incidents"</a>
                <a href="/explain">"Explain an error page"</a>
            </nav>
        </header>
        <Router>
            <main data-hydrated=move || hydrated.get().to_string()>
                <Routes fallback=page::NotFound>
                    // Async: the whole page is rendered before it is sent, so it
                    // reads complete without JavaScript and can be cached.
                    <Route path=path!("") view=page::Home ssr=SsrMode::Async/>
                    <Route path=path!("/check") view=page::Check ssr=SsrMode::Async/>
                    <Route path=path!("/site/:host") view=page::Site ssr=SsrMode::Async/>
                    <Route path=path!("/provider/:id") view=page::Provider ssr=SsrMode::Async/>
                    <Route path=path!("/incidents") view=page::Incidents ssr=SsrMode::Async/>
                    <Route path=path!("/official") view=page::Official ssr=SsrMode::Async/>
                    <Route path=path!("/explain") view=page::Explain ssr=SsrMode::Async/>
                    <Route path=path!("/explain/:id") view=page::Explanation ssr=SsrMode::Async/>
                    <Route path=path!("/incident/:id") view=page::Incident ssr=SsrMode::Async/>
                    <Route path=path!("/admin") view=page::AdminHome ssr=SsrMode::Async/>
                    <Route path=path!("/admin/login") view=page::SignIn ssr=SsrMode::Async/>
                    <Route path=path!("/admin/sites") view=page::AdminSites ssr=SsrMode::Async/>
                    <Route path=path!("/admin/alerts") view=page::AdminAlerts ssr=SsrMode::Async/>
                    <Route path=path!("/admin/tokens") view=page::AdminTokens ssr=SsrMode::Async/>
                    <Route path=path!("/admin/incident/:id") view=page::AdminIncidentNotes ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
        <footer class="site-footer">
            <p>"Faultline watches sites from one vantage point and attributes failures to their providers."</p>
            <p><a href="/admin">"Administration"</a></p>
        </footer>
    }
}
