//! What an HTML body says beyond its raw bytes: the decoded `<title>` and
//! the `id`/`class` of elements, so a marker can ask "is the box with id
//! `cf-host-status` the one carrying class `cf-error-source`" whatever the
//! attribute order or quoting.
//!
//! The html5ever tokenizer does the parsing (spec-compliant, no tree built).
//! Time is linear in the input, which the caller caps at
//! [`MAX_BODY_BYTES`](crate::observation::MAX_BODY_BYTES); memory is bounded
//! by keeping at most [`MAX_ELEMENTS`] elements and short strings.

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, CharacterTokens, StartTag, TagToken, Token, TokenSink, TokenSinkResult, Tokenizer,
    TokenizerOpts,
};
use std::cell::RefCell;

/// Bytes handed to the tokenizer at a time, so a title-only read can stop
/// early.
const CHUNK: usize = 8 * 1024;
/// Most elements with an `id` remembered per page.
pub const MAX_ELEMENTS: usize = 512;
/// Longest title, id or class kept, in bytes.
pub const MAX_STRING: usize = 512;

/// Facts read from one HTML body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageFacts {
    /// The first `<title>`, entities decoded, whitespace collapsed.
    pub title: Option<String>,
    /// Elements that carry an `id`: (id, class attribute).
    pub elements: Vec<(String, String)>,
}

impl PageFacts {
    /// Tokenizes all of `html` (already capped by the caller).
    pub fn parse(html: &str) -> Self {
        Self::read(html.as_bytes(), None)
    }

    /// Reads only as far as the end of the first `<title>`: most markers
    /// need nothing more, and tokenizing a whole page costs ~15 ns a byte.
    /// Bytes that are not UTF-8 read as U+FFFD.
    pub fn parse_title(html: &[u8]) -> Self {
        Self::read(html, Some(&[]))
    }

    /// Reads until the title and an element with each of `ids` are seen.
    pub fn parse_until(html: &[u8], ids: &[String]) -> Self {
        Self::read(html, Some(ids))
    }

    /// `until`: stop once the title and these ids are seen; `None`: read all.
    /// Decodes chunk by chunk, so an early stop never decodes the rest.
    fn read(html: &[u8], until: Option<&[String]>) -> Self {
        let sink = Sink::default();
        let input = BufferQueue::default();
        let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
        let mut rest = html;
        while !rest.is_empty() {
            let mut cut = rest.len().min(CHUNK);
            // Never split a UTF-8 sequence: back up over continuation bytes
            // (at most three; past that the bytes are not UTF-8 anyway).
            let mut back = 0;
            while cut < rest.len() && back < 3 && cut > 1 && (rest[cut] & 0xC0) == 0x80 {
                cut -= 1;
                back += 1;
            }
            let (chunk, after) = rest.split_at(cut);
            rest = after;
            input.push_back(StrTendril::from_slice(&String::from_utf8_lossy(chunk)));
            let _ = tokenizer.feed(&input);
            if let Some(ids) = until {
                let st = tokenizer.sink.state.borrow();
                let done = st.title_done
                    && ids
                        .iter()
                        .all(|id| st.elements.iter().any(|(seen, _)| seen == id));
                if done {
                    break;
                }
            }
        }
        tokenizer.end();
        let state = tokenizer.sink.state.into_inner();
        let title = state.title.map(|t| collapse(&t)).filter(|t| !t.is_empty());
        Self {
            title,
            elements: state.elements,
        }
    }

    /// Whether an element with this id has `class` among its classes.
    pub fn element_has_class(&self, id: &str, class: &str) -> bool {
        self.elements
            .iter()
            .any(|(i, c)| i == id && c.split_ascii_whitespace().any(|k| k == class))
    }
}

#[derive(Default)]
struct Sink {
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    in_title: bool,
    title_done: bool,
    title: Option<String>,
    elements: Vec<(String, String)>,
}

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut st = self.state.borrow_mut();
        match token {
            TagToken(tag) => {
                let name: &str = &tag.name;
                if tag.kind == StartTag {
                    let mut id = None;
                    let mut class = String::new();
                    for a in &tag.attrs {
                        let attr: &str = &a.name.local;
                        if attr == "id" {
                            id = Some(cap(&a.value));
                        } else if attr == "class" {
                            class = cap(&a.value);
                        }
                    }
                    if let Some(id) = id {
                        if st.elements.len() < MAX_ELEMENTS {
                            st.elements.push((id, class));
                        }
                    }
                    // The tree builder normally switches the tokenizer into
                    // raw-text states; without one, the sink must, or
                    // scripts would be read as markup.
                    if !tag.self_closing {
                        match name {
                            "title" if st.title.is_none() => {
                                st.in_title = true;
                                st.title = Some(String::new());
                                return TokenSinkResult::RawData(RawKind::Rcdata);
                            }
                            "title" | "textarea" => {
                                return TokenSinkResult::RawData(RawKind::Rcdata)
                            }
                            "style" | "xmp" | "iframe" | "noembed" | "noframes" => {
                                return TokenSinkResult::RawData(RawKind::Rawtext)
                            }
                            "script" => return TokenSinkResult::RawData(RawKind::ScriptData),
                            "plaintext" => return TokenSinkResult::Plaintext,
                            _ => {}
                        }
                    }
                } else if name == "title" && st.in_title {
                    st.in_title = false;
                    st.title_done = true;
                }
            }
            CharacterTokens(text) if st.in_title => {
                if let Some(t) = st.title.as_mut().filter(|t| t.len() < MAX_STRING) {
                    t.push_str(&text);
                }
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

/// How much of a page's text [`status_in_page`] reads: error pages name
/// their status in the title or the first lines.
const STATUS_TEXT_BYTES: usize = 8 * 1024;

/// The HTTP status an error page names, for a page pasted without its
/// headers: "Error code 522", "HTTP ERROR 500", a title such as
/// "example.com | 524: A timeout occurred" or "502 Bad Gateway". Works on
/// HTML and on the visible text copied from a page. Only 4xx and 5xx
/// statuses are read; a page naming none gives `None`.
pub fn status_in_page(body: &[u8]) -> Option<u16> {
    use regex::Regex;
    use std::sync::LazyLock;
    // Patterns are literals: a failed compile is a bug caught by the tests.
    static NAMED: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(?:error|http(?:\s+error)?)(?:\s+code)?\s*:?\s*([45][0-9]{2})\b").ok()
    });
    static TITLED: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?:^|[\s|:\-–])([45][0-9]{2})(?:\s*[:\-–]\s*|\s+)\p{Lu}").ok()
    });
    let head = &body[..body.len().min(STATUS_TEXT_BYTES)];
    let title = PageFacts::parse_title(head).title.unwrap_or_default();
    let text = visible_text(head);
    let read = |re: &Option<Regex>, haystack: &str| {
        re.as_ref()?
            .captures(haystack)?
            .get(1)?
            .as_str()
            .parse::<u16>()
            .ok()
    };
    read(&NAMED, &title)
        .or_else(|| read(&TITLED, &title))
        .or_else(|| read(&NAMED, &text))
        .or_else(|| read(&TITLED, &text.chars().take(200).collect::<String>()))
}

/// The text of `html` with tags, scripts and styles dropped and
/// whitespace collapsed; plain text comes back collapsed.
fn visible_text(html: &[u8]) -> String {
    let text = String::from_utf8_lossy(html);
    let mut out = String::with_capacity(text.len().min(STATUS_TEXT_BYTES));
    let mut rest: &str = &text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        out.push(' ');
        let after = &rest[open..];
        let lower = after.get(..8).unwrap_or(after).to_ascii_lowercase();
        let close = if lower.starts_with("<script") {
            after.find("</script").or_else(|| after.find("</SCRIPT"))
        } else if lower.starts_with("<style") {
            after.find("</style").or_else(|| after.find("</STYLE"))
        } else {
            Some(0)
        };
        let from = close.unwrap_or(after.len());
        rest = match after[from..].find('>') {
            Some(end) => &after[from + end + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cap(s: &str) -> String {
    let mut end = s.len().min(MAX_STRING);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn collapse(s: &str) -> String {
    cap(&s.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_is_decoded_and_elements_found() {
        let p = PageFacts::parse(
            "<html><head><title>Site not found &middot;\n GitHub</title></head>\
             <div class='a cf-error-source' id=cf-host-status></div>\
             <script>var x = '<div id=\"fake\">';</script></html>",
        );
        assert_eq!(p.title.as_deref(), Some("Site not found · GitHub"));
        assert!(p.element_has_class("cf-host-status", "cf-error-source"));
        assert!(!p.elements.iter().any(|(id, _)| id == "fake"));
    }

    #[test]
    fn title_only_read_agrees_and_chunks_split_anywhere() {
        let mut html = String::from("<html><head><title>Error 404 (Not Found)!!1</title>");
        while html.len() < 3 * CHUNK {
            html.push_str("<p class=\"x\">ééé</p>");
        }
        html.push_str("<div id=\"last\" class=\"a b\"></div>");
        let full = PageFacts::parse(&html);
        let title = PageFacts::parse_title(html.as_bytes());
        assert_eq!(full.title, title.title);
        assert!(full.element_has_class("last", "b"));
        assert!(!title.element_has_class("last", "b"));
    }

    #[test]
    fn a_character_across_a_chunk_boundary_is_decoded_whole() {
        for pad in 0..4 {
            let mut html = String::from("<html><head>");
            while html.len() < CHUNK - 12 + pad {
                html.push(' ');
            }
            html.push_str("<title>サーバーエラー</title>");
            let title = PageFacts::parse_title(html.as_bytes());
            assert_eq!(title.title.as_deref(), Some("サーバーエラー"), "pad {pad}");
        }
    }

    #[test]
    fn a_page_names_its_status_in_its_title_or_text() {
        let cases: [(&str, Option<u16>); 9] = [
            (
                "<title>example.com | 524: A timeout occurred</title>",
                Some(524),
            ),
            (
                "<title>502 Bad Gateway</title><h1>502 Bad Gateway</h1>",
                Some(502),
            ),
            ("<h1>Error 503 Service Unavailable</h1>", Some(503)),
            ("<p>HTTP ERROR 500</p>", Some(500)),
            (
                "Connection timed out Error code 522 Visit cloudflare.com",
                Some(522),
            ),
            ("Error 521 Ray ID: 615c6c2e9ae50c91", Some(521)),
            ("<title>Welcome</title><p>Open 24 hours, 365 days</p>", None),
            ("<script>var e = 'Error 500';</script><p>All fine</p>", None),
            ("Error 1020 Access denied", None),
        ];
        for (page, wanted) in cases {
            assert_eq!(status_in_page(page.as_bytes()), wanted, "{page}");
        }
    }

    #[test]
    fn unterminated_markup_does_not_panic() {
        for s in [
            "<title>abc",
            "<div id='x",
            "<script>",
            "<!--",
            "<",
            "&#x110000;",
        ] {
            let _ = PageFacts::parse(s);
        }
    }
}
