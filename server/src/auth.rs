//! Guest sessions: display-name validation and signed, expiring session
//! tokens (HMAC-SHA256), checked before a WebSocket upgrade.
//!
//! A token is `v1.<payload>.<mac>`, both parts base64url without padding.
//! The payload is the player id (8 bytes, big-endian), the expiry in Unix
//! seconds (8 bytes, big-endian) and the UTF-8 display name. Tokens are
//! stateless: any node holding the same key accepts them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngExt;
use sha2::Sha256;
use skirmish_shared::proto::PlayerId;
use std::time::Duration;

/// Display names are 1 to this many characters.
pub const MAX_NAME_CHARS: usize = 16;

/// Why a display name was refused; the text is shown to the person typing it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty, or only spaces.
    #[error("the name is empty")]
    Empty,
    /// More than [`MAX_NAME_CHARS`] characters.
    #[error("the name is longer than {MAX_NAME_CHARS} characters")]
    TooLong,
    /// A character other than letters, digits, space, `_`, `-` or `.`.
    #[error("the name may only hold letters, digits, spaces, '_', '-' and '.'")]
    BadCharacter,
}

/// Checks a display name and returns it with surrounding spaces trimmed and
/// inner runs of spaces collapsed to one.
pub fn validate_name(raw: &str) -> Result<String, NameError> {
    let name = raw
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.'))
    {
        return Err(NameError::BadCharacter);
    }
    Ok(name)
}

/// Why a token was refused; each maps to a documented HTTP answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No token was given.
    #[error("no session token")]
    Missing,
    /// Not a token this node could have issued (bad format or signature).
    #[error("invalid session token")]
    Invalid,
    /// Validly signed but past its expiry.
    #[error("expired session token")]
    Expired,
}

impl TokenError {
    /// The machine-readable code in the HTTP error body.
    pub fn code(self) -> &'static str {
        match self {
            TokenError::Missing => "missing_token",
            TokenError::Invalid => "invalid_token",
            TokenError::Expired => "expired_token",
        }
    }
}

/// What a valid token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// The player.
    pub player_id: PlayerId,
    /// Their display name, validated when issued.
    pub name: String,
    /// Unix seconds after which the token is refused.
    pub expires_at: u64,
}

/// Issues and checks session tokens with one key.
#[derive(Clone)]
pub struct SessionKeys {
    mac: Hmac<Sha256>,
    ttl: Duration,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

const PREFIX: &str = "v1.";

impl SessionKeys {
    /// Keys from a shared secret, or a random one when `None`.
    pub fn new(secret: Option<&str>, ttl: Duration) -> Self {
        let key: Vec<u8> = match secret {
            Some(s) => s.as_bytes().to_vec(),
            None => rand::rng().random::<[u8; 32]>().to_vec(),
        };
        // HMAC accepts keys of any length.
        let mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
        SessionKeys { mac, ttl }
    }

    /// A token for a new guest with a random player id, valid from `now`
    /// (Unix seconds) for the configured lifetime.
    pub fn issue(&self, name: &str, now: u64) -> (String, Claims) {
        let claims = Claims {
            player_id: PlayerId(rand::rng().random()),
            name: name.to_owned(),
            expires_at: now.saturating_add(self.ttl.as_secs()),
        };
        (self.sign(&claims), claims)
    }

    /// The token for given claims.
    pub fn sign(&self, claims: &Claims) -> String {
        let mut payload = Vec::with_capacity(16 + claims.name.len());
        payload.extend_from_slice(&claims.player_id.0.to_be_bytes());
        payload.extend_from_slice(&claims.expires_at.to_be_bytes());
        payload.extend_from_slice(claims.name.as_bytes());
        self.seal(PREFIX, &payload)
    }

    /// `prefix` + base64url(payload) + `.` + base64url(HMAC). The prefix is
    /// part of what is signed, so a token of one kind (a session) never
    /// passes for another (a join ticket).
    pub fn seal(&self, prefix: &str, payload: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(prefix.as_bytes());
        mac.update(payload);
        let tag = mac.finalize().into_bytes();
        format!("{prefix}{}.{}", B64.encode(payload), B64.encode(tag))
    }

    /// The payload of a token [`SessionKeys::seal`]ed with `prefix`, if its
    /// signature holds.
    pub fn open(&self, prefix: &str, token: &str) -> Result<Vec<u8>, TokenError> {
        let rest = token.strip_prefix(prefix).ok_or(TokenError::Invalid)?;
        let (payload, tag) = rest.split_once('.').ok_or(TokenError::Invalid)?;
        // Tokens are short; refuse anything that could only be abuse before
        // decoding it.
        if payload.len() > 256 || tag.len() > 64 {
            return Err(TokenError::Invalid);
        }
        let payload = B64.decode(payload).map_err(|_| TokenError::Invalid)?;
        let tag = B64.decode(tag).map_err(|_| TokenError::Invalid)?;
        let mut mac = self.mac.clone();
        mac.update(prefix.as_bytes());
        mac.update(&payload);
        mac.verify_slice(&tag).map_err(|_| TokenError::Invalid)?;
        Ok(payload)
    }

    /// Checks a token's signature and expiry at `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let payload = self.open(PREFIX, token)?;
        if payload.len() < 16 {
            return Err(TokenError::Invalid);
        }
        let (id, rest) = payload.split_at(8);
        let (expiry, name) = rest.split_at(8);
        let claims = Claims {
            player_id: PlayerId(u64::from_be_bytes(
                id.try_into().map_err(|_| TokenError::Invalid)?,
            )),
            expires_at: u64::from_be_bytes(expiry.try_into().map_err(|_| TokenError::Invalid)?),
            name: String::from_utf8(name.to_vec()).map_err(|_| TokenError::Invalid)?,
        };
        if now >= claims.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SessionKeys {
        SessionKeys::new(Some("test secret"), Duration::from_secs(60))
    }

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(
            validate_name("  Ada   Lovelace "),
            Ok("Ada Lovelace".into())
        );
        assert_eq!(validate_name("Zoë_42.x-y"), Ok("Zoë_42.x-y".into()));
        assert_eq!(validate_name("   "), Err(NameError::Empty));
        assert_eq!(validate_name("abcdefghijklmnopq"), Err(NameError::TooLong));
        assert_eq!(validate_name("<script>"), Err(NameError::BadCharacter));
        assert_eq!(validate_name("tab\there"), Err(NameError::BadCharacter));
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let keys = keys();
        let (token, claims) = keys.issue("Ada", 1_000);
        assert_eq!(claims.expires_at, 1_060);
        assert_eq!(keys.verify(&token, 1_059), Ok(claims));
        assert_eq!(keys.verify(&token, 1_060), Err(TokenError::Expired));
    }

    #[test]
    fn forged_and_mangled_tokens_are_invalid() {
        let keys = keys();
        let (token, claims) = keys.issue("Ada", 1_000);
        // Signed with another key.
        let other = SessionKeys::new(Some("another secret"), Duration::from_secs(60));
        assert_eq!(
            keys.verify(&other.sign(&claims), 1_000),
            Err(TokenError::Invalid)
        );
        // A changed name under the old signature.
        let forged = Claims {
            name: "Admin".into(),
            ..claims.clone()
        };
        let (_, payload_tag) = token.split_at(PREFIX.len());
        let tag = payload_tag.split_once('.').expect("two parts").1;
        let forged_payload = keys.sign(&forged);
        let forged_payload = forged_payload[PREFIX.len()..]
            .split_once('.')
            .expect("two parts")
            .0;
        assert_eq!(
            keys.verify(&format!("{PREFIX}{forged_payload}.{tag}"), 1_000),
            Err(TokenError::Invalid)
        );
        for junk in [
            "",
            "v1.",
            "v1..",
            "v2.abc.def",
            "v1.!!!.???",
            &token[..token.len() - 2],
        ] {
            assert_eq!(
                keys.verify(junk, 1_000),
                Err(TokenError::Invalid),
                "{junk:?}"
            );
        }
    }
}
