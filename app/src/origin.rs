//! Where this server is reached: the origin for permalinks and for telling
//! a change posted from another site.

/// The address people reach this server at, when configured
/// (`public_url`, without a trailing slash); otherwise each request's own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublicOrigin(pub Option<String>);

#[cfg(feature = "ssr")]
impl PublicOrigin {
    pub fn new(url: Option<&str>) -> Self {
        Self(url.map(|u| u.trim_end_matches('/').to_owned()))
    }

    /// The configured origin, or the one the request named.
    pub fn or_request(&self, headers: &http::HeaderMap) -> String {
        self.0.clone().unwrap_or_else(|| origin_of(headers))
    }

    /// Whether cookies must be `Secure`.
    pub fn is_https(&self) -> bool {
        self.0.as_deref().is_some_and(|o| o.starts_with("https://"))
    }
}

/// The origin for permalinks: the configured public URL, else
/// "http://host:port" as the request named this server.
#[cfg(feature = "ssr")]
pub fn request_origin() -> String {
    let configured = leptos::prelude::use_context::<PublicOrigin>().unwrap_or_default();
    match leptos::prelude::use_context::<http::request::Parts>() {
        Some(parts) => configured.or_request(&parts.headers),
        None => configured.0.unwrap_or_default(),
    }
}

/// The origin from `Host` (and `X-Forwarded-Proto` behind a proxy).
#[cfg(feature = "ssr")]
pub fn origin_of(headers: &http::HeaderMap) -> String {
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        });
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    host.map(|host| format!("{scheme}://{host}"))
        .unwrap_or_default()
}
