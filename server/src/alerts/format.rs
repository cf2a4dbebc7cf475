//! The bodies of alerts in each webhook format: the Standard Webhooks
//! payload as it is, or a chat service's message built from it (Slack,
//! Discord, Microsoft Teams, ntfy).
//!
//! A chat message carries text from data: headlines name providers and
//! hosts, evidence quotes what sites said. Every such text is cleaned by
//! [`sanitise`] (no control characters, no mass mentions, no mention or
//! link syntax) and cut to the service's documented limit by one helper,
//! [`clip`], so an unusual alert arrives shortened instead of being
//! refused. Lengths are counted in UTF-16 code units, never fewer than
//! characters, so each limit holds however the service counts; ntfy's
//! message limit is in bytes, and Slack's escapes are counted as sent.

use app::words;
use engine::{AlertEvent, AlertFormat, Cause, Tally};
use serde_json::{json, Value};

use super::payload::Alert;

/// What goes over the wire for one alert in one format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// Where to POST it.
    pub url: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// The request that delivers `alert` in `format` to `target`, the
/// subscription's URL. Refuses only a target the format cannot use: an
/// ntfy URL that does not name one topic ntfy accepts.
pub fn render(format: AlertFormat, alert: &Alert, target: &str) -> Result<Rendered, String> {
    let (url, body) = match format {
        AlertFormat::Standard | AlertFormat::Unknown => {
            (target.to_owned(), serde_json::to_vec(alert))
        }
        AlertFormat::Slack => (target.to_owned(), serde_json::to_vec(&slack(alert))),
        AlertFormat::Discord => (target.to_owned(), serde_json::to_vec(&discord(alert))),
        AlertFormat::Teams => (target.to_owned(), serde_json::to_vec(&teams(alert))),
        AlertFormat::Ntfy => {
            let (root, topic) = ntfy_target(target)?;
            (root, serde_json::to_vec(&ntfy(alert, &topic)))
        }
    };
    let body = body.map_err(|error| format!("cannot write the payload: {error}"))?;
    Ok(Rendered {
        url,
        content_type: "application/json",
        body,
    })
}

// Slack, Block Kit reference (docs.slack.dev/reference/block-kit/blocks).
/// Header block: `text` (plain_text) at most 150 characters.
const SLACK_HEADER: usize = 150;
/// Section block: `text` at most 3,000 characters.
const SLACK_SECTION: usize = 3_000;
/// Section block: at most 10 `fields`, each at most 2,000 characters.
const SLACK_FIELDS: usize = 10;
const SLACK_FIELD: usize = 2_000;
/// Context block: at most 10 elements.
const SLACK_CONTEXT_ELEMENTS: usize = 10;
/// Text object: at most 3,000 characters.
const SLACK_TEXT_OBJECT: usize = 3_000;
/// At most 50 blocks in a message.
const SLACK_BLOCKS: usize = 50;
/// chat.postMessage: a top-level `text` past 40,000 characters is cut;
/// Slack advises at most 4,000.
const SLACK_FALLBACK: usize = 4_000;

// Discord, "Embed Limits" and "Execute Webhook"
// (discord.com/developers/docs/resources/message, .../resources/webhook).
/// `content` at most 2,000 characters.
const DISCORD_CONTENT: usize = 2_000;
/// Embed `title` at most 256 characters.
const DISCORD_TITLE: usize = 256;
/// Embed `description` at most 4,096 characters.
const DISCORD_DESCRIPTION: usize = 4_096;
/// At most 25 fields; a name at most 256, a value at most 1,024.
const DISCORD_FIELDS: usize = 25;
const DISCORD_FIELD_NAME: usize = 256;
const DISCORD_FIELD_VALUE: usize = 1_024;
/// Title, description, field names and values, footer and author of all
/// of a message's embeds together at most 6,000 characters.
const DISCORD_EMBED_TOTAL: usize = 6_000;

// Microsoft Teams: a message is at most 28 KB ("Create Incoming Webhooks",
// learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors);
// Adaptive Cards set no length per text, so these are ours, small enough
// that a whole card stays far below it.
/// The headline and the note.
const TEAMS_LINE: usize = 500;
/// A fact's value.
const TEAMS_FACT: usize = 300;
/// The evidence.
const TEAMS_TEXT: usize = 2_000;

// ntfy (docs.ntfy.sh/publish, docs.ntfy.sh/config).
/// `message-size-limit`, 4 KB by default, in bytes: a longer message is
/// turned into an attachment.
const NTFY_MESSAGE: usize = 4_096;
/// ntfy documents no limit on titles; this one keeps a notification
/// readable.
const NTFY_TITLE: usize = 250;
/// Topics ntfy keeps for itself (`DefaultDisallowedTopics`, server
/// configuration); a server may add more.
const NTFY_RESERVED: &[&str] = &[
    "docs", "static", "file", "app", "metrics", "account", "settings", "signup", "login", "v1",
];

/// What one evidence line may take, whatever room is left.
const EVIDENCE_LINE: usize = 300;
/// Room kept for "… and 123 more" after a listing cut short.
const MORE: usize = 32;
/// The longest permalink linked to: it cannot be cut like text.
const LINK_MAX: usize = 2_000;
const ELLIPSIS: char = '…';
/// Breaks mention and link syntax without changing what a reader sees.
const ZERO_WIDTH_SPACE: char = '\u{200B}';

/// How an alert sounds: its colour, emoji and urgency in every format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tone {
    /// An outage or a site down.
    Down,
    /// A suspicion, a recovery under way, a provider failing under a site.
    Warning,
    /// Resolved or recovered.
    Clear,
    /// A test, or an event this build does not know.
    Info,
}

impl Tone {
    fn of(event: AlertEvent) -> Self {
        match event {
            AlertEvent::ProviderConfirmed
            | AlertEvent::ProviderRelapsed
            | AlertEvent::ProviderSpread
            | AlertEvent::ProviderOngoing
            | AlertEvent::SiteDown
            | AlertEvent::SiteExplained => Self::Down,
            AlertEvent::ProviderSuspected
            | AlertEvent::ProviderRecovering
            | AlertEvent::SiteProviderFailing => Self::Warning,
            AlertEvent::ProviderResolved | AlertEvent::SiteRecovered => Self::Clear,
            AlertEvent::ProviderAcknowledged
            | AlertEvent::ProviderOfficiallyResolved
            | AlertEvent::Test
            | AlertEvent::Unknown => Self::Info,
        }
    }

    /// An emoji shortcode, as Slack and ntfy's tags know it.
    fn emoji(self) -> &'static str {
        match self {
            Self::Down => "rotating_light",
            Self::Warning => "warning",
            Self::Clear => "white_check_mark",
            Self::Info => "bell",
        }
    }

    /// Discord's embed colour.
    fn rgb(self) -> u32 {
        match self {
            Self::Down => 0xD9_30_25,
            Self::Warning => 0xF2_99_00,
            Self::Clear => 0x1E_8E_3E,
            Self::Info => 0x5F_63_68,
        }
    }

    /// An Adaptive Card text colour.
    fn card_colour(self) -> &'static str {
        match self {
            Self::Down => "Attention",
            Self::Warning => "Warning",
            Self::Clear => "Good",
            Self::Info => "Default",
        }
    }

    /// ntfy's priority: 4 (high) for an outage, 3 (default) otherwise.
    fn priority(self) -> u8 {
        match self {
            Self::Down => 4,
            Self::Warning | Self::Clear | Self::Info => 3,
        }
    }
}

/// A Slack incoming webhook message: a header, a section with the figures
/// and the link, the evidence in a context block, and `text` for
/// notifications.
fn slack(alert: &Alert) -> Value {
    let tone = Tone::of(alert.event);
    let data = &alert.data;
    // plain_text is shown as written, never parsed: cleaned, not escaped.
    let mut header = plain(&data.headline, SLACK_HEADER);
    if header.is_empty() {
        header = capitalised(alert.event.plain());
    }
    let mut summary = format!(":{}: *{}*", tone.emoji(), capitalised(alert.event.plain()));
    if let Some(link) = permalink(alert) {
        let href = link
            .as_str()
            .replace('&', "&amp;")
            .replace('<', "%3C")
            .replace('>', "%3E")
            .replace('|', "%7C");
        summary.push_str(&format!("  <{href}|Open in Faultline>"));
    }
    if let Some(note) = &data.note {
        let room = SLACK_SECTION.saturating_sub(units(&summary, utf16) + 3);
        summary.push_str(&format!("\n_{}_", mrkdwn(note, room)));
    }
    let mut section = json!({
        "type": "section",
        "text": { "type": "mrkdwn", "text": summary },
    });
    let fields: Vec<Value> = facts(alert)
        .into_iter()
        .take(SLACK_FIELDS)
        .map(|(label, value)| {
            let room = SLACK_FIELD - label.len() - 3;
            json!({ "type": "mrkdwn", "text": format!("*{label}*\n{}", mrkdwn(&value, room)) })
        })
        .collect();
    if !fields.is_empty() {
        section["fields"] = Value::Array(fields);
    }
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": { "type": "plain_text", "text": header, "emoji": true },
        }),
        section,
    ];
    let evidence = listing(&data.evidence, SLACK_TEXT_OBJECT, utf16, |line, room| {
        format!("• {}", mrkdwn(line, room - 2))
    });
    if !evidence.is_empty() {
        let mut elements = vec![json!({ "type": "mrkdwn", "text": evidence })];
        elements.truncate(SLACK_CONTEXT_ELEMENTS);
        blocks.push(json!({ "type": "context", "elements": elements }));
    }
    blocks.truncate(SLACK_BLOCKS);
    json!({
        "text": mrkdwn(&data.headline, SLACK_FALLBACK),
        "blocks": blocks,
    })
}

/// A Discord webhook message: the headline as `content`, one embed with
/// the figures as fields and the evidence as description, and no
/// mentions parsed, so nothing pings anyone.
fn discord(alert: &Alert) -> Value {
    let tone = Tone::of(alert.event);
    let data = &alert.data;
    let subject = data
        .provider
        .as_ref()
        .map(|provider| provider.name.as_str())
        .or(data.site.as_ref().map(|site| site.host.as_str()));
    let title = match subject {
        Some(subject) => format!("{} · {subject}", capitalised(alert.event.plain())),
        None => capitalised(alert.event.plain()),
    };
    let title = plain(&title, DISCORD_TITLE);
    let footer = "Faultline";
    let mut fields: Vec<(String, String)> = facts(alert)
        .into_iter()
        .take(DISCORD_FIELDS)
        .map(|(label, value)| {
            (
                plain(label, DISCORD_FIELD_NAME),
                plain(&value, DISCORD_FIELD_VALUE),
            )
        })
        .collect();
    let fixed = |fields: &[(String, String)]| {
        units(&title, utf16)
            + units(footer, utf16)
            + fields
                .iter()
                .map(|(name, value)| units(name, utf16) + units(value, utf16))
                .sum::<usize>()
    };
    // Fields give way before the description shrinks below a tenth.
    while !fields.is_empty() && fixed(&fields) > DISCORD_EMBED_TOTAL - DISCORD_DESCRIPTION / 10 {
        fields.pop();
    }
    let room = DISCORD_DESCRIPTION.min(DISCORD_EMBED_TOTAL.saturating_sub(fixed(&fields)));
    let mut description = String::new();
    if let Some(note) = &data.note {
        description = format!("_{}_", plain(note, (room / 4).saturating_sub(2)));
    }
    let left = room.saturating_sub(units(&description, utf16) + 2);
    let evidence = listing(&data.evidence, left, utf16, |line, room| {
        format!("• {}", plain(line, room - 2))
    });
    if !evidence.is_empty() {
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        description.push_str(&evidence);
    }
    let mut embed = json!({
        "title": title,
        "timestamp": words::rfc3339(alert.timestamp),
        "color": tone.rgb(),
        "fields": fields
            .into_iter()
            .map(|(name, value)| json!({ "name": name, "value": value, "inline": true }))
            .collect::<Vec<_>>(),
        "footer": { "text": footer },
    });
    if !description.is_empty() {
        embed["description"] = Value::String(description);
    }
    if let Some(link) = permalink(alert) {
        embed["url"] = Value::String(link.into());
    }
    json!({
        "content": plain(&data.headline, DISCORD_CONTENT),
        "embeds": [embed],
        "allowed_mentions": { "parse": [] },
    })
}

/// A Microsoft Teams message for a Workflows webhook ("Post to a channel
/// when a webhook request is received"): one Adaptive Card attachment.
fn teams(alert: &Alert) -> Value {
    let tone = Tone::of(alert.event);
    let data = &alert.data;
    let mut headline = plain(&data.headline, TEAMS_LINE);
    if headline.is_empty() {
        headline = capitalised(alert.event.plain());
    }
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": headline,
        "weight": "Bolder",
        "size": "Medium",
        "color": tone.card_colour(),
        "wrap": true,
    })];
    if let Some(note) = &data.note {
        body.push(json!({
            "type": "TextBlock",
            "text": plain(note, TEAMS_LINE),
            "isSubtle": true,
            "wrap": true,
        }));
    }
    let facts: Vec<Value> = facts(alert)
        .into_iter()
        .map(|(label, value)| json!({ "title": label, "value": plain(&value, TEAMS_FACT) }))
        .collect();
    if !facts.is_empty() {
        body.push(json!({ "type": "FactSet", "facts": facts }));
    }
    let evidence = listing(&data.evidence, TEAMS_TEXT, utf16, |line, room| {
        format!("- {}", plain(line, room - 2))
    });
    if !evidence.is_empty() {
        body.push(json!({
            "type": "TextBlock",
            "text": evidence,
            "wrap": true,
            "spacing": "Medium",
        }));
    }
    let actions: Vec<Value> = permalink(alert)
        .into_iter()
        .map(|link| json!({ "type": "Action.OpenUrl", "title": "Open in Faultline", "url": link.as_str() }))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": actions,
            },
        }],
    })
}

/// An ntfy message, published as JSON to the server's root URL.
fn ntfy(alert: &Alert, topic: &str) -> Value {
    let tone = Tone::of(alert.event);
    let data = &alert.data;
    let mut message = String::new();
    for (label, value) in facts(alert) {
        let line = format!("{label}: {}", clip(&sanitise(&value), 200, utf8));
        message.push_str(&line);
        message.push('\n');
    }
    if let Some(note) = &data.note {
        message.push('\n');
        message.push_str(&clip(&sanitise(note), 500, utf8));
        message.push('\n');
    }
    let left = NTFY_MESSAGE.saturating_sub(message.len() + 1);
    let evidence = listing(&data.evidence, left, utf8, |line, room| {
        format!("• {}", clip(&sanitise(line), room - "• ".len(), utf8))
    });
    if !evidence.is_empty() {
        message.push('\n');
        message.push_str(&evidence);
    }
    let mut message = message.trim().to_owned();
    if message.is_empty() {
        message = capitalised(alert.event.plain());
    }
    let mut body = json!({
        "topic": topic,
        "title": plain(&data.headline, NTFY_TITLE),
        "message": message,
        "priority": tone.priority(),
        "tags": [tone.emoji()],
    });
    if let Some(link) = permalink(alert) {
        body["click"] = Value::String(link.into());
    }
    body
}

/// The ntfy server's root URL and the topic `target` names:
/// `https://ntfy.sh/alerts` publishes to `alerts` through
/// `https://ntfy.sh/`. A query (`?auth=`) is kept. The topic is never
/// repeated in an error: on ntfy it works as a password.
fn ntfy_target(target: &str) -> Result<(String, String), String> {
    let mut url = url::Url::parse(target).map_err(|error| format!("not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("an ntfy target is an http or https URL".to_owned());
    }
    let segments: Vec<String> = url
        .path_segments()
        .map(|segments| {
            segments
                .filter(|segment| !segment.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let topic = match segments.as_slice() {
        [topic] => topic.clone(),
        [] => return Err("an ntfy target names its topic: https://ntfy.sh/<topic>".to_owned()),
        _ => return Err(
            "an ntfy target is a server and one topic (https://ntfy.sh/<topic>), nothing after it"
                .to_owned(),
        ),
    };
    let valid = (1..=64).contains(&topic.len())
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err("ntfy refuses this topic: 1 to 64 letters, digits, '-' or '_'".to_owned());
    }
    if NTFY_RESERVED.contains(&topic.as_str()) {
        return Err("ntfy keeps this topic name for itself".to_owned());
    }
    url.set_path("/");
    url.set_fragment(None);
    Ok((url.into(), topic))
}

/// The figures as (label, value), in the order every format shows them:
/// at most ten, so they fit Slack's section.
fn facts(alert: &Alert) -> Vec<(&'static str, String)> {
    let data = &alert.data;
    let figures = &data.figures;
    let mut facts = Vec::new();
    if let Some(provider) = &data.provider {
        facts.push((
            "Provider",
            format!("{} ({})", provider.name, provider.role.plain()),
        ));
    }
    if let Some(site) = &data.site {
        facts.push(("Site", site.host.clone()));
    }
    if let (Some(failing), Some(of)) = (figures.failing, figures.of) {
        facts.push(("Failing", Tally::new(failing, of).short()));
    }
    if let Some(peak) = figures.peak_share {
        facts.push(("Peak", words::percent(peak)));
    }
    if let Some(sites) = figures.affected_sites {
        facts.push(("Sites affected", sites.to_string()));
    }
    if let Some(at) = figures.onset_at {
        facts.push(("Started", words::utc(at)));
    }
    if let Some(at) = figures.confirmed_at {
        facts.push(("Confirmed", words::utc(at)));
    }
    if let Some(at) = figures.resolved_at {
        facts.push(("Resolved", words::utc(at)));
    }
    if let Some(confidence) = figures.confidence {
        facts.push(("Confidence", words::percent(confidence)));
    }
    if let Some(cause) = &figures.cause {
        facts.push(("Cause", Cause::from(cause.as_str()).plain().to_owned()));
    }
    facts.retain(|(_, value)| !value.trim().is_empty());
    facts
}

/// Where the alert points: its incident, else its site, else its
/// provider; only an http(s) URL short enough to link whole.
fn permalink(alert: &Alert) -> Option<url::Url> {
    let data = &alert.data;
    [
        data.incident
            .as_ref()
            .map(|incident| incident.permalink.as_str()),
        data.site.as_ref().map(|site| site.permalink.as_str()),
        data.provider
            .as_ref()
            .map(|provider| provider.permalink.as_str()),
    ]
    .into_iter()
    .flatten()
    .next()
    .and_then(|link| url::Url::parse(link).ok())
    .filter(|link| matches!(link.scheme(), "http" | "https") && link.as_str().len() <= LINK_MAX)
}

/// Text from data, cleaned and cut to `max` UTF-16 units.
fn plain(text: &str, max: usize) -> String {
    clip(&sanitise(text), max, utf16)
}

/// Text from data as Slack mrkdwn: cleaned, cut so that it takes at most
/// `max` once escaped, and `&`, `<`, `>` escaped as Slack asks.
fn mrkdwn(text: &str, max: usize) -> String {
    let mut escaped = String::new();
    for c in clip(&sanitise(text), max, slack_escaped).chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `text` without control characters (a line break and a tab stay) and
/// with mention and link syntax broken by a zero-width space: `@here`,
/// `@channel`, `@everyone`, `<!…>` (Slack's special mentions), `<@…>` and
/// `<#…>` (users, roles, channels), `<at>` (Teams), and `](` (a Markdown
/// link whose text could disguise where it goes).
fn sanitise(text: &str) -> String {
    let mut clean = String::with_capacity(text.len());
    for (at, c) in text.char_indices() {
        clean.push(match c {
            '\n' | '\t' => c,
            c if c.is_control() => ' ',
            c => c,
        });
        let rest = &text[at + c.len_utf8()..];
        let mention = match c {
            '<' => rest.starts_with(['!', '@', '#']) || starts_with_word(rest, "at"),
            '@' => ["channel", "here", "everyone"]
                .iter()
                .any(|word| starts_with_word(rest, word)),
            ']' => rest.starts_with('('),
            _ => false,
        };
        if mention {
            clean.push(ZERO_WIDTH_SPACE);
        }
    }
    clean
}

/// Whether `text` starts with `word`, in any case.
fn starts_with_word(text: &str, word: &str) -> bool {
    text.get(..word.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(word))
}

/// `text` in at most `max` units as `weigh` counts them: whole if it fits,
/// else cut on a character boundary and ended with "…".
fn clip(text: &str, max: usize, weigh: fn(char) -> usize) -> String {
    if units(text, weigh) <= max {
        return text.to_owned();
    }
    let Some(room) = max.checked_sub(weigh(ELLIPSIS)) else {
        return String::new();
    };
    let mut used = 0;
    let mut end = 0;
    for (at, c) in text.char_indices() {
        used += weigh(c);
        if used > room {
            break;
        }
        end = at + c.len_utf8();
    }
    let mut cut = text[..end].trim_end().to_owned();
    cut.push(ELLIPSIS);
    cut
}

/// Evidence lines, one a line, as many as fit in `max` units (as `weigh`
/// counts the rendered text), then "… and N more" for the rest. `line`
/// renders one line in at most the units it is given.
fn listing(
    lines: &[String],
    max: usize,
    weigh: fn(char) -> usize,
    line: impl Fn(&str, usize) -> String,
) -> String {
    if lines.is_empty() || max < MORE + 16 {
        return String::new();
    }
    let room = EVIDENCE_LINE.min(max - MORE);
    let mut listed = String::new();
    let mut used = 0;
    for (n, raw) in lines.iter().enumerate() {
        let rendered = line(raw, room);
        let cost = units(&rendered, weigh) + usize::from(n > 0);
        let reserve = if n + 1 < lines.len() { MORE } else { 0 };
        if used + cost + reserve > max {
            if n > 0 {
                listed.push('\n');
            }
            listed.push_str(&format!("{ELLIPSIS} and {} more", lines.len() - n));
            break;
        }
        if n > 0 {
            listed.push('\n');
        }
        listed.push_str(&rendered);
        used += cost;
    }
    listed
}

fn units(text: &str, weigh: fn(char) -> usize) -> usize {
    text.chars().map(weigh).sum()
}

/// Characters as UTF-16 code units: never fewer than characters.
fn utf16(c: char) -> usize {
    c.len_utf16()
}

/// Bytes, as ntfy counts a message.
fn utf8(c: char) -> usize {
    c.len_utf8()
}

/// A character as it takes room once escaped for Slack.
fn slack_escaped(c: char) -> usize {
    match c {
        '&' => "&amp;".len(),
        '<' | '>' => "&lt;".len(),
        c => c.len_utf16(),
    }
}

/// "Provider outage confirmed" from "provider outage confirmed".
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::payload::{AlertData, Figures, IncidentRef, ProviderRef, SiteRef};
    use chrono::{DateTime, Utc};
    use engine::{Phase, Role};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn confirmed() -> Alert {
        Alert {
            event: AlertEvent::ProviderConfirmed,
            timestamp: at("2025-11-18T11:48:00Z"),
            data: AlertData {
                headline: "Cloudflare (CDN) outage confirmed: 54 of 60 (90 %) watched sites \
                           behind it are failing"
                    .to_owned(),
                incident: Some(IncidentRef {
                    id: 7,
                    kind: "provider",
                    phase: Phase::Confirmed,
                    sequence: 2,
                    permalink: "https://faultline.example/incident/7".to_owned(),
                    scope: None,
                    regions: Vec::new(),
                }),
                provider: Some(ProviderRef {
                    id: "cloudflare".to_owned(),
                    name: "Cloudflare".to_owned(),
                    role: Role::Cdn,
                    permalink: "https://faultline.example/provider/cloudflare".to_owned(),
                }),
                site: Some(SiteRef {
                    host: "shop.example".to_owned(),
                    permalink: "https://faultline.example/site/shop.example".to_owned(),
                }),
                figures: Figures {
                    failing: Some(54),
                    of: Some(60),
                    share: Some(0.9),
                    peak_share: Some(0.95),
                    affected_sites: Some(57),
                    onset_at: Some(at("2025-11-18T11:20:00Z")),
                    confirmed_at: Some(at("2025-11-18T11:48:00Z")),
                    resolved_at: None,
                    confidence: Some(0.87),
                    cause: Some("origin_unreachable".to_owned()),
                },
                evidence: vec![
                    "shop.example: 502 from Cloudflare".to_owned(),
                    "news.example: 500 from Cloudflare".to_owned(),
                ],
                note: None,
                official: None,
            },
        }
    }

    /// Everything as long and as hostile as it gets: a 10,000-character
    /// headline, 500 evidence lines, mentions, markup and wide characters.
    fn monstrous() -> Alert {
        let mut alert = confirmed();
        let filler = "<!channel> @here & <@U123> é🙂 ";
        alert.data.headline = filler.repeat(10_000 / filler.chars().count() + 1);
        alert.data.headline = alert.data.headline.chars().take(10_000).collect();
        alert.data.evidence = (0..500)
            .map(|n| format!("site{n}.example <!everyone> {}", "x&y".repeat(n)))
            .collect();
        alert.data.note = Some("@everyone ".repeat(1_000));
        alert.data.site.as_mut().unwrap().host = "h".repeat(5_000);
        alert.data.provider.as_mut().unwrap().name = "P🙂".repeat(3_000);
        alert.data.figures.cause = Some("<!here>".repeat(800));
        alert
    }

    fn sent(format: AlertFormat, alert: &Alert, target: &str) -> Value {
        let rendered = render(format, alert, target).unwrap();
        assert_eq!(rendered.content_type, "application/json");
        serde_json::from_slice(&rendered.body).unwrap()
    }

    fn text(value: &Value) -> &str {
        value.as_str().unwrap()
    }

    fn u16s(text: &str) -> usize {
        text.encode_utf16().count()
    }

    /// Every string in a JSON value.
    fn strings(value: &Value) -> Vec<String> {
        match value {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items.iter().flat_map(strings).collect(),
            Value::Object(map) => map.values().flat_map(strings).collect(),
            _ => Vec::new(),
        }
    }

    /// No mass mention, user mention, Teams mention or Markdown link left.
    fn assert_no_mentions(value: &Value) {
        for s in strings(value) {
            let lower = s.to_lowercase();
            for bad in ["<!", "<@", "@here", "@channel", "@everyone", "<at>", "]("] {
                assert!(!lower.contains(bad), "{bad:?} left in {s:.80}");
            }
        }
    }

    #[test]
    fn clip_cuts_on_a_character_boundary_and_says_so() {
        assert_eq!(clip("short", 10, utf16), "short");
        assert_eq!(clip("exactly", 7, utf16), "exactly");
        assert_eq!(clip("abcdefgh", 5, utf16), "abcd…");
        assert_eq!(clip("ééééé", 3, utf16), "éé…");
        // "…" is three bytes.
        assert_eq!(clip("ééééé", 7, utf8), "éé…");
        assert_eq!(clip("ééééé", 6, utf8), "é…");
        // An emoji is two UTF-16 units: never half of one.
        assert_eq!(clip("🙂🙂🙂", 4, utf16), "🙂…");
        assert_eq!(clip("a 🙂🙂", 3, utf16), "a…");
        assert_eq!(clip("anything", 0, utf16), "");
        // Room for Slack's escapes: "&" costs five.
        assert_eq!(clip("a&b&c", 8, slack_escaped), "a&b…");
        assert_eq!(mrkdwn("a&b&c", 8), "a&amp;b…");
        assert_eq!(mrkdwn("a&b&c", 7), "a&amp;…");
        for max in 0..40 {
            assert!(u16s(&mrkdwn("<&>".repeat(20).as_str(), max)) <= max);
        }
    }

    #[test]
    fn sanitise_breaks_mentions_and_links_but_keeps_the_words() {
        let clean = sanitise(
            "<!channel> <!HERE|here> @Everyone <@U1> <#C1> <at>Bob</at> [x](https://evil)\u{7}",
        );
        assert_no_mentions(&Value::String(clean.clone()));
        assert_eq!(
            clean.replace(ZERO_WIDTH_SPACE, ""),
            "<!channel> <!HERE|here> @Everyone <@U1> <#C1> <at>Bob</at> [x](https://evil) "
        );
        assert_eq!(
            sanitise("a@b.example, [note] (x)\nnext"),
            "a@b.example, [note] (x)\nnext"
        );
    }

    #[test]
    fn standard_is_the_payload_itself() {
        let alert = confirmed();
        for format in [AlertFormat::Standard, AlertFormat::Unknown] {
            let rendered = render(format, &alert, "https://hooks.example/x").unwrap();
            assert_eq!(rendered.url, "https://hooks.example/x");
            assert_eq!(rendered.content_type, "application/json");
            assert_eq!(rendered.body, serde_json::to_vec(&alert).unwrap());
        }
    }

    #[test]
    fn slack_has_a_header_figures_evidence_and_the_link() {
        let rendered = render(
            AlertFormat::Slack,
            &confirmed(),
            "https://hooks.slack.com/services/T/B/x",
        )
        .unwrap();
        assert_eq!(rendered.url, "https://hooks.slack.com/services/T/B/x");
        let body: Value = serde_json::from_slice(&rendered.body).unwrap();
        assert_eq!(text(&body["text"]), confirmed().data.headline);
        let blocks = body["blocks"].as_array().unwrap();
        let kinds: Vec<&str> = blocks.iter().map(|b| text(&b["type"])).collect();
        assert_eq!(kinds, ["header", "section", "context"]);
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        assert_eq!(text(&blocks[0]["text"]["text"]), confirmed().data.headline);
        let summary = text(&blocks[1]["text"]["text"]);
        assert!(
            summary.starts_with(":rotating_light: *Provider outage confirmed*"),
            "{summary}"
        );
        assert!(summary.contains("<https://faultline.example/incident/7|Open in Faultline>"));
        let fields: Vec<&str> = blocks[1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| text(&f["text"]))
            .collect();
        assert_eq!(fields[0], "*Provider*\nCloudflare (CDN)");
        assert!(fields.contains(&"*Failing*\n54 of 60 (90 %)"), "{fields:?}");
        assert!(
            fields.contains(&"*Cause*\nthe site's own server could not be reached"),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"*Started*\n11:20 UTC, 18 Nov 2025"),
            "{fields:?}"
        );
        let evidence = text(&blocks[2]["elements"][0]["text"]);
        assert_eq!(
            evidence,
            "• shop.example: 502 from Cloudflare\n• news.example: 500 from Cloudflare"
        );
    }

    #[test]
    fn slack_stays_within_every_limit_and_pings_no_one() {
        let body = sent(
            AlertFormat::Slack,
            &monstrous(),
            "https://hooks.slack.com/x",
        );
        assert!(u16s(text(&body["text"])) <= SLACK_FALLBACK);
        let blocks = body["blocks"].as_array().unwrap();
        assert!(blocks.len() <= SLACK_BLOCKS);
        let header = text(&blocks[0]["text"]["text"]);
        assert!(
            u16s(header) <= 150 && header.ends_with('…'),
            "{}",
            u16s(header)
        );
        let section = &blocks[1];
        assert!(u16s(text(&section["text"]["text"])) <= 3_000);
        let fields = section["fields"].as_array().unwrap();
        assert!(fields.len() <= 10);
        for field in fields {
            assert!(u16s(text(&field["text"])) <= 2_000);
        }
        let elements = blocks[2]["elements"].as_array().unwrap();
        assert!(elements.len() <= 10);
        for element in elements {
            assert!(u16s(text(&element["text"])) <= 3_000);
        }
        assert!(text(&elements[0]["text"]).ends_with(" more"));
        assert_no_mentions(&body);
        // Data never brings its own markup: its <, > and & are escaped
        // (the only raw "<" is the link's).
        assert!(text(&body["text"]).contains("&lt;"));
        assert!(!text(&body["text"]).contains('<'));
        for field in fields {
            assert!(!text(&field["text"]).contains('<'));
        }
    }

    #[test]
    fn slack_leaves_out_what_an_alert_lacks() {
        let mut test = confirmed();
        test.event = AlertEvent::Test;
        test.data = AlertData {
            headline: "Test alert from Faultline: this endpoint receives alerts".to_owned(),
            incident: None,
            provider: None,
            site: None,
            figures: Figures::default(),
            evidence: Vec::new(),
            note: None,
            official: None,
        };
        let body = sent(AlertFormat::Slack, &test, "https://hooks.slack.com/x");
        let blocks = body["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 2);
        assert!(blocks[1].get("fields").is_none());
        assert_eq!(text(&blocks[1]["text"]["text"]), ":bell: *Test*");
    }

    #[test]
    fn discord_has_one_embed_and_pings_no_one() {
        let body = sent(
            AlertFormat::Discord,
            &confirmed(),
            "https://discord.com/api/webhooks/1/x",
        );
        assert_eq!(text(&body["content"]), confirmed().data.headline);
        assert_eq!(body["allowed_mentions"], json!({ "parse": [] }));
        let embeds = body["embeds"].as_array().unwrap();
        assert_eq!(embeds.len(), 1);
        let embed = &embeds[0];
        assert_eq!(
            text(&embed["title"]),
            "Provider outage confirmed · Cloudflare"
        );
        assert_eq!(text(&embed["url"]), "https://faultline.example/incident/7");
        assert_eq!(text(&embed["timestamp"]), "2025-11-18T11:48:00Z");
        assert_eq!(embed["color"], 0xD9_30_25);
        assert_eq!(
            embed["fields"][0],
            json!({ "name": "Provider", "value": "Cloudflare (CDN)", "inline": true })
        );
        assert_eq!(
            text(&embed["description"]),
            "• shop.example: 502 from Cloudflare\n• news.example: 500 from Cloudflare"
        );
    }

    #[test]
    fn discord_colours_say_how_bad_it_is() {
        let colour = |event| {
            let mut alert = confirmed();
            alert.event = event;
            sent(AlertFormat::Discord, &alert, "https://discord.com/x")["embeds"][0]["color"]
                .as_u64()
                .unwrap()
        };
        let red = colour(AlertEvent::ProviderConfirmed);
        let amber = colour(AlertEvent::ProviderSuspected);
        let green = colour(AlertEvent::ProviderResolved);
        assert_eq!(colour(AlertEvent::SiteDown), red);
        assert_eq!(colour(AlertEvent::ProviderRelapsed), red);
        assert_eq!(colour(AlertEvent::ProviderRecovering), amber);
        assert_eq!(colour(AlertEvent::SiteRecovered), green);
        assert!(red != amber && amber != green && red != green);
        assert_eq!(red >> 16, 0xD9, "red");
        assert_eq!(green >> 8 & 0xFF, 0x8E, "green");
    }

    #[test]
    fn discord_stays_within_every_limit() {
        let body = sent(AlertFormat::Discord, &monstrous(), "https://discord.com/x");
        assert!(u16s(text(&body["content"])) <= 2_000);
        let embed = &body["embeds"][0];
        let title = u16s(text(&embed["title"]));
        let description = u16s(text(&embed["description"]));
        let footer = u16s(text(&embed["footer"]["text"]));
        assert!(title <= 256);
        assert!(description <= 4_096);
        let fields = embed["fields"].as_array().unwrap();
        assert!(!fields.is_empty() && fields.len() <= 25);
        let mut total = title + description + footer;
        for field in fields {
            let (name, value) = (u16s(text(&field["name"])), u16s(text(&field["value"])));
            assert!(name <= 256 && (1..=1_024).contains(&value));
            total += name + value;
        }
        assert!(total <= 6_000, "{total}");
        assert_no_mentions(&body);
    }

    #[test]
    fn teams_is_an_adaptive_card_for_a_workflows_webhook() {
        let body = sent(
            AlertFormat::Teams,
            &confirmed(),
            "https://prod.westeurope.logic.azure.com/workflows/x",
        );
        assert_eq!(body["type"], "message");
        let attachments = body["attachments"].as_array().unwrap();
        assert_eq!(attachments.len(), 1);
        assert_eq!(
            attachments[0]["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert!(attachments[0]["contentUrl"].is_null());
        let card = &attachments[0]["content"];
        assert_eq!(
            card["$schema"],
            "http://adaptivecards.io/schemas/adaptive-card.json"
        );
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        let body = card["body"].as_array().unwrap();
        let kinds: Vec<&str> = body.iter().map(|b| text(&b["type"])).collect();
        assert_eq!(kinds, ["TextBlock", "FactSet", "TextBlock"]);
        assert_eq!(text(&body[0]["text"]), confirmed().data.headline);
        assert_eq!(body[0]["weight"], "Bolder");
        assert_eq!(body[0]["size"], "Medium");
        assert_eq!(body[0]["wrap"], true);
        assert_eq!(
            body[1]["facts"][0],
            json!({ "title": "Provider", "value": "Cloudflare (CDN)" })
        );
        assert_eq!(
            text(&body[2]["text"]),
            "- shop.example: 502 from Cloudflare\n- news.example: 500 from Cloudflare"
        );
        assert_eq!(
            card["actions"],
            json!([{ "type": "Action.OpenUrl", "title": "Open in Faultline", "url": "https://faultline.example/incident/7" }])
        );
    }

    #[test]
    fn teams_stays_small_and_mentions_no_one() {
        let mut alert = monstrous();
        alert
            .data
            .evidence
            .push("<at>Everyone</at> [click](https://evil.example)".to_owned());
        let rendered = render(AlertFormat::Teams, &alert, "https://x.logic.azure.com/w").unwrap();
        assert!(rendered.body.len() <= 28_000, "{}", rendered.body.len());
        let body: Value = serde_json::from_slice(&rendered.body).unwrap();
        let card = &body["attachments"][0]["content"];
        for block in card["body"].as_array().unwrap() {
            if let Some(text) = block["text"].as_str() {
                assert!(u16s(text) <= TEAMS_TEXT);
            }
        }
        assert_no_mentions(&body);
    }

    #[test]
    fn ntfy_publishes_json_to_the_root_with_the_topic_in_the_body() {
        let rendered = render(
            AlertFormat::Ntfy,
            &confirmed(),
            "https://ntfy.example:8443/faultline-alerts?auth=abc",
        )
        .unwrap();
        assert_eq!(rendered.url, "https://ntfy.example:8443/?auth=abc");
        let body: Value = serde_json::from_slice(&rendered.body).unwrap();
        assert_eq!(body["topic"], "faultline-alerts");
        assert_eq!(text(&body["title"]), confirmed().data.headline);
        assert_eq!(body["priority"], 4);
        assert_eq!(body["tags"], json!(["rotating_light"]));
        assert_eq!(body["click"], "https://faultline.example/incident/7");
        let message = text(&body["message"]);
        assert!(
            message.starts_with(
                "Provider: Cloudflare (CDN)\nSite: shop.example\nFailing: 54 of 60 (90 %)"
            ),
            "{message}"
        );
        assert!(
            message.ends_with(
                "• shop.example: 502 from Cloudflare\n• news.example: 500 from Cloudflare"
            ),
            "{message}"
        );

        let mut resolved = confirmed();
        resolved.event = AlertEvent::ProviderResolved;
        let quiet = sent(
            AlertFormat::Ntfy,
            &resolved,
            "http://127.0.0.1:2586/alerts/",
        );
        assert_eq!(quiet["priority"], 3);
        assert_eq!(quiet["tags"], json!(["white_check_mark"]));
        let rendered = render(
            AlertFormat::Ntfy,
            &resolved,
            "http://127.0.0.1:2586/alerts/",
        )
        .unwrap();
        assert_eq!(rendered.url, "http://127.0.0.1:2586/");
    }

    #[test]
    fn ntfy_refuses_a_target_without_a_topic_it_would_accept() {
        let alert = confirmed();
        for bad in [
            "https://ntfy.sh",
            "https://ntfy.sh/",
            "https://ntfy.sh/has.dot",
            "https://ntfy.sh/has%20space",
            "https://ntfy.sh/%C3%A9t%C3%A9",
            &format!("https://ntfy.sh/{}", "t".repeat(65)),
            "https://ntfy.sh/docs",
            "https://ntfy.sh/v1",
            "https://ntfy.sh/a/b",
            "ftp://ntfy.sh/alerts",
            "not a url",
        ] {
            let refused = render(AlertFormat::Ntfy, &alert, bad);
            assert!(refused.is_err(), "{bad}");
        }
        // The topic is a secret: never repeated in an error.
        let error = render(AlertFormat::Ntfy, &alert, "https://ntfy.sh/secret.topic").unwrap_err();
        assert!(!error.contains("secret"), "{error}");
        let longest = format!("https://ntfy.sh/{}", "t".repeat(64));
        assert!(render(AlertFormat::Ntfy, &alert, &longest).is_ok());
        assert!(render(AlertFormat::Ntfy, &alert, "https://ntfy.sh/A-z_09").is_ok());
    }

    #[test]
    fn ntfy_stays_within_its_limits() {
        let body = sent(AlertFormat::Ntfy, &monstrous(), "https://ntfy.sh/alerts");
        assert!(u16s(text(&body["title"])) <= NTFY_TITLE);
        let message = text(&body["message"]);
        assert!(message.len() <= NTFY_MESSAGE, "{}", message.len());
        assert!(message.ends_with(" more"));
        assert_no_mentions(&body);
    }

    #[test]
    fn a_permalink_that_is_no_web_address_is_left_out() {
        let mut alert = confirmed();
        alert.data.incident.as_mut().unwrap().permalink = "javascript:alert(1)".to_owned();
        alert.data.site = None;
        alert.data.provider = None;
        let slack = sent(AlertFormat::Slack, &alert, "https://hooks.slack.com/x");
        assert!(!text(&slack["blocks"][1]["text"]["text"]).contains("Open in Faultline"));
        let discord = sent(AlertFormat::Discord, &alert, "https://discord.com/x");
        assert!(discord["embeds"][0].get("url").is_none());
        let teams = sent(AlertFormat::Teams, &alert, "https://x.logic.azure.com/w");
        assert_eq!(teams["attachments"][0]["content"]["actions"], json!([]));
        let ntfy = sent(AlertFormat::Ntfy, &alert, "https://ntfy.sh/alerts");
        assert!(ntfy.get("click").is_none());
    }
}
