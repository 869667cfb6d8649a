//! What `GET /api/webtransport` answers: the WebTransport endpoint's URL
//! and the hashes of the certificates a browser may accept there. Written by
//! the endpoint's task (`webtransport/`) as it rotates its certificate, read
//! by the HTTP handler through the node.

use base64::Engine;
use serde::Serialize;
use std::sync::RwLock;
use wtransport::tls::Sha256Digest;

/// What `GET /api/webtransport` offers: where to connect, and the hashes
/// of the certificates a browser may accept there.
#[derive(Debug)]
pub(crate) struct Offer {
    url: String,
    /// Empty for an operator's certificate, which browsers check as usual.
    hashes: RwLock<Vec<Sha256Digest>>,
}

/// `GET /api/webtransport`'s body.
#[derive(Debug, Serialize)]
pub(crate) struct OfferView {
    url: String,
    certificate_hashes: Vec<HashView>,
}

/// One hash, as the browser's `serverCertificateHashes` takes it (the
/// value in base64).
#[derive(Debug, Serialize)]
struct HashView {
    algorithm: &'static str,
    value: String,
}

impl Offer {
    pub(crate) fn new(url: String, hashes: Vec<Sha256Digest>) -> Self {
        Offer {
            url,
            hashes: RwLock::new(hashes),
        }
    }

    /// Where clients open sessions.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn view(&self) -> OfferView {
        let hashes = self.hashes.read().unwrap_or_else(|e| e.into_inner());
        OfferView {
            url: self.url.clone(),
            certificate_hashes: hashes
                .iter()
                .map(|hash| HashView {
                    algorithm: "sha-256",
                    value: base64::engine::general_purpose::STANDARD.encode(hash.as_ref()),
                })
                .collect(),
        }
    }

    pub(crate) fn set_hashes(&self, hashes: Vec<Sha256Digest>) {
        *self.hashes.write().unwrap_or_else(|e| e.into_inner()) = hashes;
    }
}
