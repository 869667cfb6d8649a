//! Optional TLS: HTTPS and WSS on the node's one port, with rustls (the
//! `ring` provider; no OpenSSL). The certificate chain and key are PEM
//! files, read again when either changes (checked every two seconds), so a
//! renewed certificate is served to new connections without a restart;
//! connections already open keep theirs. Files that do not load leave the
//! certificate being served in place, with a warning.
//!
//! Handshakes run on tasks of their own, bounded in all and per address
//! and each within a deadline (`handshakes.rs`), so a client that stalls
//! one does not hold up the accept loop or the other clients.

use crate::handshakes::{self, Handshakes};
use crate::listener::{PeerAddr, Tune};
use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, info, warn};

/// How often the files are checked for a change (here and by the
/// WebTransport endpoint).
pub(crate) const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no PEM of the kind wanted.
    #[error("{path}: {why}")]
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        why: String,
    },
    /// rustls refused the pair (a key that does not match, say).
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

fn file_error(path: &Path, why: impl ToString) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        why: why.to_string(),
    }
}

/// Reads a PEM certificate chain (leaf first) and its PEM private key.
fn load(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error(cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(cert, e))?;
    if chain.is_empty() {
        return Err(file_error(cert, "holds no certificate"));
    }
    // The key's bytes never reach an error message: only what kind of
    // problem it was.
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e))?;
    let provider = provider();
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, private)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The TLS configuration being served, replaced when its files change.
#[derive(Clone, Debug)]
pub struct Certificates {
    current: Arc<RwLock<Arc<ServerConfig>>>,
    files: CertFiles,
}

/// When each file last changed, and its size: what a reload looks at.
type Stamp = Option<[(SystemTime, u64); 2]>;

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let one = |path: &Path| {
        let meta = std::fs::metadata(path).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    };
    Some([one(cert)?, one(key)?])
}

/// A certificate and its key on disk, watched for a renewal: looked at
/// every [`RELOAD_EVERY`] (here and by the WebTransport endpoint) and
/// loaded again only when they changed.
#[derive(Clone, Debug)]
pub(crate) struct CertFiles {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
    stamp: Stamp,
}

impl CertFiles {
    /// The pair as it is now.
    pub(crate) fn new(cert: &Path, key: &Path) -> Self {
        CertFiles {
            cert: cert.to_owned(),
            key: key.to_owned(),
            stamp: stamp(cert, key),
        }
    }

    /// Whether either file changed since this was made or last said so.
    pub(crate) fn changed(&mut self) -> bool {
        let now = stamp(&self.cert, &self.key);
        if now == self.stamp {
            return false;
        }
        self.stamp = now;
        true
    }
}

impl Certificates {
    /// Loads the pair, or says why it cannot be used.
    pub fn load(cert: &Path, key: &Path) -> Result<Certificates, TlsError> {
        let files = CertFiles::new(cert, key);
        Ok(Certificates {
            current: Arc::new(RwLock::new(load(cert, key)?)),
            files,
        })
    }

    fn acceptor(&self) -> TlsAcceptor {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        TlsAcceptor::from(Arc::clone(&current))
    }

    /// Reloads the pair whenever its files change, until the task is
    /// aborted.
    fn watch(&self) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut files = this.files.clone();
            loop {
                tokio::time::sleep(RELOAD_EVERY).await;
                if !files.changed() {
                    continue;
                }
                match load(&files.cert, &files.key) {
                    Ok(config) => {
                        *this.current.write().unwrap_or_else(|p| p.into_inner()) = config;
                        info!(cert = %files.cert.display(), "serving the reloaded TLS certificate");
                    }
                    Err(e) => warn!(
                        error = %e,
                        "the TLS files changed but do not load; still serving the previous certificate"
                    ),
                }
            }
        })
    }
}

/// A listener that hands axum connections once their TLS handshake is done.
#[derive(Debug)]
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    /// The accept loop and the reloader; aborted with the listener.
    tasks: [JoinHandle<()>; 2],
}

impl TlsListener {
    /// Accepts on `tcp`, tunes each connection with `tune` (socket options)
    /// and serves `certificates`.
    pub(crate) fn new(
        tcp: TcpListener,
        certificates: Certificates,
        tune: Tune,
        exempt: Vec<ipnet::IpNet>,
    ) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let reloader = certificates.watch();
        let handshakes = Handshakes::for_listener(exempt);
        let accepting = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors, say: wait rather than spin.
                        debug!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                tune(&stream);
                let slot = match handshakes.take(peer.ip()) {
                    Ok(slot) => slot,
                    Err(full) => {
                        debug!(%peer, ?full, "too many TLS handshakes; dropped a connection");
                        continue;
                    }
                };
                let (acceptor, tx) = (certificates.acceptor(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(handshakes::TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            drop(slot);
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            ready,
            local,
            tasks: [accepting, reloader],
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop ended (it does not, short of a panic): accept
            // nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
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
