//! TLS for bots: HTTPS logins and WSS connections to nodes that serve TLS,
//! with rustls (the `ring` provider). Trusted: the system's roots (through
//! rustls-platform-verifier) and any added with [`trust_pem`] (the bots'
//! `--ca-cert`), such as a test's or a private certificate authority's.

use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;
use std::sync::{Arc, RwLock};

/// Roots added to the system's.
static EXTRA_ROOTS: RwLock<Vec<CertificateDer<'static>>> = RwLock::new(Vec::new());
/// The configuration built from them, until another root is added.
static CONFIG: RwLock<Option<Arc<ClientConfig>>> = RwLock::new(None);

/// Why a TLS setting could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read, or holds no PEM certificate.
    #[error("{0}: {1}")]
    Pem(String, String),
    /// The platform's verifier could not be built.
    #[error("TLS verifier: {0}")]
    Verifier(#[from] rustls::Error),
}

/// Trusts every certificate in a PEM file as a root, besides the system's;
/// returns how many it read.
pub fn trust_pem(path: &Path) -> Result<usize, TlsError> {
    let pem_error =
        |e: &dyn std::fmt::Display| TlsError::Pem(path.display().to_string(), e.to_string());
    let roots: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(&e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_error(&e))?;
    if roots.is_empty() {
        return Err(pem_error(&"holds no certificate"));
    }
    let n = roots.len();
    // The cache's lock first, as `build` takes them, so no build sees the
    // new roots half-added.
    let mut cached = CONFIG.write().unwrap_or_else(|p| p.into_inner());
    EXTRA_ROOTS
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .extend(roots);
    *cached = None;
    drop(cached);
    // Built now, so a verifier that cannot be made fails here.
    build()?;
    Ok(n)
}

fn build() -> Result<Arc<ClientConfig>, TlsError> {
    if let Some(config) = CONFIG.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
        return Ok(Arc::clone(config));
    }
    // Built under the lock, so a root added meanwhile is never lost to a
    // build that started before it.
    let mut cached = CONFIG.write().unwrap_or_else(|p| p.into_inner());
    if let Some(config) = cached.as_ref() {
        return Ok(Arc::clone(config));
    }
    let provider = provider();
    let extra = EXTRA_ROOTS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, Arc::clone(&provider))?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let config = Arc::new(config);
    *cached = Some(Arc::clone(&config));
    Ok(config)
}

/// The client configuration for `wss://` and `https://`.
///
/// # Panics
///
/// If the platform's verifier cannot be built (no usable root store);
/// [`trust_pem`] reports that as an error first.
pub fn client_config() -> Arc<ClientConfig> {
    build().expect("a TLS client configuration")
}

/// A `reqwest` client builder that speaks HTTPS with [`client_config`].
pub fn http_client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_backend_preconfigured((*client_config()).clone())
}

/// rustls with `ring`: it builds with a C compiler alone (`aws-lc-rs`, the
/// provider rustls now prefers, wants CMake too). Its price: no
/// post-quantum key exchange.
#[expect(
    deprecated,
    reason = "ring has no post-quantum key exchange; see above"
)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
