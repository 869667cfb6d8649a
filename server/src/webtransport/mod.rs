//! WebTransport (HTTP/3 over QUIC) beside the WebSocket: a handle
//! ([`WebTransport`], bound at start) and its own task ([`WebTransport::serve`])
//! accepting sessions at `/wt?token=…`, rotating a self-signed
//! certificate or reloading the operator's when its files change (as the
//! TLS listener does). Each accepted session runs the same `session::run` as a
//! WebSocket does, through `adapt.rs`; admission is `admission.rs`'s, so
//! the token, origin, caps and drain apply alike.
//!
//! PROTOCOL.md section 3 is the client's view: `GET /api/webtransport`,
//! the control stream the node opens, records on it, datagrams.

mod adapt;
mod cert;

use crate::StartError;
use crate::admission::{Admission, admit};
use crate::config::{Config, Limits};
use crate::handshakes::{self, Handshakes, Slot};
use crate::node::Node;
use crate::per_ip::client_ip;
use crate::session;
use crate::tls::CertFiles;
use crate::wt_offer::Offer;
use axum::http::{HeaderMap, StatusCode};
use cert::{Certs, Issued, Rotation};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tracing::{debug, info, warn};
use wtransport::config::QuicTransportConfig;
use wtransport::endpoint::endpoint_side;
use wtransport::endpoint::{IncomingSession, SessionRequest};
use wtransport::{Connection, Endpoint, Identity, RecvStream, SendStream, ServerConfig};

/// The path sessions are opened at.
pub(crate) const PATH: &str = "/wt";

/// How often the certificate's rotation is looked at, at most.
const ROTATION_CHECK: Duration = Duration::from_secs(60);

/// The bound endpoint, not yet accepting.
pub(crate) struct WebTransport {
    endpoint: Endpoint<endpoint_side::Server>,
    certs: Certs,
    /// `None` for an operator's certificate.
    rotation: Option<Rotation>,
    /// The operator's certificate files, when they are used.
    files: Option<CertFiles>,
    names: Vec<String>,
    offer: Arc<Offer>,
}

impl std::fmt::Debug for WebTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebTransport")
            .field("offer", &self.offer)
            .finish_non_exhaustive()
    }
}

impl WebTransport {
    /// Binds the UDP port `config.webtransport` names, beside the HTTP
    /// listener at `http`, with its certificate.
    pub(crate) async fn bind(
        config: &Config,
        http: SocketAddr,
        public_url: &str,
    ) -> Result<Self, StartError> {
        let wt = &config.webtransport;
        let addr = SocketAddr::new(http.ip(), wt.port.unwrap_or(http.port()));
        let bind_error = |source: std::io::Error| StartError::Bind { addr, source };
        let host = host_of(public_url);
        let names = vec![host.clone(), "localhost".into(), http.ip().to_string()];
        let files = match (&wt.cert, &wt.key, &config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key), ..) | (None, None, Some(cert), Some(key)) => Some((cert, key)),
            _ => None,
        };
        let watched = files.map(|(cert, key)| CertFiles::new(cert, key));
        let (issued, rotation) = match files {
            Some((cert, key)) => (cert::from_files(cert, key).await, None),
            None => {
                let rotation = Rotation {
                    validity: Duration::from_secs(u64::from(wt.cert_days) * 86_400),
                    rotate_before: Duration::from_secs_f64(wt.rotate_before_s),
                    overlap: Duration::from_secs_f64(wt.overlap_s),
                };
                (cert::self_signed(&names, rotation.validity), Some(rotation))
            }
        };
        let issued =
            issued.map_err(|e| bind_error(std::io::Error::other(format!("certificate: {e:#}"))))?;
        let endpoint = Endpoint::server(server_config(addr, &issued.identity, &config.limits))
            .map_err(bind_error)?;
        let bound = endpoint.local_addr().map_err(bind_error)?.port();
        let port = wt.public_port.unwrap_or(bound);
        let certs = Certs::new(issued);
        let hashes = if rotation.is_some() {
            certs.hashes()
        } else {
            Vec::new()
        };
        let url = format!("https://{}:{port}{PATH}", bracketed(&host));
        let offer = Arc::new(Offer::new(url, hashes));
        Ok(WebTransport {
            endpoint,
            certs,
            rotation,
            files: watched,
            names,
            offer,
        })
    }

    /// What `GET /api/webtransport` answers.
    pub(crate) fn offer(&self) -> Arc<Offer> {
        Arc::clone(&self.offer)
    }

    /// Accepts sessions until the node shuts down, then waits (up to the
    /// shutdown grace) for the connections to close, since their closes go
    /// out through this endpoint.
    pub(crate) async fn serve(mut self, node: Arc<Node>) {
        info!(url = %self.offer.url(), "serving WebTransport");
        let handshakes = Handshakes::for_listener(node.config.limits.per_ip_exempt.clone());
        let mut shutdown = node.shutdown.clone();
        let check = ROTATION_CHECK.min(self.rotation.map_or(ROTATION_CHECK, |r| r.overlap / 2));
        let mut rotation = tokio::time::interval(check);
        rotation.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reload = tokio::time::interval(crate::tls::RELOAD_EVERY);
        reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let guard = node.task_guard.clone();
        loop {
            tokio::select! {
                incoming = self.endpoint.accept() => {
                    let slot = match handshakes.take(incoming.remote_address().ip()) {
                        Ok(slot) => slot,
                        Err(full) => {
                            debug!(?full, "too many WebTransport handshakes; refused one");
                            incoming.refuse();
                            continue;
                        }
                    };
                    let node = Arc::clone(&node);
                    tokio::spawn(async move {
                        let guard = node.task_guard.clone();
                        connection(node, incoming, slot).await;
                        drop(guard);
                    });
                }
                _ = rotation.tick() => self.rotate(&node.config.limits),
                _ = reload.tick() => self.reload(&node.config.limits).await,
                // (The `Ref` it answers is dropped here: it is not `Send`.)
                _ = async { shutdown.wait_for(|stopping| *stopping).await.is_ok() } => break,
            }
        }
        drop(node);
        let wait = async {
            while self.endpoint.open_connections() > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let _ = tokio::time::timeout(crate::SHUTDOWN_GRACE, wait).await;
        drop(guard);
    }

    /// Advances the self-signed certificate's rotation.
    fn rotate(&mut self, limits: &Limits) {
        let Some(rotation) = self.rotation else {
            return;
        };
        let names = &self.names;
        let stepped = self.certs.step(SystemTime::now(), &rotation, || {
            cert::self_signed(names, rotation.validity)
        });
        match stepped {
            Ok(Some(Issued { identity, hash, .. })) => {
                let config = server_config(unbound(), identity, limits);
                match self.endpoint.reload_config(config, false) {
                    Ok(()) => info!(hash = %hash, "WebTransport serves its new certificate"),
                    Err(e) => warn!(error = %e, "could not switch to the new certificate"),
                }
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "could not make the next WebTransport certificate"),
        }
        self.offer.set_hashes(self.certs.hashes());
    }

    /// Serves the operator's certificate again when its files changed;
    /// files that do not load leave the served one in place.
    async fn reload(&mut self, limits: &Limits) {
        let Some(files) = &mut self.files else {
            return;
        };
        if !files.changed() {
            return;
        }
        match cert::from_files(&files.cert, &files.key).await {
            Ok(issued) => {
                let config = server_config(unbound(), &issued.identity, limits);
                match self.endpoint.reload_config(config, false) {
                    Ok(()) => {
                        info!(cert = %files.cert.display(), "WebTransport serves the reloaded certificate")
                    }
                    Err(e) => warn!(error = %e, "could not switch to the reloaded certificate"),
                }
            }
            Err(e) => warn!(
                error = %format!("{e:#}"),
                "the certificate files changed but do not load; WebTransport still serves the previous certificate"
            ),
        }
    }
}

/// An address for a configuration whose socket is not bound again.
fn unbound() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// The endpoint's settings: its certificate, QUIC's liveness on the
/// node's heartbeat and idle timeout, and windows sized like a WebSocket's
/// buffers, so a client that stops reading holds back only its own
/// connection and a bounded amount of memory.
fn server_config(addr: SocketAddr, identity: &Identity, limits: &Limits) -> ServerConfig {
    let mut transport = QuicTransportConfig::default();
    // Longer than the session's idle timeout (whose timer moves on at
    // heartbeat intervals), so a silent client gets its 4000 first.
    let idle = Limits::secs(limits.idle_timeout_s) + 2 * Limits::secs(limits.heartbeat_s);
    transport.max_idle_timeout(idle.try_into().ok());
    transport.keep_alive_interval(Some(Limits::secs(limits.heartbeat_s)));
    let window = u32::try_from(limits.send_buffer_bytes).unwrap_or(u32::MAX);
    transport.send_window(u64::from(window) * 2);
    transport.stream_receive_window(window.into());
    transport.receive_window((window * 4).into());
    transport.datagram_receive_buffer_size(Some(limits.send_buffer_bytes));
    transport.datagram_send_buffer_size(limits.send_buffer_bytes);
    // The session request's stream, and HTTP/3's control streams.
    transport.max_concurrent_bidi_streams(4u32.into());
    transport.max_concurrent_uni_streams(8u32.into());
    ServerConfig::builder()
        .with_bind_address(addr)
        .with_custom_transport(identity.clone_identity(), transport)
        .build()
}

/// One client: its handshake, admission, and session.
async fn connection(node: Arc<Node>, incoming: IncomingSession, slot: Slot) {
    // Everything from the first packet until the control stream is open
    // (the QUIC handshake, the session request, its answer), however the
    // client stalls it (an unacknowledged refusal, no stream credit),
    // within one deadline.
    let opened = tokio::time::timeout(handshakes::TIMEOUT, open(&node, incoming)).await;
    drop(slot);
    let (admission, conn, send, recv) = match opened {
        Ok(Some(opened)) => opened,
        Ok(None) => return,
        Err(_) => return debug!("WebTransport handshake timed out"),
    };
    let limits = &node.config.limits;
    let (sink, stream) = adapt::adapt(
        conn,
        send,
        recv,
        limits.max_message_bytes,
        Limits::secs(limits.heartbeat_s),
    );
    let open = metrics::gauge!("skirmish_connections_by_transport", "transport" => "wt");
    open.increment(1.0);
    let Admission { claims, permits } = admission;
    session::run(Arc::clone(&node), claims, stream, sink).await;
    open.decrement(1.0);
    drop(permits);
}

/// The QUIC handshake, the session request's admission, and the control
/// stream the node opens; `None` when any fails or is refused.
async fn open(
    node: &Node,
    incoming: IncomingSession,
) -> Option<(Admission, Connection, SendStream, RecvStream)> {
    let request = match incoming.await {
        Ok(request) => request,
        Err(e) => {
            debug!(error = %e, "WebTransport handshake failed");
            return None;
        }
    };
    let (admission, request) = admitted(node, request).await?;
    let conn = request.accept().await.ok()?;
    // The node opens the control stream; the client sees it with the
    // first record (`welcome`).
    let opening = conn.open_bi().await.ok()?;
    match opening.await {
        Ok((send, recv)) => Some((admission, conn, send, recv)),
        Err(e) => {
            debug!(error = %e, "could not open the control stream");
            None
        }
    }
}

/// Admits a session request, or answers it: 404 for another path, 403 for
/// a bad token or origin, 429 for a full or draining node or address.
/// (A browser cannot tell these apart: it sees a failed connection, and
/// falls back to the WebSocket, which says why.)
async fn admitted(node: &Node, request: SessionRequest) -> Option<(Admission, SessionRequest)> {
    let (path, query) = request
        .path()
        .split_once('?')
        .unwrap_or((request.path(), ""));
    if path != PATH {
        request.not_found().await;
        return None;
    }
    let token = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .map(str::to_owned);
    let ip = client_ip(request.remote_address().ip(), &HeaderMap::new(), &[]);
    match admit(node, request.origin().map(Ok), token.as_deref(), ip).await {
        Ok(admission) => Some((admission, request)),
        Err(refusal) => {
            debug!(code = refusal.code, "WebTransport session refused");
            match refusal.status {
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                    request.too_many_requests().await;
                }
                _ => request.forbidden().await,
            }
            None
        }
    }
}

/// The host part of a URL such as `http://127.0.0.1:8080` or
/// `https://[::1]:443/x`.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6).to_owned();
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
        .to_owned()
}

/// A host as it goes in a URL: an IPv6 address in brackets.
fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_from_public_urls() {
        assert_eq!(host_of("http://127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_of("https://play.example.com/"), "play.example.com");
        assert_eq!(host_of("https://[::1]:443/x"), "::1");
        assert_eq!(bracketed("::1"), "[::1]");
        assert_eq!(bracketed("play.example.com"), "play.example.com");
    }
}
