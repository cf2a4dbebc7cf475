//! The API's OpenAPI 3.1 document, generated from the handlers and the
//! answer types, and the reference page Faultline renders from it.

use std::fmt::Write as _;
use std::sync::OnceLock;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::OpenApi;

use super::types::*;
use crate::markup::escape;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Faultline API",
        version = "1",
        description = "Is a site down, and whose fault is it? Sites, providers and incidents as \
            Faultline's pages show them, from the same snapshot. Reads are public and open to \
            other origins; errors are RFC 9457 problem details; each client has a budget of \
            requests per minute, told in the RateLimit headers.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    paths(
        super::list_sites,
        super::one_site,
        super::list_providers,
        super::one_provider,
        super::list_incidents,
        super::one_incident,
        super::check,
        super::explain,
        super::write::add_site,
        super::write::edit_site,
        super::write::remove_site,
        super::write::import_sites,
        super::write::add_note,
        super::write::delete_note,
        super::write::list_subscriptions,
        super::write::add_subscription,
        super::write::remove_subscription,
    ),
    components(schemas(Problem)),
    modifiers(&TokenScheme),
    tags(
        (name = "sites", description = "Watched sites: their state, errors, providers and history"),
        (name = "providers", description = "CDNs, DNS and hosts, and how their watched sites fare"),
        (name = "incidents", description = "Provider-wide outages and single sites down"),
        (name = "tools", description = "Check a site now; explain an error page"),
        (name = "watchlist", description = "Changes to the watchlist, with a token that may write"),
        (name = "alerts", description = "Alert subscriptions, with a token that may write"),
    )
)]
struct ApiDoc;

/// The bearer tokens administrators make (`faultline tokens create`).
struct TokenScheme;

impl utoipa::Modify for TokenScheme {
    fn modify(&self, openapi: &mut Document) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`flt_…`) made with `faultline tokens create` or on \
                         /admin/tokens. A read token has a budget of its own; changes need \
                         the write scope.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document, made once.
pub fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(ApiDoc::openapi)
}

/// `GET /api/openapi.json`.
pub async fn openapi_json() -> Response {
    match document().to_pretty_json() {
        Ok(json) => {
            let mut response = json.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => {
            tracing::error!(%error, "the API document does not serialise");
            super::problem(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "The API document is unavailable right now.",
                None,
            )
        }
    }
}

/// `GET /api`: the reference, rendered from the document.
pub async fn reference() -> Response {
    let html = reference_page(document());
    let mut response = html.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    response
}

fn operations(item: &utoipa::openapi::PathItem) -> Vec<(&'static str, &Operation)> {
    [
        ("GET", &item.get),
        ("POST", &item.post),
        ("PUT", &item.put),
        ("PATCH", &item.patch),
        ("DELETE", &item.delete),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_ref().map(|o| (method, o)))
    .collect()
}

/// An anchor for an operation or schema.
fn anchor(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The schema a response or body names, as a link.
fn schema_link(schema: &RefOr<utoipa::openapi::schema::Schema>) -> String {
    match schema {
        RefOr::Ref(reference) => {
            let name = reference
                .ref_location
                .rsplit('/')
                .next()
                .unwrap_or_default();
            format!(
                "<a href=\"#schema-{}\"><code>{}</code></a>",
                anchor(name),
                escape(name)
            )
        }
        RefOr::T(_) => "inline".to_owned(),
    }
}

pub fn reference_page(doc: &Document) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<p>{}</p>\
         <p>The document itself: <a href=\"/api/openapi.json\"><code>/api/openapi.json</code></a> \
         (OpenAPI {}). Every answer says which snapshot its figures come from; the pages of the \
         same moment say the same.</p>\
         <h2 id=\"examples\">Examples</h2>\
         <pre tabindex=\"0\"><code>curl -s https://faultline.example/api/v1/providers\n\
         curl -s 'https://faultline.example/api/v1/incidents?provider=cloudflare&amp;state=open'\n\
         curl -s https://faultline.example/api/v1/sites/example.com?window=7d\n\
         curl -s -X POST -H 'content-type: application/json' \\\n  \
         -d '{{\"url\": \"example.com\"}}' https://faultline.example/api/v1/check</code></pre>\
         <h2 id=\"conventions\">Conventions</h2><ul>\
         <li>Times are RFC 3339 in UTC; shares are fractions from 0 to 1.</li>\
         <li>Lists come in pages: pass <code>next_cursor</code> as <code>cursor</code> for the next one.</li>\
         <li>Reads carry an <code>ETag</code>; send it back in <code>If-None-Match</code> for a \
         <code>304</code>. Answers may be up to 5 s old (<code>Cache-Control</code>).</li>\
         <li>Each client address has a budget of requests a minute: <code>RateLimit-Policy</code> \
         says it, <code>RateLimit</code> what is left; past it, <code>429</code> with \
         <code>Retry-After</code>.</li>\
         <li>Errors are <code>application/problem+json</code> (RFC 9457).</li></ul>",
        escape(doc.info.description.as_deref().unwrap_or_default()),
        serde_json::to_value(&doc.openapi)
            .ok()
            .and_then(|version| version.as_str().map(escape))
            .unwrap_or_default()
    );
    body.push_str("<h2 id=\"endpoints\">Endpoints</h2>");
    for (path, item) in &doc.paths.paths {
        for (method, operation) in operations(item) {
            let id = anchor(&format!("{method} {path}"));
            let _ = write!(
                body,
                "<section class=\"api-operation\" id=\"{id}\"><h3><code>{method} {}</code></h3>",
                escape(path)
            );
            if let Some(summary) = &operation.summary {
                let _ = write!(body, "<p>{}</p>", escape(summary));
            }
            if let Some(description) = &operation.description {
                let _ = write!(body, "<p>{}</p>", escape(description));
            }
            let parameters = operation.parameters.as_deref().unwrap_or_default();
            if !parameters.is_empty() {
                body.push_str(
                    "<div class=\"scroll\"><table><caption>Parameters</caption><thead><tr><th scope=\"col\">Name</th>\
                     <th scope=\"col\">In</th><th scope=\"col\">Required</th>\
                     <th scope=\"col\">Meaning</th></tr></thead><tbody>",
                );
                for parameter in parameters {
                    let place = match parameter.parameter_in {
                        ParameterIn::Path => "path",
                        ParameterIn::Query => "query",
                        ParameterIn::Header => "header",
                        ParameterIn::Cookie => "cookie",
                    };
                    let required = matches!(parameter.required, utoipa::openapi::Required::True);
                    let _ = write!(
                        body,
                        "<tr><td><code>{}</code></td><td>{place}</td><td>{}</td><td>{}</td></tr>",
                        escape(&parameter.name),
                        if required { "yes" } else { "no" },
                        escape(parameter.description.as_deref().unwrap_or_default())
                    );
                }
                body.push_str("</tbody></table></div>");
            }
            if let Some(request) = &operation.request_body {
                for (kind, content) in &request.content {
                    let _ = write!(
                        body,
                        "<p>Body: <code>{}</code>, {}</p>",
                        escape(kind),
                        content.schema.as_ref().map(schema_link).unwrap_or_default()
                    );
                }
            }
            body.push_str(
                "<div class=\"scroll\"><table><caption>Answers</caption><thead><tr><th scope=\"col\">Status</th>\
                 <th scope=\"col\">Meaning</th><th scope=\"col\">Body</th></tr></thead><tbody>",
            );
            for (status, response) in &operation.responses.responses {
                let (description, schemas) = match response {
                    RefOr::T(response) => (
                        response.description.clone(),
                        response
                            .content
                            .values()
                            .filter_map(|c| c.schema.as_ref().map(schema_link))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                    RefOr::Ref(_) => (String::new(), String::new()),
                };
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td>{}</td><td>{schemas}</td></tr>",
                    escape(status),
                    escape(&description)
                );
            }
            body.push_str("</tbody></table></div></section>");
        }
    }
    body.push_str("<h2 id=\"schemas\">Schemas</h2>");
    if let Some(components) = &doc.components {
        for (name, schema) in &components.schemas {
            let json = serde_json::to_string_pretty(schema).unwrap_or_default();
            let _ = write!(
                body,
                "<section class=\"api-schema\" id=\"schema-{}\"><h3><code>{}</code></h3>\
                 <pre tabindex=\"0\"><code>{}</code></pre></section>",
                anchor(name),
                escape(name),
                escape(&json)
            );
        }
    }
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>API reference · Faultline</title>\
         <link rel=\"stylesheet\" href=\"/pkg/faultline.css\"></head>\
         <body><main class=\"api-reference\"><p><a href=\"/\">Faultline</a></p>\
         <h1>API reference</h1>{body}</main></body></html>"
    )
}
