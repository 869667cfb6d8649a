//! Who may see the operator's view of the cluster: `GET /api/admin/cluster`
//! (in `http.rs`) answers the live nodes from the registry with the stats
//! each heartbeat carries (`node_stats`), behind the admin token; `/admin`
//! serves the dashboard page (`assets/web/admin.html`) that polls it and
//! charts the figures.
//!
//! Refusals (PROTOCOL.md section 2, "Other endpoints"): 403 `admin_disabled` when the node
//! has no `admin_token`; 401 `unauthorized` without `Authorization: Bearer
//! <token>` or with another token. The token is compared in constant time.

use axum::http::{HeaderMap, StatusCode, header};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

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
