//! HTTP clients that reach only what a prober's SSRF guard allows: every
//! name resolves through the prober's guarded lookup, on every new
//! connection, so the client connects only to addresses the guard checked
//! (DNS rebinding included). Used for webhooks and providers' status pages.

use std::sync::Arc;

use probe::LiveProber;

/// reqwest's resolver: the prober's guarded lookup.
pub struct GuardedDns(pub Arc<LiveProber>);

impl reqwest::dns::Resolve for GuardedDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let prober = self.0.clone();
        Box::pin(async move {
            let allowed = prober
                .allowed_addresses(name.as_str())
                .await
                .map_err(|reason| -> Box<dyn std::error::Error + Send + Sync> { reason.into() })?;
            let addresses: reqwest::dns::Addrs = Box::new(
                allowed
                    .into_iter()
                    .map(|ip| std::net::SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addresses)
        })
    }
}

/// A transport error in a few words, with its cause.
pub fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text.chars().take(300).collect()
}
