//! Join tickets: what lets a player sent to another node take their seat in
//! a match there. A ticket is signed with the cluster's session key, bound
//! to one player, one match and one host node, valid for the join window,
//! and good once: the host remembers the tickets it has taken.
//!
//! Format: `j1.` + base64url(player id, match id, expiry in Unix ms, nonce,
//! each 8 bytes big-endian, then the host node id) + `.` + base64url(HMAC).

use crate::auth::{SessionKeys, TokenError};
use rand::RngExt;
use skirmish_shared::proto::NodeId;
use skirmish_shared::proto::{ErrorCode, MatchId, PlayerId};
use std::collections::HashMap;
use std::sync::Mutex;

const PREFIX: &str = "j1.";

/// What a join ticket grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinClaims {
    /// Who may use it.
    pub player_id: PlayerId,
    /// The match it seats them in.
    pub match_id: MatchId,
    /// The node hosting that match.
    pub host: NodeId,
    /// Unix ms after which it is refused.
    pub expires_at_ms: u64,
    /// Makes each ticket unique, for single use.
    pub nonce: u64,
}

/// Why a join ticket was refused; each has a documented error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// Not a ticket the cluster's key signed.
    #[error("invalid join ticket")]
    Invalid,
    /// Past its expiry.
    #[error("the join ticket has expired")]
    Expired,
    /// Used already.
    #[error("the join ticket was used already")]
    Used,
    /// For another node.
    #[error("the join ticket is for another node")]
    WrongNode,
    /// For another player.
    #[error("the join ticket is for another player")]
    WrongPlayer,
}

impl JoinError {
    /// The code a client sees.
    pub fn code(self) -> ErrorCode {
        match self {
            JoinError::Invalid | JoinError::WrongPlayer => ErrorCode::InvalidTicket,
            JoinError::Expired => ErrorCode::ExpiredTicket,
            JoinError::Used => ErrorCode::TicketUsed,
            JoinError::WrongNode => ErrorCode::WrongNode,
        }
    }
}

/// Issues join tickets (on the host) and takes them (on the host, once).
#[derive(Debug)]
pub struct JoinTickets {
    keys: SessionKeys,
    node_id: NodeId,
    /// Nonces taken, with their expiry, forgotten once expired.
    used: Mutex<HashMap<u64, u64>>,
}

impl JoinTickets {
    /// Tickets for matches hosted on `node_id`, signed with `keys`.
    pub fn new(keys: SessionKeys, node_id: &NodeId) -> Self {
        JoinTickets {
            keys,
            node_id: node_id.to_owned(),
            used: Mutex::default(),
        }
    }

    /// A ticket for `player_id` to join `match_id` here until `expires_at_ms`.
    pub fn issue(&self, player_id: PlayerId, match_id: MatchId, expires_at_ms: u64) -> String {
        self.seal(&JoinClaims {
            player_id,
            match_id,
            host: self.node_id.clone(),
            expires_at_ms,
            nonce: rand::rng().random(),
        })
    }

    /// The ticket for given claims (any host; tests forge with this).
    pub fn seal(&self, claims: &JoinClaims) -> String {
        let mut payload = Vec::with_capacity(32 + claims.host.as_str().len());
        payload.extend_from_slice(&claims.player_id.0.to_be_bytes());
        payload.extend_from_slice(&claims.match_id.0.to_be_bytes());
        payload.extend_from_slice(&claims.expires_at_ms.to_be_bytes());
        payload.extend_from_slice(&claims.nonce.to_be_bytes());
        payload.extend_from_slice(claims.host.as_str().as_bytes());
        self.keys.seal(PREFIX, &payload)
    }

    /// Checks a ticket presented by `player_id` at `now_ms` and, if it is
    /// good, marks it used.
    pub fn take(
        &self,
        ticket: &str,
        player_id: PlayerId,
        now_ms: u64,
    ) -> Result<JoinClaims, JoinError> {
        let payload = self
            .keys
            .open(PREFIX, ticket)
            .map_err(|_: TokenError| JoinError::Invalid)?;
        if payload.len() < 32 {
            return Err(JoinError::Invalid);
        }
        let word = |i: usize| {
            let bytes: [u8; 8] = payload[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]);
            u64::from_be_bytes(bytes)
        };
        let claims = JoinClaims {
            player_id: PlayerId(word(0)),
            match_id: MatchId(word(1)),
            expires_at_ms: word(2),
            nonce: word(3),
            host: String::from_utf8(payload[32..].to_vec())
                .map_err(|_| JoinError::Invalid)?
                .into(),
        };
        if claims.host != self.node_id {
            return Err(JoinError::WrongNode);
        }
        if claims.player_id != player_id {
            return Err(JoinError::WrongPlayer);
        }
        if now_ms >= claims.expires_at_ms {
            return Err(JoinError::Expired);
        }
        let mut used = self
            .used
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        used.retain(|_, expires| *expires > now_ms);
        if used.insert(claims.nonce, claims.expires_at_ms).is_some() {
            return Err(JoinError::Used);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn keys(secret: &str) -> SessionKeys {
        SessionKeys::new(Some(secret), Duration::from_secs(60))
    }

    #[test]
    fn a_ticket_works_once_for_its_player_on_its_node_until_it_expires() {
        let host = JoinTickets::new(keys("s"), &NodeId::from("host"));
        let ticket = host.issue(PlayerId(1), MatchId(9), 1_000);
        assert_eq!(
            host.take(&ticket, PlayerId(2), 10),
            Err(JoinError::WrongPlayer)
        );
        let claims = host.take(&ticket, PlayerId(1), 10).expect("good");
        assert_eq!(
            (claims.match_id, claims.host.as_str()),
            (MatchId(9), "host")
        );
        assert_eq!(host.take(&ticket, PlayerId(1), 20), Err(JoinError::Used));
        let late = host.issue(PlayerId(1), MatchId(9), 1_000);
        assert_eq!(
            host.take(&late, PlayerId(1), 1_000),
            Err(JoinError::Expired)
        );
    }

    #[test]
    fn forged_and_misdirected_tickets_are_refused() {
        let host = JoinTickets::new(keys("s"), &NodeId::from("host"));
        let elsewhere = JoinTickets::new(keys("s"), &NodeId::from("other"));
        let ticket = elsewhere.issue(PlayerId(1), MatchId(9), 1_000);
        assert_eq!(
            host.take(&ticket, PlayerId(1), 10),
            Err(JoinError::WrongNode)
        );
        let forger = JoinTickets::new(keys("guess"), &NodeId::from("host"));
        let forged = forger.issue(PlayerId(1), MatchId(9), 1_000);
        assert_eq!(host.take(&forged, PlayerId(1), 10), Err(JoinError::Invalid));
        // A session token is not a join ticket, even with the right key.
        let session = keys("s").sign(&crate::auth::Claims {
            player_id: PlayerId(1),
            name: "a".into(),
            expires_at: 99,
        });
        assert_eq!(
            host.take(&session, PlayerId(1), 10),
            Err(JoinError::Invalid)
        );
        assert_eq!(
            host.take("j1.junk", PlayerId(1), 10),
            Err(JoinError::Invalid)
        );
    }
}
