//! Integration tests: the real server on a random loopback port with a
//! temporary SQLite file, driven over HTTP and through headless Chromium.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on unexpected errors"
)]

mod admin;
mod agents;
mod alerts;
mod alerts_browser;
mod api;
mod browser;
mod chat;
mod checkers;
mod cli;
mod cluster;
mod explain;
mod health;
mod manage;
mod metrics;
mod monitor;
mod ondemand;
mod pages;
mod probe;
mod simulate;
mod snapshot;
mod statuses;
mod support;
mod tls;
mod widgets;
mod world;
