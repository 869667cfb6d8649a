//! The operator's view of the cluster: `GET /api/admin/cluster` answers the
//! live nodes from the registry with the stats each heartbeat carries
//! (`node_stats`), behind the admin token; `/admin` serves the dashboard
//! page (`assets/web/admin.html`) that polls it and charts the figures.
//!
//! Refusals (PROTOCOL.md section 2, "Other endpoints"): 403 `admin_disabled` when the node
//! has no `admin_token`; 401 `unauthorized` without `Authorization: Bearer
//! <token>` or with another token. The token is compared in constant time.

use crate::node::{Node, unix_ms};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;
use std::sync::Arc;

/// Why a request for the admin API was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The node has no admin token.
    Disabled,
    /// No token, or another one.
    Unauthorized,
}

impl Refusal {
    /// Its status, error code and message.
    pub(crate) fn answer(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Refusal::Disabled => (
                StatusCode::FORBIDDEN,
                "admin_disabled",
                "this node has no admin_token, so its admin API is off",
            ),
            Refusal::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send the admin token as Authorization: Bearer <token>",
            ),
        }
    }
}

/// Checks the request's bearer token against `expected`.
pub(crate) fn authorize(expected: Option<&str>, headers: &HeaderMap) -> Result<(), Refusal> {
    let expected = expected.ok_or(Refusal::Disabled)?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(Refusal::Unauthorized)?;
    // Both through the same MAC, compared in constant time: the time taken
    // says nothing about how much of the token was right.
    let mac = |text: &str| {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(b"skirmish admin token").expect("any key length");
        mac.update(text.as_bytes());
        mac
    };
    let expected_tag = mac(expected).finalize().into_bytes();
    mac(given)
        .verify_slice(&expected_tag)
        .map_err(|_| Refusal::Unauthorized)
}

/// `GET /api/admin/cluster`.
pub(crate) async fn cluster(State(node): State<Arc<Node>>, headers: HeaderMap) -> Response {
    let token = node.config.admin_token.as_ref().map(|t| t.expose());
    if let Err(refusal) = authorize(token, &headers) {
        let (status, code, message) = refusal.answer();
        return (status, Json(json!({ "error": code, "message": message }))).into_response();
    }
    match node.registry.live().await {
        Ok(nodes) => Json(json!({
            "self": node.node_id,
            "at_ms": unix_ms(),
            "nodes": nodes,
        }))
        .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "unavailable", "message": e.to_string() })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("a header value"),
        );
        headers
    }

    #[test]
    fn only_the_configured_token_opens_the_admin_api() {
        let token = "a-token-of-sixteen-or-more";
        assert_eq!(authorize(Some(token), &bearer(token)), Ok(()));
        for wrong in [
            "",
            "a-token-of-sixteen-or-mor",
            "a-token-of-sixteen-or-more!",
        ] {
            assert_eq!(
                authorize(Some(token), &bearer(wrong)),
                Err(Refusal::Unauthorized),
                "{wrong:?}"
            );
        }
        assert_eq!(
            authorize(Some(token), &HeaderMap::new()),
            Err(Refusal::Unauthorized)
        );
        assert_eq!(authorize(None, &bearer(token)), Err(Refusal::Disabled));
    }
}
