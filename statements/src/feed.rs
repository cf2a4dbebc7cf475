//! Atom and RSS status feeds (the AWS Health Dashboard's, Azure's,
//! Statuspage's `history.atom`). A feed has no stages of its own: each
//! entry is read as one incident with one update, whose stage is taken
//! from the words the provider starts it with ("Resolved", "[RESOLVED]",
//! "Service is operating normally", "Investigating", ...).

use chrono::{DateTime, Datelike, TimeZone, Utc};

use crate::text::{self, MAX_COMPONENT, MAX_COMPONENTS, MAX_REFERENCE, MAX_TITLE};
use crate::{link, plausible, Limits, OfficialIncident, OfficialUpdate, StatementError};
use engine::vocab::{OfficialImpact, OfficialStatus};

const FORMAT: &str = "an Atom or RSS feed";

pub(crate) fn parse(
    bytes: &[u8],
    base: &str,
    limits: &Limits,
) -> Result<Vec<OfficialIncident>, StatementError> {
    let feed = feed_rs::parser::parse(bytes).map_err(|error| StatementError::Malformed {
        format: FORMAT,
        message: text::bounded(&error.to_string(), 300),
    })?;
    let mut incidents = Vec::new();
    for entry in feed.entries {
        let title = entry
            .title
            .as_ref()
            .map(|title| text::readable(&title.content, MAX_TITLE))
            .unwrap_or_default();
        let reference = text::bounded(&entry.id, MAX_REFERENCE);
        // An entry without a time says nothing about when; skip it.
        let Some(at) = entry.published.or(entry.updated) else {
            continue;
        };
        let published_at = plausible(at, &reference, "the entry's time")?;
        let body = entry
            .content
            .as_ref()
            .and_then(|content| content.body.clone())
            .or_else(|| {
                entry
                    .summary
                    .as_ref()
                    .map(|summary| summary.content.clone())
            })
            .unwrap_or_default();
        let text = text::readable(&body, limits.max_text);
        let updates = match posted_updates(&text, published_at, &reference) {
            Some(updates) => updates,
            None => vec![OfficialUpdate {
                reference: reference.clone(),
                status: stage(&title, &text),
                text,
                published_at,
            }],
        };
        let last = updates
            .last()
            .map(|update| (update.status, update.published_at));
        let resolved_at = last.and_then(|(status, at)| status.is_resolution().then_some(at));
        let mut components: Vec<String> = Vec::new();
        for category in &entry.categories {
            let name = text::bounded(
                category.label.as_deref().unwrap_or(&category.term),
                MAX_COMPONENT,
            );
            if !name.is_empty() && !components.contains(&name) && components.len() < MAX_COMPONENTS
            {
                components.push(name);
            }
        }
        incidents.push(OfficialIncident {
            title: strip_stage(&title),
            impact: OfficialImpact::Unknown,
            components,
            started_at: None,
            resolved_at,
            url: entry.links.iter().find_map(|l| link(&l.href, base)),
            updates,
            reference,
        });
    }
    Ok(incidents)
}

/// Words a provider starts a post with, and the stage they mean.
const STAGES: &[(&str, OfficialStatus)] = &[
    ("[resolved]", OfficialStatus::Resolved),
    ("resolved", OfficialStatus::Resolved),
    ("mitigated", OfficialStatus::Resolved),
    ("service is operating normally", OfficialStatus::Resolved),
    ("postmortem", OfficialStatus::Postmortem),
    ("post-incident review", OfficialStatus::Postmortem),
    ("monitoring", OfficialStatus::Monitoring),
    ("identified", OfficialStatus::Identified),
    ("investigating", OfficialStatus::Investigating),
    ("scheduled", OfficialStatus::Maintenance),
    ("completed", OfficialStatus::Maintenance),
];

/// The stage the title, or else the text, starts with.
fn stage(title: &str, text: &str) -> OfficialStatus {
    for words in [title, text] {
        let lower = words.trim_start().to_lowercase();
        if let Some((_, status)) = STAGES.iter().find(|(start, _)| lower.starts_with(start)) {
            return *status;
        }
    }
    OfficialStatus::Update
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// The updates of a Statuspage feed entry, which lists each as a stamp
/// ("Nov 18, 11:48 UTC") followed by "Stage - text", newest first. The
/// stamps carry no year: it is the entry's, or the next one when the
/// month is earlier than the entry's (an incident across New Year).
fn posted_updates(
    text: &str,
    published: DateTime<Utc>,
    reference: &str,
) -> Option<Vec<OfficialUpdate>> {
    let mut updates = Vec::new();
    let mut paragraphs = text.split("\n\n").peekable();
    while let Some(paragraph) = paragraphs.next() {
        let Some(at) = stamp(paragraph, published) else {
            continue;
        };
        let said = paragraphs.next().unwrap_or_default();
        let (stage_word, words) = said.split_once(" - ").unwrap_or((said, ""));
        let status = stage(stage_word, "");
        let words = if words.is_empty() { said } else { words };
        updates.push(OfficialUpdate {
            reference: format!("{reference}@{}", at.to_rfc3339()),
            status,
            text: words.to_owned(),
            published_at: at,
        });
    }
    // Newest first in the feed; oldest first here, and updates posted in
    // the same minute keep their order.
    updates.reverse();
    (!updates.is_empty()).then_some(updates)
}

/// "Nov 18, 11:48 UTC" in the year of `published` (or the next).
fn stamp(paragraph: &str, published: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let rest = paragraph.trim().strip_suffix(" UTC")?;
    let (month_day, clock) = rest.split_once(", ")?;
    let (month, day) = month_day.split_once(' ')?;
    let month = MONTHS.iter().position(|m| month.eq_ignore_ascii_case(m))?;
    let month = u32::try_from(month).ok()? + 1;
    let day: u32 = day.trim().parse().ok()?;
    let (hour, minute) = clock.split_once(':')?;
    let (hour, minute): (u32, u32) = (hour.parse().ok()?, minute.parse().ok()?);
    let year = published.year() + i32::from(month < published.month());
    Utc.with_ymd_and_hms(year, month, day, hour, minute, 0)
        .single()
}

/// The title without the stage words it starts with.
fn strip_stage(title: &str) -> String {
    let lower = title.to_lowercase();
    for (start, _) in STAGES {
        if lower.starts_with(start) {
            let rest = title
                .get(start.len()..)
                .unwrap_or_default()
                .trim_start_matches([' ', ':', '-', '–']);
            if !rest.is_empty() {
                return rest.to_owned();
            }
        }
    }
    title.to_owned()
}

#[cfg(test)]
mod tests {
    use crate::{parse, Limits};
    use engine::vocab::{OfficialStatus, StatusFormat};

    #[test]
    fn rss_items_are_incidents_with_their_stage() {
        let rss = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Amazon EC2 (N. Virginia) Service Status</title>
<link>https://status.aws.amazon.com/</link><description>x</description>
<item><title><![CDATA[Service is operating normally: [RESOLVED] Increased API Error Rates]]></title>
<link>https://status.aws.amazon.com/</link><pubDate>Tue, 07 Dec 2021 23:10:00 PST</pubDate>
<guid isPermaLink="false">https://status.aws.amazon.com/#ec2-us-east-1_1638947400</guid>
<description><![CDATA[<p>Between 7:30 AM and 4:35 PM PST we experienced increased API error rates.</p>]]></description></item>
<item><title><![CDATA[Informational message: Increased API Error Rates]]></title>
<link>javascript:alert(1)</link><pubDate>Tue, 07 Dec 2021 08:22:00 PST</pubDate>
<guid isPermaLink="false">https://status.aws.amazon.com/#ec2-us-east-1_1638894120</guid>
<description>We are investigating increased API error rates.</description></item>
</channel></rss>"#;
        let document = parse(
            StatusFormat::Feed,
            rss.as_bytes(),
            "https://status.aws.amazon.com/rss/all.rss",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(document.incidents.len(), 2);
        let resolved = &document.incidents[0];
        assert_eq!(resolved.status(), OfficialStatus::Resolved);
        assert_eq!(resolved.title, "[RESOLVED] Increased API Error Rates");
        assert_eq!(
            resolved.updates[0].published_at.to_rfc3339(),
            "2021-12-08T07:10:00+00:00"
        );
        assert_eq!(
            resolved.updates[0].text,
            "Between 7:30 AM and 4:35 PM PST we experienced increased API error rates."
        );
        let first = &document.incidents[1];
        assert_eq!(first.status(), OfficialStatus::Update);
        assert_eq!(first.url, None, "a script link is dropped");
        assert!(first.is_open());
    }

    #[test]
    fn entity_bombs_and_non_feeds_are_refused() {
        let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<rss version="2.0"><channel><title>&lol2;</title><item><title>&lol2;</title></item></channel></rss>"#;
        // Whatever the parser makes of it, it is bounded and never expands.
        if let Ok(document) = parse(StatusFormat::Feed, bomb.as_bytes(), "", &Limits::default()) {
            assert!(document
                .incidents
                .iter()
                .all(|i| !i.title.contains("lollol")));
        }
        let error = parse(
            StatusFormat::Feed,
            b"{\"not\": \"xml\"}",
            "",
            &Limits::default(),
        )
        .unwrap_err();
        assert!(
            error.to_string().starts_with("not an Atom or RSS feed"),
            "{error}"
        );
    }
}
