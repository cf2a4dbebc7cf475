//! One module per page.

mod admin;
mod check;
mod explain;
mod home;
mod incident;
mod incidents;
mod not_found;
mod official;
mod parts;
mod provider;
mod site;

pub use admin::{AdminAlerts, AdminHome, AdminIncidentNotes, AdminSites, AdminTokens, SignIn};
pub use check::Check;
pub use explain::{Explain, Explanation};
pub use home::Home;
pub use incident::Incident;
pub use incidents::Incidents;
pub use not_found::NotFound;
pub use official::Official;
pub use provider::Provider;
pub use site::Site;
