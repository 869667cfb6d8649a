//! [`Replica`]: one match as a client sees it through its snapshots. It
//! keeps the schema `joined` carried and the states of the last ticks it
//! decoded (the baselines the node's deltas are taken against), and says
//! which tick to acknowledge.

use skirmish_shared::codec::SnapshotView;
use skirmish_shared::proto::ServerMsg;
use skirmish_shared::replication::{DecodeError, Layout, Mirror, Schema};
use std::collections::VecDeque;

/// Decoded states kept as baselines: more than the node keeps (32), so any
/// baseline it names is here.
const KEPT: usize = 64;

/// Why a snapshot could not be applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplicaError {
    /// The snapshot is a delta against a tick this client does not have.
    #[error("a delta against tick {0}, which this client does not have")]
    NoBaseline(u32),
    /// A snapshot not newer than one already decoded: overtaken on the way
    /// (WebTransport datagrams may arrive out of order). It is dropped.
    #[error("tick {0} is not newer than the last decoded")]
    Stale(u32),
    /// The data did not decode against its baseline.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// One match's replicated state, as decoded.
#[derive(Debug)]
pub struct Replica {
    /// The game, as `joined` names it.
    game: String,
    schema: Schema,
    layout: Layout,
    /// Decoded states by tick, oldest first.
    states: VecDeque<(u32, Mirror)>,
    /// The events of the last snapshot not seen before, as `(sequence,
    /// kind, fields)`.
    events: Vec<(u32, u8, Vec<u32>)>,
    /// The highest event sequence number seen.
    last_event: Option<u32>,
}

impl Replica {
    /// The replica of the match a `joined` opens; `None` for any other
    /// message.
    pub fn of_joined(msg: &ServerMsg) -> Option<Replica> {
        let ServerMsg::Joined { schema, game, .. } = msg else {
            return None;
        };
        Some(Replica {
            game: game.clone(),
            layout: Layout::of(schema),
            schema: schema.clone(),
            states: VecDeque::with_capacity(KEPT),
            events: Vec::new(),
            last_event: None,
        })
    }

    /// The game the match plays.
    pub fn game(&self) -> &str {
        &self.game
    }

    /// The schema snapshots are decoded with.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Applies a snapshot, keeping its state as a baseline; the state now.
    pub fn apply(&mut self, snapshot: &SnapshotView<'_>) -> Result<&Mirror, ReplicaError> {
        if self.ack() != 0 && snapshot.tick <= self.ack() {
            return Err(ReplicaError::Stale(snapshot.tick));
        }
        let start = match snapshot.base {
            None => None,
            Some(base) => Some(
                self.states
                    .iter()
                    .find(|(t, _)| *t == base)
                    .map(|(_, m)| m)
                    .ok_or(ReplicaError::NoBaseline(base))?,
            ),
        };
        let mut events = Vec::new();
        let state = start.unwrap_or(&Mirror::default()).apply_with_events(
            &self.layout,
            snapshot.data,
            &mut events,
        )?;
        // An event may come again (in a full snapshot after a lost
        // baseline): each is shown once.
        let last = self.last_event;
        self.events = events
            .into_iter()
            .filter(|(seq, _, _)| last.is_none_or(|l| seq.wrapping_sub(l) as i32 > 0))
            .collect();
        if let Some((seq, _, _)) = self.events.last() {
            self.last_event = Some(*seq);
        }
        if self.states.len() >= KEPT {
            self.states.pop_front();
        }
        self.states.push_back((snapshot.tick, state));
        Ok(&self.states.back().expect("just pushed").1)
    }

    /// The newest state decoded, with its tick.
    pub fn latest(&self) -> Option<(u32, &Mirror)> {
        self.states.back().map(|(t, m)| (*t, m))
    }

    /// The tick to acknowledge in inputs: the newest decoded, 0 for none.
    pub fn ack(&self) -> u32 {
        self.latest().map_or(0, |(t, _)| t)
    }

    /// The new events of the last snapshot applied, oldest first.
    pub fn events(&self) -> &[(u32, u8, Vec<u32>)] {
        &self.events
    }
}
