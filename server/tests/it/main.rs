//! Integration tests: the real server on a random loopback port with a
//! temporary SQLite file, driven over HTTP and through headless Chromium.

mod browser;
mod health;
mod support;
