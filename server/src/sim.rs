//! The synthetic internet: loopback servers that stand in for DNS providers,
//! CDN edges and origins, for tests, the simulator and the demo.

pub mod dns;
