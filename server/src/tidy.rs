//! Makes the rendered pages valid HTML without changing the document the
//! browser builds from them. The web framework writes three things the
//! HTML standard calls errors:
//!
//! - `<!>` as its hydration marker, an "abrupt closing of empty comment";
//!   written `<!---->` it is the same empty comment, correctly spelled;
//! - its nonce as the value of `crossorigin` on the script preloads, which
//!   browsers read as `anonymous` (the invalid-value default), so we write
//!   `anonymous`;
//! - the resolved data of the page's resources as scripts after `</html>`,
//!   which a browser moves into `<body>`; we put them there ourselves.
//!
//! Hydration walks the same nodes either way.
//!
//! The same pass reads the page's inline scripts and answers with a
//! Content-Security-Policy that allows exactly those (by their SHA-256),
//! the app's own files and WebAssembly, and nothing else: a cached page
//! keeps a policy that matches it, which a per-response nonce could not.
//! [`security_headers`] gives every other answer a closed policy and the
//! usual companions.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use sha2::Digest as _;

/// The policy of every answer that is not a page: it runs nothing.
const CLOSED_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Largest page rewritten; a larger one is passed on as it is.
const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;

/// Middleware: rewrites `text/html` answers with [`tidy`].
pub async fn tidy_pages(request: Request, next: Next) -> Response {
    // The widgets are written valid, with a framing policy of their own.
    if crate::widget::is_embed_path(request.uri().path()) {
        return next.run(request).await;
    }
    let response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    if !is_html || response.headers().contains_key(header::CONTENT_ENCODING) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_PAGE_BYTES).await {
        Ok(bytes) => bytes,
        Err(error) => {
            // The body is gone; say so rather than send half a page.
            tracing::warn!(%error, "could not read a page to tidy it");
            parts.status = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
            parts.headers.remove(header::CONTENT_LENGTH);
            return Response::from_parts(parts, Body::from("the page could not be rendered\n"));
        }
    };
    let body = match std::str::from_utf8(&bytes) {
        Ok(html) => {
            let page = tidy(html);
            if let Ok(policy) = HeaderValue::from_str(&page_policy(&page)) {
                parts
                    .headers
                    .insert(header::CONTENT_SECURITY_POLICY, policy);
            }
            Body::from(page)
        }
        Err(_) => Body::from(bytes),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, body)
}

/// Middleware, outermost: every answer says not to sniff types, not to be
/// framed and how much of its address to pass on; one without a policy of
/// its own (not a page) gets the closed one.
pub async fn security_headers(request: Request, next: Next) -> Response {
    // Only the widgets may be framed, by whoever embeds them.
    let framable = crate::widget::is_embed_path(request.uri().path());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !framable {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    // A 304 updates the headers of the page the browser kept: it must not
    // bring the closed policy in place of the page's.
    let revalidated = response.status() == axum::http::StatusCode::NOT_MODIFIED;
    let headers = response.headers_mut();
    if !revalidated && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CLOSED_POLICY),
        );
    }
    response
}

/// The policy for `page`: its own files, WebAssembly, and its inline
/// scripts by hash.
pub fn page_policy(page: &str) -> String {
    let hashes: String = inline_scripts(page)
        .map(|script| {
            let digest = sha2::Sha256::digest(script.as_bytes());
            format!(
                " 'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        })
        .collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The text of every `<script>` without a `src`, as the browser hashes it.
fn inline_scripts(page: &str) -> impl Iterator<Item = &str> {
    let mut rest = page;
    std::iter::from_fn(move || loop {
        let start = find_ignoring_case(rest, "<script")?;
        let after = &rest[start..];
        let open_end = after.find('>')? + 1;
        let close = find_ignoring_case(&after[open_end..], "</script")?;
        let open = &after[..open_end];
        let body = &after[open_end..open_end + close];
        rest = &after[open_end + close..];
        if !open.contains(" src=") {
            return Some(body);
        }
    })
}

/// The page with the three rewrites above; anything else is unchanged.
pub fn tidy(html: &str) -> String {
    let html = move_trailing_scripts(html);
    let mut out = String::with_capacity(html.len() + 256);
    let mut rest = html.as_str();
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("<!>") {
            out.push_str("<!---->");
            rest = after;
        } else if starts_with_tag(rest, "script") || starts_with_tag(rest, "style") {
            // Raw text: copied as it is, up to and including its end tag.
            let name = if starts_with_tag(rest, "script") {
                "</script"
            } else {
                "</style"
            };
            let end = find_ignoring_case(rest, name)
                .and_then(|close| rest[close..].find('>').map(|gt| close + gt + 1))
                .unwrap_or(rest.len());
            let (element, after) = rest.split_at(end);
            out.push_str(&fix_crossorigin(element));
            rest = after;
        } else {
            let end = rest.find('>').map_or(rest.len(), |gt| gt + 1);
            let (tag, after) = rest.split_at(end);
            out.push_str(&fix_crossorigin(tag));
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn starts_with_tag(text: &str, name: &str) -> bool {
    let Some(after) = text.strip_prefix('<') else {
        return false;
    };
    after.len() > name.len()
        && after.as_bytes()[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        && matches!(
            after.as_bytes()[name.len()],
            b' ' | b'>' | b'\t' | b'\n' | b'/'
        )
}

fn find_ignoring_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

/// In a start tag (or a script's start), a `crossorigin` value other than
/// the two keywords becomes `anonymous`, what browsers take it for.
fn fix_crossorigin(tag: &str) -> String {
    const ATTRIBUTE: &str = " crossorigin=\"";
    let head_end = tag.find('>').map_or(tag.len(), |gt| gt + 1);
    let (head, tail) = tag.split_at(head_end);
    let Some(start) = head.find(ATTRIBUTE) else {
        return tag.to_owned();
    };
    let value_start = start + ATTRIBUTE.len();
    let Some(value_len) = head[value_start..].find('"') else {
        return tag.to_owned();
    };
    let value = &head[value_start..value_start + value_len];
    if value.is_empty() || value == "anonymous" || value == "use-credentials" {
        return tag.to_owned();
    }
    format!(
        "{}anonymous{}{tail}",
        &head[..value_start],
        &head[value_start + value_len..]
    )
}

/// Scripts written after `</html>` go before `</body>`.
fn move_trailing_scripts(html: &str) -> String {
    const END: &str = "</body></html>";
    match html.rfind(END) {
        Some(at) if !html[at + END.len()..].trim().is_empty() => {
            let trailing = &html[at + END.len()..];
            format!("{}{trailing}{END}", &html[..at])
        }
        _ => html.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::tidy;

    #[test]
    fn markers_preloads_and_late_scripts_are_made_valid() {
        let page = concat!(
            "<!DOCTYPE html><html><head>",
            "<link rel=\"modulepreload\" href=\"/pkg/a.js\" crossorigin=\"Xy-12\">",
            "<link rel=\"icon\" href=\"/favicon.svg\">",
            "<script nonce=\"Xy-12\">var s = \"<!>\";</script></head>",
            "<body><h1>A<!>B</h1><p>1 &lt;!&gt; 2</p></body></html>",
            "<script nonce=\"Xy-12\">__RESOLVED = 1;</script>",
        );
        let tidied = tidy(page);
        assert!(tidied.contains("crossorigin=\"anonymous\""), "{tidied}");
        assert!(!tidied.contains("crossorigin=\"Xy-12\""), "{tidied}");
        assert!(tidied.contains("<h1>A<!---->B</h1>"), "{tidied}");
        // Inside a script and in escaped text, nothing changes.
        assert!(tidied.contains("var s = \"<!>\";"), "{tidied}");
        assert!(tidied.contains("1 &lt;!&gt; 2"), "{tidied}");
        assert!(
            tidied.ends_with("<script nonce=\"Xy-12\">__RESOLVED = 1;</script></body></html>"),
            "{tidied}"
        );
    }

    #[test]
    fn the_policy_allows_the_pages_own_inline_scripts_only() {
        use base64::Engine as _;
        use sha2::Digest as _;
        let page = "<html><head><script type=\"module\">boot()</script>\
                    <script src=\"/pkg/a.js\"></script></head>\
                    <body><SCRIPT>data = 1;</SCRIPT></body></html>";
        let policy = super::page_policy(page);
        for script in ["boot()", "data = 1;"] {
            let hash = base64::engine::general_purpose::STANDARD
                .encode(sha2::Sha256::digest(script.as_bytes()));
            assert!(policy.contains(&format!("'sha256-{hash}'")), "{policy}");
        }
        assert_eq!(policy.matches("'sha256-").count(), 2, "{policy}");
        for part in [
            "frame-ancestors 'none'",
            "'wasm-unsafe-eval'",
            "object-src 'none'",
        ] {
            assert!(policy.contains(part), "{policy}");
        }
        assert!(!policy.contains("unsafe-inline"), "{policy}");
    }

    #[test]
    fn a_valid_page_is_left_alone() {
        let page = "<!DOCTYPE html><html><head><link crossorigin=\"\" href=\"/a\"></head>\
                    <body><!-- note --><p>x > y</p></body></html>";
        assert_eq!(tidy(page), page);
        for broken in [
            "<",
            "<!",
            "<script",
            "<p crossorigin=\"x",
            "</body></html>  ",
        ] {
            let _ = tidy(broken);
        }
    }
}
