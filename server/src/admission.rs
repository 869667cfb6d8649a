//! Whether a connection may open, whichever transport it comes by: the
//! page's origin, the session token, a draining node, the node's connection
//! cap and the per-address cap, checked in that order. The WebSocket
//! upgrade (`http.rs`) and the WebTransport endpoint (`webtransport/`)
//! both ask here, so one player meets the same limits on either.

use crate::auth::{Claims, TokenError, unix_now};
use crate::node::Node;
use crate::per_ip::{ClientIp, IpPermit};
use axum::http::StatusCode;
use tokio::sync::OwnedSemaphorePermit;

/// A connection let in: the player, and what it holds while it is open.
#[derive(Debug)]
pub(crate) struct Admission {
    pub(crate) claims: Claims,
    /// Dropped when the connection ends.
    pub(crate) permits: (OwnedSemaphorePermit, IpPermit),
}

/// A connection refused, with the HTTP answer PROTOCOL.md documents.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }
}

/// Checks a connection asking to open. `origin` is the request's `Origin`,
/// `Err(())` when it was not text.
pub(crate) async fn admit(
    node: &Node,
    origin: Option<Result<&str, ()>>,
    token: Option<&str>,
    ip: ClientIp,
) -> Result<Admission, Refusal> {
    if let Some(origin) = origin {
        let allowed = match origin {
            Ok(origin) => node.origins.allows(origin, &*node.registry).await,
            Err(()) => false,
        };
        if !allowed {
            refused("origin");
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "pages from this origin may not connect to this node",
            ));
        }
    }
    let claims = token
        .ok_or(TokenError::Missing)
        .and_then(|t| node.keys.verify(t, unix_now()))
        .map_err(|e| Refusal::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string()))?;
    // A draining node lets back only players it holds a seat for.
    if node.is_draining() && node.matches.match_of(claims.player_id).is_none() {
        refused("draining");
        return Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "draining",
            "this node is shutting down; connect to another",
        ));
    }
    let Ok(permit) = std::sync::Arc::clone(&node.connection_permits).try_acquire_owned() else {
        refused("server_full");
        return Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_full",
            "the node has no room for more connections",
        ));
    };
    let Some(ip_permit) = node.per_ip.connect(ip) else {
        refused("ip_connections");
        return Err(Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_connections",
            "this address has as many connections open as the node allows",
        ));
    };
    Ok(Admission {
        claims,
        permits: (permit, ip_permit),
    })
}

/// Counts a request refused before it became a session or a connection.
pub(crate) fn refused(why: &'static str) {
    metrics::counter!("skirmish_refused_total", "why" => why).increment(1);
}
