//! Network probes: DNS, TCP connect, TLS, HTTP, with phase timings and an SSRF guard.
