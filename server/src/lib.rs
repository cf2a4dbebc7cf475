//! The Faultline server: configuration, telemetry, HTTP wiring and the
//! background work (probing, correlation, alert delivery) around the pure
//! `engine` and the `store`.

pub mod agents;
pub mod alerts;
pub mod api;
pub mod cache;
pub mod card;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod export;
pub mod guarded;
pub mod http;
pub mod knowledge;
pub mod markup;
pub mod metrics;
pub mod monitor;
pub mod ondemand;
pub mod pages;
pub mod ranges;
pub mod shutdown;
pub mod sim;
pub mod startup;
pub mod statuses;
pub mod telemetry;
pub mod tidy;
pub mod watchlist;
pub mod widget;
