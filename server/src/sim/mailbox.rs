//! A mail server on loopback for simulations: it speaks SMTP through
//! `mailin`'s state machine, takes every mail, and records each alert (named
//! by the headers alert mails carry) with the time on the virtual clock.
//! The recipient's local part is the subscription's name.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use mailin::{Action, Handler, Response, SessionBuilder};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use super::receiver::{once_each, Received};
use crate::clock::{Clock, SimClock};

/// Most mails kept; a simulation that sends more is broken anyway.
const MAX_KEPT: usize = 100_000;
/// Longest line read, and largest mail kept (alert mails are a few KiB).
const MAX_LINE: usize = 8 * 1024;
const MAX_MAIL: usize = 1024 * 1024;

/// Where the simulation's subscribers receive mail: `NAME@` this domain.
pub const DOMAIN: &str = "subscribers.faultline.test";

#[derive(Clone)]
pub struct MailReceiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    stop: CancellationToken,
}

impl MailReceiver {
    pub async fn start(clock: SimClock) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let stop = CancellationToken::new();
        let (kept, until) = (got.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = until.cancelled() => break,
                };
                let Ok((stream, peer)) = accepted else {
                    continue;
                };
                let keeper = Keeper {
                    got: kept.clone(),
                    clock: clock.clone(),
                    to: Vec::new(),
                    data: Vec::new(),
                };
                let until = until.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        served = converse(stream, peer.ip(), keeper) => {
                            if let Err(error) = served {
                                tracing::debug!(%error, "a simulated mail session ended early");
                            }
                        }
                        () = until.cancelled() => {}
                    }
                });
            }
        });
        Ok(Self { addr, got, stop })
    }

    /// The SMTP URL the dispatcher sends to.
    pub fn smtp_url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// The address a subscription named `name` receives at.
    pub fn address(name: &str) -> String {
        format!("{name}@{DOMAIN}")
    }

    /// What arrived, in order, each alert once.
    pub fn received(&self) -> Vec<Received> {
        once_each(&self.got.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }
}

/// One SMTP conversation, line by line through the state machine.
async fn converse(
    stream: tokio::net::TcpStream,
    peer: IpAddr,
    keeper: Keeper,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut session = SessionBuilder::new("faultline-simulation").build(peer, keeper);
    write.write_all(&session.greeting().buffer()?).await?;
    let mut lines = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut lines)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await?;
        if read == 0 {
            return Ok(());
        }
        let response = session.process(&line);
        match response.action {
            Action::Reply => write.write_all(&response.buffer()?).await?,
            Action::Close => {
                write.write_all(&response.buffer()?).await?;
                return Ok(());
            }
            // STARTTLS is not offered, so never asked for.
            Action::NoReply | Action::UpgradeTls => {}
        }
    }
}

/// Keeps each mail's envelope and text, and records it at its end.
struct Keeper {
    got: Arc<Mutex<Vec<Received>>>,
    clock: SimClock,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Keeper {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if self.data.len() + buf.len() <= MAX_MAIL {
            self.data.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let headers = headers(&self.data);
        let header = |name: &str| {
            headers
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_str())
        };
        // Confirmations and notices carry no alert headers: not alerts.
        if let (Some(id), Some(event)) = (header("X-Faultline-Id"), header("X-Faultline-Event")) {
            let at = self.clock.now();
            let mut got = self.got.lock().unwrap_or_else(PoisonError::into_inner);
            for to in &self.to {
                if got.len() >= MAX_KEPT {
                    break;
                }
                let name = to.split('@').next().unwrap_or_default();
                got.push(Received {
                    name: name.to_owned(),
                    id: id.to_owned(),
                    event: engine::AlertEvent::from(event),
                    incident: header("X-Faultline-Incident").and_then(|id| id.parse().ok()),
                    at,
                    channel: engine::AlertChannel::Email,
                });
            }
        }
        mailin::response::OK
    }
}

/// A mail's header fields, unfolded: everything before the first empty
/// line.
fn headers(mail: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(mail);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::headers;

    #[test]
    fn header_fields_are_unfolded_up_to_the_body() {
        let mail = b"Subject: Cloudflare (CDN) outage\r\n confirmed\r\nX-Faultline-Event: provider.confirmed\r\n\r\nX-Not-A-Header: body\r\n";
        assert_eq!(
            headers(mail),
            [
                (
                    "Subject".to_owned(),
                    "Cloudflare (CDN) outage confirmed".to_owned()
                ),
                (
                    "X-Faultline-Event".to_owned(),
                    "provider.confirmed".to_owned()
                ),
            ]
        );
    }
}
