//! The pure core of Faultline: every decision, none of the I/O.
//!
//! - [`alert`]: who hears about what (scopes, event types, mute windows,
//!   the folding of site alerts into the provider incident that explains
//!   them).
//! - [`vocab`]: the words of the domain (failure class, fault side, fault,
//!   provider role, incident kind, phase and pattern, vantage state), typed
//!   once with one spelling and one plain rendering each. Light enough for
//!   the browser: with default features off, this and [`provider`] are all
//!   that is built. [`figures`] (a tally, "54 of 60 (90 %)", and a
//!   timeline point) is as light.
//! - With the `detect` feature (on by default): the provider knowledge base
//!   ([`KnowledgeBase`], compiled from provider files given as text),
//!   attribution from headers, CNAMEs, NS and published IP ranges, the
//!   error-page classifier and its plain-words explanation; the correlator
//!   ([`correlate`]), the own-network guard ([`vantage`]) and the probe
//!   schedule ([`schedule`]).
//!
//! Nothing here reads a file, opens a socket, spawns a task or reads a
//! clock: facts and time come in as arguments, so the live server, the
//! simulator and the tests run the same logic. `scripts/test` checks that
//! no runtime crate or `std::fs` creeps in.
#![forbid(unsafe_code)]

pub mod alert;
pub mod assign;
pub mod figures;
pub mod provider;
pub mod vocab;

#[cfg(feature = "detect")]
pub mod attribution;
#[cfg(feature = "detect")]
pub mod classify;
#[cfg(feature = "detect")]
pub mod correlate;
#[cfg(feature = "detect")]
mod explain;
#[cfg(feature = "detect")]
pub mod iprange;
#[cfg(feature = "detect")]
pub mod knowledge;
#[cfg(feature = "detect")]
pub mod observation;
#[cfg(feature = "detect")]
pub mod page;
#[cfg(feature = "detect")]
pub mod schedule;
#[cfg(feature = "detect")]
pub mod vantage;

#[cfg(feature = "detect")]
pub use attribution::{attribute, Attribution, Involvement};
#[cfg(feature = "detect")]
pub use classify::{classify, Classification};
pub use figures::{Tally, TimelinePoint};
#[cfg(feature = "detect")]
pub use iprange::IpRangeSet;
#[cfg(feature = "detect")]
pub use knowledge::{KnowledgeBase, Limits, LoadError, SourceFile};
#[cfg(feature = "detect")]
pub use observation::{DnsFacts, Observation};
pub use provider::ProviderId;
pub use vocab::{
    AlertChannel, AlertEvent, AlertFormat, Cause, DeliveryState, FailureClass, Fault, FaultSide,
    IncidentKind, Mechanism, Pattern, Phase, Role, Scope, VantageState,
};
