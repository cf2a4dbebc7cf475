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

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

/// Largest page rewritten; a larger one is passed on as it is.
const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;

/// Middleware: rewrites `text/html` answers with [`tidy`].
pub async fn tidy_pages(request: Request, next: Next) -> Response {
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
        Ok(html) => Body::from(tidy(html)),
        Err(_) => Body::from(bytes),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, body)
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
