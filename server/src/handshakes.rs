//! Handshakes in progress, bounded in all and per client address, so a
//! client that opens many and stalls them (TLS on the TCP listener, QUIC
//! and WebTransport's session request on the UDP endpoint) cannot take every
//! slot from the others. A slot is held by the task running the handshake
//! and given back when dropped.

use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Handshakes in progress at once on one listener; more are refused.
const MAX: usize = 1024;
/// Handshakes in progress at once from one address (an IPv6 /64), so one
/// address cannot hold every slot; `per_ip_exempt` addresses are not held
/// to it.
const MAX_PER_ADDRESS: u32 = 32;
/// Longest a handshake may take, from the client's first byte or packet.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress per address.
type Counts = Arc<Mutex<HashMap<IpAddr, u32>>>;

/// The handshakes in progress.
#[derive(Debug)]
pub(crate) struct Handshakes {
    all: Arc<Semaphore>,
    per_address: Counts,
    max_per_address: u32,
    /// Addresses without a per-address bound (`limits.per_ip_exempt`).
    exempt: Vec<IpNet>,
}

/// Why no slot was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Full {
    /// As many handshakes as the node runs at once are under way.
    All,
    /// As many from this address are.
    Address,
}

/// One handshake in progress; dropping it ends it.
#[derive(Debug)]
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    address: Option<(Counts, IpAddr)>,
}

impl Handshakes {
    /// A listener's bounds: [`MAX`] in all, [`MAX_PER_ADDRESS`] from one
    /// address outside `exempt`.
    pub(crate) fn for_listener(exempt: Vec<IpNet>) -> Self {
        Handshakes::new(MAX, MAX_PER_ADDRESS, exempt)
    }

    fn new(max: usize, max_per_address: u32, exempt: Vec<IpNet>) -> Self {
        Handshakes {
            all: Arc::new(Semaphore::new(max)),
            per_address: Arc::default(),
            max_per_address,
            exempt,
        }
    }

    /// A slot for a handshake from `peer`, if there is room.
    pub(crate) fn take(&self, peer: IpAddr) -> Result<Slot, Full> {
        let permit = Arc::clone(&self.all)
            .try_acquire_owned()
            .map_err(|_| Full::All)?;
        if self.exempt.iter().any(|net| net.contains(&peer)) {
            return Ok(Slot {
                _permit: permit,
                address: None,
            });
        }
        let key = crate::per_ip::key(peer);
        let mut map = self.per_address.lock().unwrap_or_else(|p| p.into_inner());
        let count = map.entry(key).or_insert(0);
        if *count >= self.max_per_address {
            return Err(Full::Address);
        }
        *count += 1;
        Ok(Slot {
            _permit: permit,
            address: Some((Arc::clone(&self.per_address), key)),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some((counts, address)) = &self.address else {
            return;
        };
        let mut map = counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = map.get_mut(address) {
            *count -= 1;
            if *count == 0 {
                map.remove(address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_in_all_and_per_address_and_given_back() {
        let loopback: IpNet = "127.0.0.0/8".parse().expect("a range");
        let handshakes = Handshakes::new(3, 2, vec![loopback]);
        let a: IpAddr = "192.0.2.1".parse().expect("an address");
        let b: IpAddr = "192.0.2.2".parse().expect("an address");
        let first = handshakes.take(a).expect("a slot");
        let _second = handshakes.take(a).expect("a slot");
        assert_eq!(handshakes.take(a).err(), Some(Full::Address));
        let _other = handshakes.take(b).expect("another address has room");
        assert_eq!(handshakes.take(b).err(), Some(Full::All));
        drop(first);
        let _again = handshakes.take(a).expect("a slot given back");
        // Exempt addresses are bounded only in all.
        drop(_again);
        assert!(
            handshakes
                .take("127.0.0.1".parse().expect("loopback"))
                .is_ok()
        );
    }
}
