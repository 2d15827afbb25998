//! The client's address for per-network limits: the TCP peer, or — only when that peer is one of
//! the configured `trusted_proxies` (a load balancer) — the nearest untrusted hop it names in
//! `X-Forwarded-For`. Off by default, so a client cannot choose its own address.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

use crate::web::state::SharedState;

/// Where the request came from, as far as the platform can trust (see the module doc).
pub(crate) fn client_ip(st: &SharedState, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    forwarded_client(&st.settings.trusted_proxies, peer.ip(), headers)
}

/// Counts a request from `client`'s network against `limit` (in the store, for every process):
/// `Some(seconds)` to wait when the limit is reached, and then nothing was counted.
pub(crate) async fn network_limited(
    st: &SharedState,
    limit: crate::domain::limits::Limit,
    client: IpAddr,
) -> Result<Option<i64>, crate::infra::store::StoreError> {
    let now = chrono::Utc::now().timestamp_millis();
    let network = crate::domain::limits::network_of(client);
    Ok(match st.store.count_event(limit, &network, now).await? {
        crate::infra::store::Counted::Allowed => None,
        crate::infra::store::Counted::Limited { retry_after_ms } => Some((retry_after_ms + 999) / 1000),
    })
}

/// [`client_ip`] over an explicit list of trusted proxies.
fn forwarded_client(trusted: &[IpAddr], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|t| canonical(*t) == canonical(*ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Each proxy appends the address it saw, so read from the right: the first hop that is not
    // one of ours is the client. Anything unreadable stops the walk at the last trusted hop.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// IPv4 mapped into IPv6 compares as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().expect("header"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        assert_eq!(forwarded_client(&[], ip("198.51.100.9"), &headers(&["203.0.113.5"])), ip("198.51.100.9"));
        let lb = [ip("10.0.0.2")];
        assert_eq!(
            forwarded_client(&lb, ip("198.51.100.9"), &headers(&["203.0.113.5"])),
            ip("198.51.100.9"),
            "a peer that is not a trusted proxy cannot name another address"
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_nearest_untrusted_hop_is_the_client() {
        let lbs = [ip("10.0.0.2"), ip("10.0.0.3")];
        // The client forged a first entry; the balancers appended what they saw.
        let h = headers(&["1.2.3.4, 203.0.113.5", "10.0.0.3"]);
        assert_eq!(forwarded_client(&lbs, ip("10.0.0.2"), &h), ip("203.0.113.5"));
        assert_eq!(forwarded_client(&lbs, ip("::ffff:10.0.0.2"), &headers(&["2001:db8::7"])), ip("2001:db8::7"));
        // No header or garbage: the proxy itself.
        assert_eq!(forwarded_client(&lbs, ip("10.0.0.2"), &HeaderMap::new()), ip("10.0.0.2"));
        assert_eq!(forwarded_client(&lbs, ip("10.0.0.2"), &headers(&["unknown"])), ip("10.0.0.2"));
    }
}
