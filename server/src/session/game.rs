//! A session's game messages: quick play, taking a formed match's seat,
//! inputs (checked against the match's game before they reach it), leaving,
//! and pings.

use super::{Delivery, Flow, LATE_INPUT_GRACE, Session};
use crate::matches::{MatchHandle, SendError};
use crate::runner::Sent;
use crate::sessions::SessionEvent;
use skirmish_shared::game::{GameData, InputError};
use skirmish_shared::proto::{ErrorCode, MAX_EARLIER_INPUTS, ServerMsg};
use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

impl Session {
    /// Takes the seat a join ticket offers in a match hosted here.
    pub(super) fn join_match(&mut self, ticket: &str) -> Flow {
        if self.joining || self.current().is_some() {
            return self.refuse(ErrorCode::AlreadyInMatch, "already in a match".into());
        }
        let claims = match self.node.matchmaking.joins().take(
            ticket,
            self.link.player_id,
            crate::node::unix_ms(),
        ) {
            Ok(claims) => claims,
            Err(e) => return self.refuse(e.code(), e.to_string()),
        };
        self.joining = true;
        let matches = Arc::clone(&self.node.matches);
        let link = Arc::clone(&self.link);
        let events = self.events.clone();
        tokio::spawn(async move {
            let seated = matches
                .join_formed(claims.match_id, link)
                .await
                .map_err(|_| "the match is over, or started without you".to_owned());
            let _ = events.send(SessionEvent::Seated(seated));
        });
        Flow::Continue
    }

    /// Starts quick play. Being seated waits for the match's next tick, so
    /// it runs beside the reader (which keeps answering pings meanwhile) and
    /// reports back as [`SessionEvent::Seated`].
    pub(super) fn play(&mut self) -> Flow {
        if self.joining || self.current().is_some() {
            return self.refuse(ErrorCode::AlreadyInMatch, "already in a match".into());
        }
        self.joining = true;
        let matches = Arc::clone(&self.node.matches);
        let link = Arc::clone(&self.link);
        let events = self.events.clone();
        tokio::spawn(async move {
            let seated = matches.quick_play(link).await.map_err(|e| e.to_string());
            let _ = events.send(SessionEvent::Seated(seated));
        });
        Flow::Continue
    }

    /// An input, with the earlier ones it repeats (`earlier`, newest
    /// first): those this session never received (lost datagrams) go to
    /// the match before it, in order. The whole message is checked before
    /// any of it is used.
    pub(super) fn input(
        &mut self,
        sent: Sent,
        input: GameData,
        earlier: &[GameData],
        delivery: Delivery,
        now: Instant,
    ) -> Flow {
        if earlier.len() > MAX_EARLIER_INPUTS {
            return self.refuse(
                ErrorCode::OutOfRange,
                format!("`earlier` holds at most {MAX_EARLIER_INPUTS} inputs"),
            );
        }
        // `current()` first: it notices a match that has just ended (its
        // handle reports it over before its `match_end` is sent) and marks
        // when, so an input still in flight is not refused. Regression: read
        // before it, such an input got `not_in_match`.
        let current = self.current().cloned();
        let in_flight = self
            .left_match_at
            .is_some_and(|t| now.saturating_duration_since(t) < LATE_INPUT_GRACE);
        let Some(handle) = current else {
            // Inputs sent right after `play` arrive before the seat is ready.
            if in_flight || self.joining {
                return Flow::Continue;
            }
            return self.refuse(ErrorCode::NotInMatch, "not in a match".into());
        };
        let decoded = std::iter::once(&input)
            .chain(earlier)
            .map(|data| handle.game.decode_input(data))
            .collect::<Result<Vec<_>, _>>();
        let mut decoded = match decoded {
            Ok(decoded) => decoded,
            Err(e) => {
                let code = match e {
                    InputError::Malformed(_) => ErrorCode::Malformed,
                    InputError::NotFinite(_) => ErrorCode::NotFinite,
                    InputError::OutOfRange(_) => ErrorCode::OutOfRange,
                };
                return self.refuse(code, e.to_string());
            }
        };
        let seq = sent.seq;
        if self.last_seq.is_some_and(|last| seq <= last) {
            // Overtaken on the way: a newer input was applied already.
            if delivery == Delivery::Unordered {
                metrics::counter!("skirmish_inputs_reordered_total").increment(1);
                return Flow::Continue;
            }
            return self.refuse(
                ErrorCode::StaleInput,
                format!("seq {seq} is not above the last one"),
            );
        }
        // `decoded[k]` is input `seq - k`: keep those after the last one
        // received (after none, at a match's first input: what it repeats
        // may precede the seat).
        let missed = self.last_seq.map_or(1, |last| (seq - last) as usize);
        decoded.truncate(missed);
        self.last_seq = Some(seq);
        while let Some(input) = decoded.pop() {
            let back = decoded.len() as u32;
            let sent = Sent {
                seq: seq - back,
                ack_tick: sent.ack_tick,
                shown: sent.shown.map(|t| t.saturating_sub(back)),
            };
            if self.forward(&handle, sent, input, now) && back > 0 {
                metrics::counter!("skirmish_inputs_recovered_total").increment(1);
            }
        }
        Flow::Continue
    }

    /// Hands one checked input to the match; whether it took it.
    fn forward(
        &mut self,
        handle: &MatchHandle,
        sent: Sent,
        input: Box<dyn Any + Send>,
        now: Instant,
    ) -> bool {
        let (player_id, conn_id) = (self.link.player_id, self.link.conn_id);
        match handle.input(player_id, conn_id, sent, input) {
            Ok(()) => true,
            Err(SendError::Busy) => {
                metrics::counter!("skirmish_inputs_dropped_total").increment(1);
                false
            }
            Err(SendError::Gone) => {
                self.current = None;
                self.left_match_at = Some(now);
                false
            }
        }
    }

    /// Leaves the match for the lobby.
    pub(super) async fn leave(&mut self, now: Instant) -> Flow {
        match self.current.take() {
            Some(handle) if !handle.is_over() => {
                handle.leave(self.link.player_id, self.link.conn_id).await;
                self.left_match_at = Some(now);
                self.last_seq = None;
                Flow::Continue
            }
            // The client may have its `joined` before the session hears it
            // was seated (regression: this `leave` was refused with
            // `not_in_match` and the player stayed in the match).
            _ if self.joining => {
                self.leave_on_seat = true;
                Flow::Continue
            }
            _ => self.refuse(ErrorCode::NotInMatch, "not in a match".into()),
        }
    }

    /// Answers a `ping` at once with the node's clock.
    pub(super) fn pong(&mut self, client_time: f64) -> Flow {
        if !client_time.is_finite() {
            return self.refuse(
                ErrorCode::NotFinite,
                "`client_time` must be a finite number".into(),
            );
        }
        let server_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        self.send(&ServerMsg::Pong {
            client_time,
            server_time,
        });
        Flow::Continue
    }
}
