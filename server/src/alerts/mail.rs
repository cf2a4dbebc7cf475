//! Email alerts over SMTP: the confirmation that opts an address in, and
//! the alerts themselves, each with a plain-text and an HTML part, a
//! `List-Id`, and a one-click unsubscribe (RFC 8058: `List-Unsubscribe` with
//! `List-Unsubscribe-Post`).

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::payload::Alert;
use crate::markup::escape;

/// What a mail needs besides its text: where its links point.
pub struct Links {
    /// Manage the subscription (event types, scopes, mute windows, delete).
    pub manage: String,
    /// The one-click unsubscribe URL (POST), also a page (GET).
    pub unsubscribe: String,
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `List-Id`'s identifier: `alerts.<host of the public URL>`.
    list: String,
}

/// What an SMTP attempt found: the server's reply code, and an error
/// unless it accepted the mail.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    pub code: Option<u16>,
    pub error: Option<String>,
}

impl Mailer {
    /// A mailer for `smtp_url` (`smtp://host:port` for a relay on a trusted
    /// network, `smtps://user:password@host:465` with TLS), sending as
    /// `from`, for a server reached at `base`.
    pub fn new(smtp_url: &str, from: &str, base: &str) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|error| format!("alerts.smtp_url: {error}"))?
            .timeout(Some(std::time::Duration::from_secs(30)))
            .build();
        let from: Mailbox = from
            .parse()
            .map_err(|error| format!("alerts.from: {from:?} is not an address: {error}"))?;
        let host = url::Url::parse(base)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_else(|| "localhost".to_owned());
        Ok(Self {
            transport,
            from,
            list: format!("alerts.{host}"),
        })
    }

    /// The mail that asks an address to confirm its subscription. Nothing
    /// else is ever sent to an address before it does.
    pub fn confirmation(&self, to: &str, confirm: &str, follows: &str) -> Result<Message, String> {
        let text = format!(
            "Someone, hopefully you, asked Faultline to send alerts about {follows} to this address.\n\n\
             To start receiving them, confirm within 48 hours:\n{confirm}\n\n\
             If it was not you, ignore this mail: nothing will be sent to you."
        );
        let html = format!(
            "<p>Someone, hopefully you, asked Faultline to send alerts about {} to this address.</p>\
             <p><a href=\"{}\">Confirm and start receiving alerts</a> (the link works for 48 hours).</p>\
             <p>If it was not you, ignore this mail: nothing will be sent to you.</p>",
            escape(follows),
            escape(confirm)
        );
        self.message(to, "Confirm your Faultline alerts", text, html, None)
    }

    /// Tells the owner of a webhook that it was stopped, why, and where to
    /// start it again.
    pub fn webhook_stopped(
        &self,
        to: &str,
        webhook: &str,
        why: &str,
        manage: &str,
    ) -> Result<Message, String> {
        let text = format!(
            "Faultline stopped sending alerts to your webhook {webhook}: {why}.\n\n\
             Once it answers again, start it from your alerts page:\n{manage}"
        );
        let html = format!(
            "<p>Faultline stopped sending alerts to your webhook <code>{}</code>: {}.</p>\
             <p>Once it answers again, start it from <a href=\"{}\">your alerts page</a>.</p>",
            escape(webhook),
            escape(why),
            escape(manage)
        );
        self.message(to, "Your Faultline webhook was stopped", text, html, None)
    }

    /// An alert, for a confirmed address.
    /// Its headers name the alert for mail filters: `X-Faultline-Id` (the
    /// same on a redelivery, as a webhook's `webhook-id`),
    /// `X-Faultline-Event` and, for an incident, `X-Faultline-Incident`.
    pub fn alert(
        &self,
        to: &str,
        id: &str,
        alert: &Alert,
        links: &Links,
    ) -> Result<Message, String> {
        let data = &alert.data;
        let mut lines = vec![data.headline.clone(), String::new()];
        if let Some(note) = &data.note {
            lines.push(note.clone());
            lines.push(String::new());
        }
        let figures = figure_lines(alert);
        lines.extend(figures.iter().cloned());
        if !data.evidence.is_empty() {
            lines.push(String::new());
            lines.push("Evidence:".to_owned());
            lines.extend(data.evidence.iter().map(|e| format!("- {e}")));
        }
        let permalink = data
            .incident
            .as_ref()
            .map(|i| i.permalink.clone())
            .or_else(|| data.site.as_ref().map(|s| s.permalink.clone()));
        if let Some(link) = &permalink {
            lines.push(String::new());
            lines.push(format!("Details: {link}"));
        }
        lines.push(String::new());
        lines.push("--".to_owned());
        lines.push(format!("Manage these alerts: {}", links.manage));
        lines.push(format!("Unsubscribe: {}", links.unsubscribe));
        let text = lines.join("\n");

        let mut html = format!("<p><strong>{}</strong></p>", escape(&data.headline));
        if let Some(note) = &data.note {
            html.push_str(&format!("<p>{}</p>", escape(note)));
        }
        if !figures.is_empty() {
            html.push_str("<ul>");
            for line in &figures {
                html.push_str(&format!("<li>{}</li>", escape(line)));
            }
            html.push_str("</ul>");
        }
        if !data.evidence.is_empty() {
            html.push_str("<p>Evidence:</p><ul>");
            for line in &data.evidence {
                html.push_str(&format!("<li>{}</li>", escape(line)));
            }
            html.push_str("</ul>");
        }
        if let Some(link) = &permalink {
            html.push_str(&format!(
                "<p><a href=\"{}\">Details on Faultline</a></p>",
                escape(link)
            ));
        }
        html.push_str(&format!(
            "<p style=\"color:#555\"><a href=\"{}\">Manage these alerts</a> · <a href=\"{}\">Unsubscribe</a></p>",
            escape(&links.manage),
            escape(&links.unsubscribe)
        ));
        let mut message = self.message(to, &data.headline, text, html, Some(links))?;
        let headers = message.headers_mut();
        let mut put = |name: &'static str, value: String| {
            headers.insert_raw(HeaderValue::new(
                HeaderName::new_from_ascii_str(name),
                value,
            ));
        };
        put("X-Faultline-Id", id.to_owned());
        put("X-Faultline-Event", alert.event.as_str().to_owned());
        if let Some(incident) = &data.incident {
            put("X-Faultline-Incident", incident.id.to_string());
        }
        Ok(message)
    }

    fn message(
        &self,
        to: &str,
        subject: &str,
        text: String,
        html: String,
        links: Option<&Links>,
    ) -> Result<Message, String> {
        let to: Mailbox = to
            .parse()
            .map_err(|error| format!("{to:?} is not an address: {error}"))?;
        let subject: String = subject
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        let mut message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|error| format!("cannot build the mail: {error}"))?;
        let headers = message.headers_mut();
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Id"),
            format!("Faultline alerts <{}>", self.list),
        ));
        if let Some(links) = links {
            headers.insert_raw(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{}>", links.unsubscribe),
            ));
            headers.insert_raw(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ));
        }
        // Bulk mail: auto-responders should stay quiet.
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_owned(),
        ));
        Ok(message)
    }

    /// Sends one mail; every failure is in the answer.
    pub async fn send(&self, message: Message) -> Sent {
        match self.transport.send(message).await {
            Ok(response) => Sent {
                code: Some(smtp_code(&response.code())),
                error: None,
            },
            Err(error) => Sent {
                code: error.status().map(|code| smtp_code(&code)),
                error: Some(error.to_string().chars().take(300).collect()),
            },
        }
    }
}

fn smtp_code(code: &lettre::transport::smtp::response::Code) -> u16 {
    code.to_string().parse().unwrap_or_default()
}

/// The figures of an alert, one line each.
fn figure_lines(alert: &Alert) -> Vec<String> {
    let figures = &alert.data.figures;
    let mut lines = Vec::new();
    if let (Some(failing), Some(of)) = (figures.failing, figures.of) {
        lines.push(format!(
            "Failing now: {}",
            engine::Tally::new(failing, of).short()
        ));
    }
    if let Some(peak) = figures.peak_share {
        lines.push(format!("Peak: {:.0} %", peak * 100.0));
    }
    if let Some(affected) = figures.affected_sites {
        lines.push(format!("Sites affected so far: {affected}"));
    }
    let time = |at: chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%d %H:%M UTC").to_string();
    if let Some(at) = figures.onset_at {
        lines.push(format!("Failures began: {}", time(at)));
    }
    if let Some(at) = figures.resolved_at {
        lines.push(format!("Resolved: {}", time(at)));
    }
    if let Some(confidence) = figures.confidence {
        lines.push(format!("Confidence: {:.0} %", confidence * 100.0));
    }
    lines
}
