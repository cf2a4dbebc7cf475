//! The Faultline web app: routes, pages and the server functions they call.
//!
//! Built twice: with `ssr` into the server (rendering HTML and answering
//! server functions from the database) and with `hydrate` into the browser.

pub mod overview;
mod page;

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
    view! {
        <Stylesheet id="faultline" href="/pkg/faultline.css"/>
        <Title text="Faultline: is it down, and whose fault is it?"/>
        <header class="site-header">
            <a class="brand" href="/">"Faultline"</a>
            <span class="tagline">"Is it down, and whose fault is it?"</span>
        </header>
        <Router>
            <main>
                <Routes fallback=page::NotFound>
                    // Async: the whole page is rendered before it is sent, so it
                    // reads complete without JavaScript and can be cached.
                    <Route path=path!("") view=page::Home ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
        <footer class="site-footer">
            <p>"Faultline watches sites from one vantage point and attributes failures to their providers."</p>
        </footer>
    }
}
