//! What every page and server function finds in its context, given to
//! the API and the widgets too, which run the pages' own functions.

use std::sync::Arc;

use crate::knowledge::Knowledge;

/// What every page and server function finds in its context. The API
/// runs the pages' own functions with it, so both answer from one query
/// layer.
#[derive(Clone)]
pub struct PageContext {
    pub store: store::Store,
    pub knowledge: Arc<Knowledge>,
    pub explanations: app::explain::Explanations,
    pub admin: app::admin::AdminAuth,
    pub public_origin: app::PublicOrigin,
    pub live: app::live::LiveMemo,
    pub status: app::status::Status,
    pub on_demand: Option<app::ondemand::OnDemand>,
    pub alert_offer: Option<app::subscribe::AlertOffer>,
}

impl PageContext {
    /// Provides the context to the reactive owner now current.
    pub fn provide(&self) {
        use leptos::prelude::provide_context;
        provide_context(self.store.clone());
        provide_context(self.knowledge.current());
        provide_context(self.explanations.clone());
        provide_context(self.admin.clone());
        provide_context(self.public_origin.clone());
        provide_context(self.live.clone());
        provide_context(self.status.clone());
        if let Some(on_demand) = &self.on_demand {
            provide_context(on_demand.clone());
        }
        if let Some(offer) = &self.alert_offer {
            provide_context(offer.clone());
        }
    }

    /// Runs `work` (a page's function) for the request `parts` came from,
    /// with the context a page render would have.
    pub async fn run<T>(
        &self,
        parts: axum::http::request::Parts,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        use leptos::prelude::provide_context;
        use leptos::reactive::{computed::ScopedFuture, owner::Owner};
        let context = self.clone();
        Owner::new()
            .with(|| {
                ScopedFuture::new(async move {
                    provide_context(parts);
                    provide_context(leptos_axum::ResponseOptions::default());
                    context.provide();
                    work.await
                })
            })
            .await
    }
}
