//! Who is asking: the client address the per-client limits key on.
//!
//! The server puts the real client's address in the request (a trusted
//! proxy's `X-Forwarded-For` is read before the app sees the request, see
//! `server::http`). An IPv6 client is keyed by its /64, the block one
//! subscriber usually holds, so rotating through its own addresses gains
//! nothing. Requests whose address is unknown share one budget.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The key a limit counts `client` under.
pub fn rate_key(client: Option<IpAddr>) -> IpAddr {
    match client {
        Some(IpAddr::V6(v6)) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        Some(v4) => v4,
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

/// The address of the client behind the current request, when known.
#[cfg(feature = "ssr")]
pub async fn address() -> Option<IpAddr> {
    leptos_axum::extract::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .await
        .map(|info| info.0.ip())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::rate_key;

    #[test]
    fn an_ipv6_client_counts_as_its_64_block() {
        let key = |ip: &str| rate_key(Some(ip.parse().unwrap_or(std::net::IpAddr::from([0; 4]))));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(
            key("203.0.113.7"),
            "203.0.113.7"
                .parse::<std::net::IpAddr>()
                .unwrap_or(std::net::IpAddr::from([0; 4]))
        );
        assert_eq!(rate_key(None), std::net::IpAddr::from([0, 0, 0, 0]));
    }
}
