//! Pure detection engine: the provider knowledge base and the error-page
//! classifier. No I/O except [`KnowledgeBase::load_dir`], which reads an
//! operator's override directory when asked to; classification itself only
//! looks at the [`Observation`] it is given, so the live prober, the
//! simulator and the `classify` command all get the same answers.
#![forbid(unsafe_code)]

pub mod attribution;
pub mod classify;
mod explain;
pub mod fault;
pub mod iprange;
pub mod knowledge;
pub mod observation;
pub mod page;
pub mod provider;

pub use attribution::{attribute, Attribution, Involvement};
pub use classify::{classify, Classification};
pub use fault::{Fault, FaultSide};
pub use iprange::IpRangeSet;
pub use knowledge::{KnowledgeBase, Limits, LoadError};
pub use observation::{DnsFacts, Observation};
pub use provider::{ProviderId, Role};
