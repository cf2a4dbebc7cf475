//! An agent's line to its central: its assignment fetched, its batches
//! pushed, with its own token. The central's address is the operator's
//! choice, so it is not held to the probes' SSRF guard; redirects are
//! never followed (the token would go with them).

use std::time::Duration;

use super::wire::BatchAnswer;
use super::Assignment;

/// The longest a token file may be: a token is one short line.
const MAX_TOKEN_FILE: u64 = 4 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the central at {url} cannot be reached: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the central refused: {status} {detail}")]
    Refused {
        status: u16,
        detail: String,
        /// Seconds the central asked us to wait, if it said.
        retry_after: Option<u64>,
    },
    #[error("the central's answer is not what an agent expects: {0}")]
    Garbled(String),
}

impl LinkError {
    /// Whether sending the same thing later may succeed: the central away,
    /// busy, or (until an operator acts) not knowing our token. A batch
    /// refused for what it is (malformed, too large) never will be.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Garbled(_) => true,
            Self::Refused { status, .. } => *status == 401 || *status == 429 || *status >= 500,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("cannot read the token file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the token file {path} does not hold an agent token (one line, `flt_…`)")]
    NotAToken { path: String },
}

/// Reads an agent token from a file: one line, bounded, `flt_` and then
/// letters, digits, `-` and `_`.
pub fn read_token_file(path: &std::path::Path) -> Result<String, TokenFileError> {
    use std::io::Read as _;
    let shown = path.display().to_string();
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_TOKEN_FILE).read_to_string(&mut text))
        .map_err(|source| TokenFileError::Read {
            path: shown.clone(),
            source,
        })?;
    let token = text.trim();
    let plain = token.strip_prefix("flt_").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if plain {
        Ok(token.to_owned())
    } else {
        Err(TokenFileError::NotAToken { path: shown })
    }
}

/// The central, as an agent reaches it.
#[derive(Clone, Debug)]
pub struct Central {
    client: reqwest::Client,
    base: url::Url,
    token: String,
}

impl Central {
    pub fn new(base: url::Url, token: String) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("faultline-agent/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            base,
            token,
        })
    }

    fn url(&self, path: &str) -> String {
        let mut url = self.base.clone();
        let joined = format!("{}{path}", url.path().trim_end_matches('/'));
        url.set_path(&joined);
        url.to_string()
    }

    /// What this agent probes now.
    pub async fn assignment(&self) -> Result<Assignment, LinkError> {
        let url = self.url("/agent/v1/assignment");
        self.call(self.client.get(&url), url).await
    }

    /// Pushes one gzipped batch under its idempotency key.
    pub async fn push(&self, key: &str, gzipped: Vec<u8>) -> Result<BatchAnswer, LinkError> {
        let url = self.url("/agent/v1/results");
        let request = self
            .client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_ENCODING, "gzip")
            .header("idempotency-key", key)
            .body(gzipped);
        self.call(request, url).await
    }

    /// Sends `request` with this agent's token and reads the JSON answer
    /// of a success; anything else is the central's refusal.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        url: String,
    ) -> Result<T, LinkError> {
        let answer = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|source| LinkError::Unreachable { url, source })?;
        accepted(answer)
            .await?
            .json()
            .await
            .map_err(|error| LinkError::Garbled(error.to_string()))
    }
}

/// The answer if it is a success, else the central's refusal with its
/// problem's detail.
async fn accepted(answer: reqwest::Response) -> Result<reqwest::Response, LinkError> {
    let status = answer.status();
    if status.is_success() {
        return Ok(answer);
    }
    let retry_after = answer
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    let detail = answer
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|problem| problem["detail"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Err(LinkError::Refused {
        status: status.as_u16(),
        detail: detail.chars().take(300).collect(),
        retry_after,
    })
}
