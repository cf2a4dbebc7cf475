//! Strings from a status document, made safe to store and show: control
//! characters removed, whitespace collapsed, length capped, and HTML read
//! as the text a reader would see.

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, CharacterTokens, EndTag, StartTag, TagToken, Token, TokenSink, TokenSinkResult,
    Tokenizer, TokenizerOpts,
};
use std::cell::RefCell;

/// Characters of an id.
pub const MAX_REFERENCE: usize = 128;
/// Characters of a title.
pub const MAX_TITLE: usize = 300;
/// Characters of a component's name.
pub const MAX_COMPONENT: usize = 120;
/// Components kept per incident.
pub const MAX_COMPONENTS: usize = 50;
/// Characters of a link.
pub const MAX_URL: usize = 1_024;

/// `text` on one line: controls dropped, whitespace runs as one space, at
/// most `max` characters (an ellipsis marks a cut).
pub fn bounded(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    for word in text.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        let gap = usize::from(!out.is_empty());
        let length = word.chars().count();
        if count + gap + length > max {
            let room = max.saturating_sub(count + gap + 1);
            if gap == 1 && room > 0 {
                out.push(' ');
            }
            out.extend(word.chars().take(room));
            out.push('…');
            return out;
        }
        if gap == 1 {
            out.push(' ');
        }
        out.push_str(word);
        count += gap + length;
    }
    out
}

/// Prose: paragraphs kept apart by one blank line, each [`bounded`]; at
/// most `max` characters in all.
pub fn prose(text: &str, max: usize) -> String {
    let paragraphs: Vec<String> = text
        .split("\n\n")
        .map(|paragraph| bounded(paragraph, max))
        .filter(|paragraph| !paragraph.is_empty())
        .collect();
    let joined = paragraphs.join("\n\n");
    if joined.chars().count() <= max {
        joined
    } else {
        let mut cut: String = joined.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// The text a reader sees in `html`, as [`prose`]: block elements start
/// paragraphs, scripts and styles are skipped, entities decoded.
pub fn from_html(html: &str, max: usize) -> String {
    let sink = Sink::default();
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let read = tokenizer.sink.text.into_inner();
    prose(&read, max)
}

/// Text that looks like markup is read as HTML, other text as prose.
pub fn readable(text: &str, max: usize) -> String {
    let looks_like_html = text.contains('<') && text.contains('>') || text.contains("&lt;");
    if looks_like_html {
        from_html(text, max)
    } else {
        prose(text, max)
    }
}

/// Elements that start a new paragraph.
const BLOCKS: &[&str] = &[
    "p",
    "br",
    "div",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "table",
    "blockquote",
    "pre",
    "section",
    "article",
    "hr",
];

/// Text read from HTML is bounded too, before it is tidied.
const MAX_READ: usize = 256 * 1024;

#[derive(Default)]
struct Sink {
    text: RefCell<String>,
    skipping: RefCell<bool>,
}

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        match token {
            TagToken(tag) => {
                let name: &str = &tag.name;
                if BLOCKS.contains(&name) {
                    self.text.borrow_mut().push_str("\n\n");
                }
                if tag.kind == StartTag && !tag.self_closing {
                    // Without a tree builder the sink must switch the
                    // tokenizer into raw text, or scripts read as markup.
                    match name {
                        "script" => {
                            *self.skipping.borrow_mut() = true;
                            return TokenSinkResult::RawData(RawKind::ScriptData);
                        }
                        "style" | "xmp" | "iframe" | "noembed" | "noframes" => {
                            *self.skipping.borrow_mut() = true;
                            return TokenSinkResult::RawData(RawKind::Rawtext);
                        }
                        "title" | "textarea" => return TokenSinkResult::RawData(RawKind::Rcdata),
                        _ => {}
                    }
                } else if tag.kind == EndTag
                    && matches!(
                        name,
                        "script" | "style" | "xmp" | "iframe" | "noembed" | "noframes"
                    )
                {
                    *self.skipping.borrow_mut() = false;
                }
            }
            CharacterTokens(chars) if !*self.skipping.borrow() => {
                let mut text = self.text.borrow_mut();
                if text.len() < MAX_READ {
                    text.push_str(&chars);
                }
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_text_is_one_clean_line() {
        assert_eq!(bounded("  a\tb\u{0}c\n\nd  ", 100), "a b c d");
        assert_eq!(bounded("abcdef ghij", 8), "abcdef…");
        assert_eq!(bounded("abcdefghij", 5), "abcd…");
        assert_eq!(bounded("", 5), "");
    }

    #[test]
    fn html_reads_as_its_visible_text() {
        let html = "<p><strong>Investigating</strong> - Cloudflare is experiencing an \
                    internal service degradation.</p><script>alert(1)</script>\
                    <p>Customers &amp; users may see errors.</p>";
        assert_eq!(
            from_html(html, 1000),
            "Investigating - Cloudflare is experiencing an internal service degradation.\n\n\
             Customers & users may see errors."
        );
    }

    #[test]
    fn prose_is_capped() {
        let long = "word ".repeat(1000);
        let text = prose(&long, 50);
        assert_eq!(text.chars().count(), 50);
        assert!(text.ends_with('…'));
    }
}
