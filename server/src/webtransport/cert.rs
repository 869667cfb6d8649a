//! The WebTransport endpoint's certificate: the operator's (PEM files), or a
//! self-signed ECDSA P-256 one, short-lived as browsers require for
//! `serverCertificateHashes` (at most 14 days, and not RSA), which the node
//! replaces before it expires.
//!
//! Rotation, in three steps so that no client holding a fresh offer is
//! refused: when the served certificate has `rotate_before` left, a new one
//! is made and *offered* beside it (`GET /api/webtransport` lists both
//! hashes); after `overlap` the endpoint *serves* the new one, and offers
//! only it. Connections opened on the old certificate keep going: QUIC does
//! not handshake again.

use std::time::{Duration, SystemTime};
use wtransport::Identity;
use wtransport::tls::Sha256Digest;
use wtransport::tls::self_signed::time::OffsetDateTime;

/// When a self-signed certificate is replaced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Rotation {
    /// How long each certificate is valid (at most 14 days).
    pub(crate) validity: Duration,
    /// A new certificate is offered when the served one has this left.
    pub(crate) rotate_before: Duration,
    /// How long both are offered before the new one is served.
    pub(crate) overlap: Duration,
}

/// A certificate and what clients pin it by.
pub(crate) struct Issued {
    pub(crate) identity: Identity,
    pub(crate) hash: Sha256Digest,
    pub(crate) not_after: SystemTime,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("hash", &self.hash.to_string())
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Clocks may disagree by this much: a certificate is valid from this long
/// before it was made.
const SKEW: Duration = Duration::from_secs(60);

/// A self-signed ECDSA P-256 certificate for `names`, valid from a minute
/// ago for `validity` (counted from now, so the whole span stays within
/// browsers' 14 days).
pub(crate) fn self_signed(names: &[String], validity: Duration) -> anyhow::Result<Issued> {
    let now = OffsetDateTime::now_utc();
    let not_before = now - SKEW;
    let not_after = now + validity - SKEW;
    let identity = Identity::self_signed_builder()
        .subject_alt_names(names)
        .not_before(not_before)
        .not_after(not_after)
        .build()?;
    issued(identity, SystemTime::now() + validity - SKEW)
}

/// An operator's certificate, from PEM files.
pub(crate) async fn from_files(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<Issued> {
    let identity = Identity::load_pemfiles(cert, key).await?;
    // Not rotated: its expiry is the operator's business.
    issued(identity, SystemTime::UNIX_EPOCH).map_err(|e| e.context(format!("{}", cert.display())))
}

/// A chain with no certificate in it (a file of something else) loads
/// without complaint, so it is refused here.
fn issued(identity: Identity, not_after: SystemTime) -> anyhow::Result<Issued> {
    let Some(leaf) = identity.certificate_chain().as_slice().first() else {
        anyhow::bail!("holds no certificate");
    };
    let hash = leaf.hash();
    Ok(Issued {
        identity,
        hash,
        not_after,
    })
}

/// The served certificate and the one offered to replace it.
#[derive(Debug)]
pub(crate) struct Certs {
    current: Issued,
    /// Offered beside `current` since the given time.
    next: Option<(Issued, SystemTime)>,
}

impl Certs {
    pub(crate) fn new(current: Issued) -> Self {
        Certs {
            current,
            next: None,
        }
    }

    /// The hashes to offer: the served certificate's, then the next one's.
    pub(crate) fn hashes(&self) -> Vec<Sha256Digest> {
        std::iter::once(self.current.hash.clone())
            .chain(self.next.as_ref().map(|(next, _)| next.hash.clone()))
            .collect()
    }

    /// Advances the rotation to `now`: makes the next certificate (with
    /// `issue`) when the served one nears its end, and returns it once it
    /// has been offered for the overlap: the endpoint serves it from then.
    pub(crate) fn step(
        &mut self,
        now: SystemTime,
        rotation: &Rotation,
        issue: impl FnOnce() -> anyhow::Result<Issued>,
    ) -> anyhow::Result<Option<&Issued>> {
        match &self.next {
            None if now + rotation.rotate_before >= self.current.not_after => {
                self.next = Some((issue()?, now));
                Ok(None)
            }
            Some((_, since)) if now >= *since + rotation.overlap => {
                let (next, _) = self.next.take().expect("matched Some");
                self.current = next;
                Ok(Some(&self.current))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn a_self_signed_certificate_is_p256_and_fits_in_fourteen_days() {
        let issued = self_signed(&["localhost".into()], 14 * DAY).expect("issued");
        let der = issued.identity.certificate_chain().as_slice()[0]
            .der()
            .to_vec();
        // id-ecPublicKey with the prime256v1 curve, in the certificate's
        // subject public key info.
        let p256 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        assert!(der.windows(p256.len()).any(|w| w == p256));
        let left = issued
            .not_after
            .duration_since(SystemTime::now())
            .expect("in the future");
        assert!(left <= 14 * DAY && left > 13 * DAY, "{left:?}");
    }

    #[test]
    fn the_next_certificate_is_offered_then_served_after_the_overlap() {
        let start = SystemTime::now();
        let made = |offset: Duration| {
            let mut issued = self_signed(&["localhost".into()], 14 * DAY).expect("issued");
            issued.not_after = start + offset + 14 * DAY;
            issued
        };
        let rotation = Rotation {
            validity: 14 * DAY,
            rotate_before: 3 * DAY,
            overlap: Duration::from_secs(3600),
        };
        let mut certs = Certs::new(made(Duration::ZERO));
        let first = certs.current.hash.clone();
        let step = |certs: &mut Certs, at: Duration| {
            certs
                .step(start + at, &rotation, || Ok(made(at)))
                .expect("steps")
                .map(|issued| issued.hash.clone())
        };
        assert_eq!(step(&mut certs, 10 * DAY), None);
        assert_eq!(certs.hashes(), std::slice::from_ref(&first));
        // Three days left: the next one is offered beside it.
        assert_eq!(step(&mut certs, 11 * DAY), None);
        let hashes = certs.hashes();
        assert_eq!(hashes.len(), 2);
        assert_eq!(hashes[0], first);
        // Still offered, not served, within the overlap.
        assert_eq!(step(&mut certs, 11 * DAY + Duration::from_secs(60)), None);
        // Then served, and offered alone.
        let served = step(&mut certs, 11 * DAY + Duration::from_secs(3600));
        assert_eq!(served.as_ref(), Some(&hashes[1]));
        assert_eq!(certs.hashes(), [hashes[1].clone()]);
    }
}
