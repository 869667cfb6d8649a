//! Lag compensation's memory: where every player was after each of the last
//! few steps, so a shot can be judged against the world its shooter was
//! shown rather than the one the node has moved on to.
//!
//! A shot fired `r` ticks behind (its [`Control::rewind`]) checks each tick
//! of its flight against the players as they were `r` steps before: the
//! shooter saw the target that far in the past all along the shot's flight,
//! and the shot lands where the shooter saw it land. The shooter is in the
//! present (it predicts itself), so the shot leaves from where the node
//! has it now. [`super::GameSpec::rewind_ticks`] bounds `r`, which bounds
//! how far behind a wall a target can still be hit.
//!
//! [`Control::rewind`]: skirmish_shared::game::Control::rewind

use super::{EntityId, Player, Tick};
use crate::geom::Vec2;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// One player as they were after a step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Past {
    /// Who.
    pub id: EntityId,
    /// Where their body was.
    pub pos: Vec2,
    /// Whether they could be hit.
    pub alive: bool,
}

/// The players after each of the last steps, newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    steps: VecDeque<Vec<Past>>,
}

impl History {
    /// Remembers `players` as they are after a step, keeping at most
    /// `depth` steps (none when the game rewinds nothing).
    pub fn record(&mut self, players: &[Player], depth: usize) {
        if depth == 0 {
            self.steps.clear();
            return;
        }
        // The oldest step's buffer is reused for the newest.
        let mut step = if self.steps.len() >= depth {
            self.steps.pop_back().unwrap_or_default()
        } else {
            Vec::with_capacity(players.len())
        };
        self.steps.truncate(depth - 1);
        step.clear();
        step.extend(players.iter().map(|p| Past {
            id: p.id,
            pos: p.pos,
            alive: p.alive,
        }));
        self.steps.push_front(step);
    }

    /// The players as they were `ticks` steps before the one being taken
    /// (1: after the previous step), if remembered that far.
    pub fn back(&self, ticks: Tick) -> Option<&[Past]> {
        let idx = usize::try_from(ticks.checked_sub(1)?).ok()?;
        self.steps.get(idx).map(Vec::as_slice)
    }

    /// Steps remembered.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether no step is remembered.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}
