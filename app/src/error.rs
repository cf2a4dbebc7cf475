//! The one error type at the web edge, and the response statuses that go
//! with it.
//!
//! Error policy: the store and the other crates return their own error
//! types, and a server function turns them into an [`AppError`] with `?`.
//! That conversion is where a failure is logged, once; callers only pass
//! the error on. Refusals a visitor can act on (4xx) carry a message for
//! them and set the response's status when they are made; anything else is
//! a generic [`AppError::Unavailable`], with the cause in the server's log
//! and never in the answer.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// What a server function answers when it has no data for the page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Nothing here: no such site, incident, provider or answer.
    #[error("{0}")]
    NotFound(String),
    /// A request that does not read.
    #[error("{0}")]
    BadInput(String),
    /// Too many requests from this client (or administrator) just now.
    #[error("{0}")]
    RateLimited(String),
    /// Not signed in as an administrator.
    #[error("{0}")]
    Unauthorised(String),
    /// Refused whoever asks, such as a change posted from another site.
    #[error("{0}")]
    Forbidden(String),
    /// Anything else; the cause is in the server's log.
    #[error("this page is unavailable right now")]
    Unavailable,
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    /// The server function machinery's own failures: arguments that do
    /// not read are the caller's, everything else (a network failure in
    /// the browser, an answer that does not decode) is unavailability.
    #[cfg_attr(
        not(feature = "ssr"),
        expect(unused_variables, reason = "the browser keeps no log")
    )]
    fn from_server_fn_error(error: ServerFnErrorErr) -> Self {
        match error {
            ServerFnErrorErr::Args(reason) | ServerFnErrorErr::MissingArg(reason) => {
                Self::bad_input(format!("the request does not read: {reason}"))
            }
            other => {
                #[cfg(feature = "ssr")]
                tracing::error!(error = %other, "server function failed");
                Self::Unavailable
            }
        }
    }
}

/// A storage failure: logged here, generic to the visitor.
#[cfg(feature = "ssr")]
impl From<store::StoreError> for AppError {
    fn from(error: store::StoreError) -> Self {
        tracing::error!(%error, "page query failed");
        Self::Unavailable
    }
}

impl AppError {
    /// Nothing here; the response becomes a 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into()).with_status()
    }

    /// The response becomes a 400.
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::BadInput(message.into()).with_status()
    }

    /// The response becomes a 429.
    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self::RateLimited(message.into()).with_status()
    }

    /// The response becomes a 401.
    pub fn unauthorised(message: impl Into<String>) -> Self {
        Self::Unauthorised(message.into()).with_status()
    }

    /// The response becomes a 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into()).with_status()
    }

    /// The HTTP status this error answers with.
    #[cfg(feature = "ssr")]
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadInput(_) => StatusCode::BAD_REQUEST,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unauthorised(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Unavailable => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Sets the response's status to this error's: whatever a server
    /// function fails with, it answers 500 otherwise. A page rendered on
    /// the server takes the status of the data it could not find.
    fn with_status(self) -> Self {
        #[cfg(feature = "ssr")]
        set_status(self.status());
        self
    }
}

/// Marks the response 404, for a page that finds nothing to show. Nothing
/// happens in the browser, where there is no response.
pub fn not_found_status() {
    #[cfg(feature = "ssr")]
    set_status(http::StatusCode::NOT_FOUND);
}

/// Sets the status of the response being made, when there is one.
#[cfg(feature = "ssr")]
pub(crate) fn set_status(status: http::StatusCode) {
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_survive_the_trip_to_the_page() {
        for error in [
            AppError::NotFound("No such incident.".to_owned()),
            AppError::RateLimited("Too many changes in a minute; wait a little.".to_owned()),
            AppError::Unavailable,
        ] {
            assert_eq!(AppError::de(error.ser()), error);
        }
    }

    #[test]
    fn refusals_say_why_and_failures_say_nothing_more() {
        assert_eq!(
            AppError::Forbidden("Changes are only accepted from Faultline's own pages.".into())
                .to_string(),
            "Changes are only accepted from Faultline's own pages."
        );
        assert_eq!(
            AppError::from_server_fn_error(ServerFnErrorErr::ServerError(
                "database is locked".into()
            ))
            .to_string(),
            "this page is unavailable right now"
        );
        assert!(matches!(
            AppError::from_server_fn_error(ServerFnErrorErr::MissingArg("id".into())),
            AppError::BadInput(_)
        ));
    }
}
