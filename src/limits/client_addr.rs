//! Which address a request really comes from, and the key its per-address budget is kept under.
//!
//! The TCP peer is the client, unless the peer is one of the configured trusted proxies (a load
//! balancer, an ingress). Then the client is found in `X-Forwarded-For`, which every proxy appends
//! the address it received the request from to: walking from the right, the first entry that is
//! not itself a trusted proxy is the client. Everything left of it was written by the client (or
//! by proxies we know nothing of) and can be forged, so it is never looked at. A malformed entry on
//! the way means the chain cannot be trusted: the peer is used.
//!
//! Non-goals: the RFC 7239 `Forwarded` header (no proxy in front of us sends only that).

use actix_web::HttpRequest;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// The proxies whose `X-Forwarded-For` is believed: IP addresses and CIDR networks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Whether `ip` is one of them.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether none are configured (then `X-Forwarded-For` is never read).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A trusted-proxy list that did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid trusted proxy {0:?}: expected an IP address or a CIDR such as 10.0.0.0/8")]
pub struct TrustedProxiesError(String);

impl FromStr for TrustedProxies {
    type Err = TrustedProxiesError;

    /// A comma list of IPs and CIDRs; empty means none.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| TrustedProxiesError(entry.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }
}

impl std::fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&list.join(","))
    }
}

/// The client address of `req` (see the module docs). A request without a peer address (never
/// the case over TCP) counts as `0.0.0.0`.
pub fn client_addr(req: &HttpRequest, trusted: &TrustedProxies) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
    if !trusted.contains(peer) {
        // Not even looked at: anyone can send the header.
        return peer.to_canonical();
    }
    let mut values = Vec::new();
    for value in req.headers().get_all("x-forwarded-for") {
        match value.to_str() {
            Ok(value) => values.push(value),
            // Not even ASCII: the chain cannot be read.
            Err(_) => return peer.to_canonical(),
        }
    }
    resolve(peer, &values, trusted)
}

/// [`client_addr`] on its parts: the peer and the `X-Forwarded-For` header values in the order
/// they came (several headers are one list, joined in order).
pub fn resolve(peer: IpAddr, forwarded_for: &[&str], trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for
        .iter()
        .flat_map(|value| value.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return peer;
        };
        client = ip;
        if !trusted.contains(ip) {
            return ip;
        }
    }
    // Every hop is a trusted proxy: the request started at the left-most one.
    client
}

/// One `X-Forwarded-For` entry: an IP, or an IP with a port as some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|addr| addr.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The key a client's per-address budget is kept under: an IPv4 address as it is, an IPv6
/// address by its /64 network. One IPv6 host usually holds a whole /64 (SLAAC, privacy
/// addresses) and could otherwise take a fresh budget with every request.
pub fn budget_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !(u128::from(u64::MAX));
            IpAddr::V6(Ipv6Addr::from(network))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::BROADCAST))
    }

    fn proxies(list: &str) -> TrustedProxies {
        list.parse().unwrap_or_default()
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_forwarded_address_behind_trusted_proxies() {
        let lb = proxies("10.0.0.0/8, 192.168.1.1");
        let none = TrustedProxies::default();
        let cases: [(&str, &TrustedProxies, &str, &[&str], &str); 16] = [
            (
                "no proxies configured",
                &none,
                "203.0.113.9",
                &[],
                "203.0.113.9",
            ),
            (
                "no proxies configured: the header is ignored",
                &none,
                "203.0.113.9",
                &["198.51.100.1"],
                "203.0.113.9",
            ),
            (
                "a trusted peer without the header",
                &lb,
                "10.0.0.5",
                &[],
                "10.0.0.5",
            ),
            (
                "an untrusted peer's header is ignored",
                &lb,
                "203.0.113.9",
                &["198.51.100.1"],
                "203.0.113.9",
            ),
            (
                "one trusted proxy",
                &lb,
                "10.0.0.5",
                &["198.51.100.1"],
                "198.51.100.1",
            ),
            (
                "a chain through two trusted proxies",
                &lb,
                "10.0.0.5",
                &["198.51.100.1, 192.168.1.1"],
                "198.51.100.1",
            ),
            (
                "what the client wrote left of its own address is not believed",
                &lb,
                "10.0.0.5",
                &["1.1.1.1, 2.2.2.2, 198.51.100.1, 10.9.9.9"],
                "198.51.100.1",
            ),
            (
                "several headers are one list, in order",
                &lb,
                "10.0.0.5",
                &["1.1.1.1", "198.51.100.1", "10.9.9.9"],
                "198.51.100.1",
            ),
            ("garbage", &lb, "10.0.0.5", &["not an address"], "10.0.0.5"),
            (
                "garbage on the way to the client",
                &lb,
                "10.0.0.5",
                &["198.51.100.1, unknown, 10.1.1.1"],
                "10.0.0.5",
            ),
            (
                "garbage left of the client is never read",
                &lb,
                "10.0.0.5",
                &["<script>, 198.51.100.1"],
                "198.51.100.1",
            ),
            (
                "an empty entry",
                &lb,
                "10.0.0.5",
                &["198.51.100.1,"],
                "10.0.0.5",
            ),
            (
                "an address with a port",
                &lb,
                "10.0.0.5",
                &["198.51.100.1:5123"],
                "198.51.100.1",
            ),
            (
                "IPv6, bracketed with a port",
                &lb,
                "10.0.0.5",
                &["[2001:db8::1]:443"],
                "2001:db8::1",
            ),
            (
                "every hop trusted: the left-most",
                &lb,
                "10.0.0.5",
                &["10.1.1.1, 192.168.1.1"],
                "10.1.1.1",
            ),
            (
                "an IPv4-mapped peer is its IPv4 address",
                &lb,
                "::ffff:10.0.0.5",
                &["198.51.100.1"],
                "198.51.100.1",
            ),
        ];
        for (case, trusted, peer, forwarded_for, client) in cases {
            assert_eq!(
                resolve(ip(peer), forwarded_for, trusted),
                ip(client),
                "{case}"
            );
        }
    }

    #[test]
    fn trusted_proxies_are_ips_and_cidrs_in_a_comma_list() {
        let list = proxies(" 10.0.0.0/8,127.0.0.1 , 2001:db8::/32,10.1.2.3/8");
        assert_eq!(
            list.to_string(),
            "10.0.0.0/8,127.0.0.1/32,2001:db8::/32,10.0.0.0/8"
        );
        for (addr, trusted) in [
            ("10.255.0.1", true),
            ("127.0.0.1", true),
            ("127.0.0.2", false),
            ("::ffff:127.0.0.1", true),
            ("2001:db8:1::1", true),
            ("2001:db9::1", false),
        ] {
            assert_eq!(list.contains(ip(addr)), trusted, "{addr}");
        }
        assert_eq!("".parse::<TrustedProxies>(), Ok(TrustedProxies::default()));
        assert_eq!(
            " , ".parse::<TrustedProxies>(),
            Ok(TrustedProxies::default())
        );
        for bad in ["10.0.0.300", "10.0.0.0/33", "localhost", "10.0.0.1,nope"] {
            assert!(bad.parse::<TrustedProxies>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_ipv6_client_is_budgeted_by_its_64_network() {
        for (addr, key) in [
            ("203.0.113.9", "203.0.113.9"),
            ("::ffff:203.0.113.9", "203.0.113.9"),
            ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::"),
            ("2001:db8:1:2::1", "2001:db8:1:2::"),
            ("::1", "::"),
        ] {
            assert_eq!(budget_key(ip(addr)), ip(key), "{addr}");
        }
    }
}
