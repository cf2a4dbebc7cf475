//! Text made safe to put in HTML, SVG and XML: the one escape every
//! hand-written page, mail and picture uses.

/// `text` with `&`, `<`, `>` and `"` escaped, for element content and
/// double-quoted attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
