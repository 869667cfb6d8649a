//! Limits per client address: which address a request comes from (the
//! peer's, or behind a trusted reverse proxy the one it forwarded), how many
//! WebSockets each address holds open, and how fast each creates sessions.
//!
//! An IPv6 address counts by its /64, which one host commonly holds whole;
//! an IPv4-mapped IPv6 address counts as the IPv4 address.

use crate::config::Limits;
use crate::limits::KeyedBuckets;
use axum::http::HeaderMap;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The address a request is judged by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClientIp {
    pub(crate) ip: IpAddr,
    /// Whether `per_ip_exempt` may spare it: not when `ip` is a trusted
    /// proxy standing in for a client whose address was garbled or missing,
    /// or every client behind a proxy on an exempt address (loopback, say)
    /// would have no limit at all.
    exemptible: bool,
}

/// The address a request is judged by: the peer's; or, from a trusted
/// proxy, the rightmost address in `X-Forwarded-For` (each proxy appends the
/// address it was reached from) that is not itself a trusted proxy. A hop
/// may carry a port (`1.2.3.4:5678`, `[::1]:443`). When the header is
/// missing or a hop does not parse, the walk stops at the last trusted
/// proxy, which then counts for the client without any exemption.
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> ClientIp {
    let mut client = canonical(peer);
    if !within(client, trusted) {
        return ClientIp {
            ip: client,
            exemptible: true,
        };
    }
    // Several headers read as one list, in order; each hop decoded on its
    // own, so a client's garbage on the left cannot hide the hops a proxy
    // appended on the right.
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .rev()
        .flat_map(|value| value.as_bytes().rsplit(|b| *b == b','));
    for hop in forwarded {
        let Some(ip) = parse_hop(hop) else {
            break;
        };
        client = canonical(ip);
        if !within(client, trusted) {
            return ClientIp {
                ip: client,
                exemptible: true,
            };
        }
    }
    ClientIp {
        ip: client,
        exemptible: false,
    }
}

/// One `X-Forwarded-For` hop: an address, with or without a port.
fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let hop = std::str::from_utf8(hop).ok()?.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

fn within(ip: IpAddr, nets: &[IpNet]) -> bool {
    nets.iter().any(|net| net.contains(&ip))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// What the limits count an address as: an IPv6 address by its /64.
pub(crate) fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        IpAddr::V4(_) => ip,
    }
}

/// Open WebSockets and session creation, per address.
#[derive(Debug)]
pub(crate) struct PerIp {
    max_connections: usize,
    exempt: Vec<IpNet>,
    open: Mutex<HashMap<IpAddr, usize>>,
    sessions: Mutex<KeyedBuckets<IpAddr>>,
    /// One session's worth of refill: what `Retry-After` says.
    session_refill: Duration,
}

/// One open WebSocket counted against its address; dropping it uncounts it.
#[derive(Debug)]
pub(crate) struct IpPermit {
    per_ip: Arc<PerIp>,
    /// `None` for an exempt address.
    key: Option<IpAddr>,
}

impl PerIp {
    pub(crate) fn new(limits: &Limits) -> Arc<PerIp> {
        Arc::new(PerIp {
            max_connections: limits.max_connections_per_ip,
            exempt: limits.per_ip_exempt.clone(),
            open: Mutex::new(HashMap::new()),
            sessions: Mutex::new(KeyedBuckets::new(
                limits.sessions_per_ip_per_s,
                limits.sessions_per_ip_burst,
            )),
            session_refill: Duration::from_secs_f32(1.0 / limits.sessions_per_ip_per_s),
        })
    }

    fn open(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn exempt(&self, client: ClientIp) -> bool {
        client.exemptible && within(client.ip, &self.exempt)
    }

    /// Counts a new WebSocket from `client`, or `None` when its address
    /// holds `max_connections_per_ip` already.
    pub(crate) fn connect(self: &Arc<Self>, client: ClientIp) -> Option<IpPermit> {
        let key = (!self.exempt(client)).then(|| key(client.ip));
        if let Some(key) = key {
            let mut open = self.open();
            let count = open.entry(key).or_insert(0);
            if *count >= self.max_connections {
                return None;
            }
            *count += 1;
        }
        Some(IpPermit {
            per_ip: Arc::clone(self),
            key,
        })
    }

    /// Takes one session creation from `client`'s allowance; `Err` with
    /// the time one session's worth takes to refill (at most the wait for
    /// the next) when there is none.
    pub(crate) fn create_session(&self, client: ClientIp, now: Instant) -> Result<(), Duration> {
        if self.exempt(client) {
            return Ok(());
        }
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.try_take(key(client.ip), now) {
            Ok(())
        } else {
            Err(self.session_refill)
        }
    }

    /// Addresses with a WebSocket open.
    #[cfg(test)]
    fn addresses(&self) -> usize {
        self.open().len()
    }
}

impl Drop for IpPermit {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut open = self.per_ip.open();
        if let Some(count) = open.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("a range")).collect()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().expect("a header value"));
        }
        headers
    }

    fn client(text: &str) -> ClientIp {
        ClientIp {
            ip: ip(text),
            exemptible: true,
        }
    }

    fn stand_in(text: &str) -> ClientIp {
        ClientIp {
            ip: ip(text),
            exemptible: false,
        }
    }

    #[test]
    fn the_forwarded_address_counts_only_from_a_trusted_proxy() {
        let headers = forwarded(&["203.0.113.7"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &headers, &[]), client("10.0.0.2"));
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers, &trusted),
            client("203.0.113.7")
        );
        assert_eq!(
            client_ip(ip("192.0.2.1"), &headers, &trusted),
            client("192.0.2.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client_whatever_it_claimed_before() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        let proxy = ip("127.0.0.1");
        // The client wrote "1.2.3.4" itself; the proxies appended the rest.
        let headers = forwarded(&["1.2.3.4, 198.51.100.9", "10.0.0.5"]);
        assert_eq!(client_ip(proxy, &headers, &trusted), client("198.51.100.9"));
        // Garbage the client wrote, even bytes that are not text, does not
        // hide what the proxy appended; ports and brackets are fine.
        let mut headers = HeaderMap::new();
        let value = axum::http::HeaderValue::from_bytes(b"\xff\xfe junk, 198.51.100.9:4321")
            .expect("a header value");
        headers.append("x-forwarded-for", value);
        assert_eq!(client_ip(proxy, &headers, &trusted), client("198.51.100.9"));
        let headers = forwarded(&["[2001:db8::1]:443"]);
        assert_eq!(client_ip(proxy, &headers, &trusted), client("2001:db8::1"));
        // Every hop trusted: the leftmost, never exempt.
        let headers = forwarded(&["10.1.1.1, 10.0.0.5"]);
        assert_eq!(client_ip(proxy, &headers, &trusted), stand_in("10.1.1.1"));
        // A garbled hop stops the walk at the last good one, never exempt.
        let headers = forwarded(&["198.51.100.9, unknown, 10.0.0.5"]);
        assert_eq!(client_ip(proxy, &headers, &trusted), stand_in("10.0.0.5"));
        // No header: the proxy itself, never exempt.
        assert_eq!(
            client_ip(proxy, &HeaderMap::new(), &trusted),
            stand_in("127.0.0.1")
        );
    }

    #[test]
    fn an_ipv4_mapped_address_is_the_ipv4_address() {
        assert_eq!(
            client_ip(ip("::ffff:192.0.2.1"), &HeaderMap::new(), &[]),
            client("192.0.2.1")
        );
    }

    #[test]
    fn a_stand_in_for_a_client_behind_a_loopback_proxy_is_not_exempt() {
        let per_ip = PerIp::new(&limits(1));
        let _first = per_ip.connect(stand_in("127.0.0.1")).expect("first");
        assert!(per_ip.connect(stand_in("127.0.0.1")).is_none());
        assert!(
            per_ip.connect(client("127.0.0.1")).is_some(),
            "loopback itself is exempt"
        );
    }

    fn limits(max: usize) -> Limits {
        Limits {
            max_connections_per_ip: max,
            sessions_per_ip_burst: 2.0,
            sessions_per_ip_per_s: 0.5,
            per_ip_exempt: nets(&["127.0.0.0/8"]),
            ..Limits::default()
        }
    }

    #[test]
    fn an_address_holds_at_most_its_cap_and_a_closed_connection_frees_a_place() {
        let per_ip = PerIp::new(&limits(2));
        let a = per_ip.connect(client("192.0.2.1")).expect("first");
        let _b = per_ip.connect(client("192.0.2.1")).expect("second");
        assert!(
            per_ip.connect(client("192.0.2.1")).is_none(),
            "third refused"
        );
        let _other = per_ip
            .connect(client("192.0.2.2"))
            .expect("another address");
        drop(a);
        let _c = per_ip.connect(client("192.0.2.1")).expect("a place freed");
    }

    #[test]
    fn an_ipv6_64_counts_as_one_address_and_is_forgotten_when_closed() {
        let per_ip = PerIp::new(&limits(1));
        let a = per_ip.connect(client("2001:db8:1:2::1")).expect("first");
        assert!(
            per_ip.connect(client("2001:db8:1:2:ffff::9")).is_none(),
            "same /64"
        );
        let b = per_ip
            .connect(client("2001:db8:1:3::1"))
            .expect("another /64");
        assert_eq!(per_ip.addresses(), 2);
        drop((a, b));
        assert_eq!(per_ip.addresses(), 0);
    }

    #[test]
    fn exempt_addresses_are_not_counted() {
        let per_ip = PerIp::new(&limits(1));
        let permits: Vec<_> = (0..5)
            .map(|_| per_ip.connect(client("127.0.0.1")))
            .collect();
        assert!(permits.iter().all(Option::is_some));
        assert_eq!(per_ip.addresses(), 0);
        let now = Instant::now();
        assert!((0..10).all(|_| per_ip.create_session(client("127.0.0.1"), now).is_ok()));
    }

    #[test]
    fn sessions_come_in_a_burst_then_at_the_rate() {
        let per_ip = PerIp::new(&limits(1));
        let (one, now) = (client("192.0.2.1"), Instant::now());
        assert!(per_ip.create_session(one, now).is_ok());
        assert!(per_ip.create_session(one, now).is_ok());
        assert_eq!(per_ip.create_session(one, now), Err(Duration::from_secs(2)));
        assert!(
            per_ip.create_session(client("192.0.2.2"), now).is_ok(),
            "another address"
        );
        let later = now + Duration::from_secs(2);
        assert!(per_ip.create_session(one, later).is_ok());
    }
}
