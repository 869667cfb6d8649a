//! What a match numbers: its ticks, who takes part and their teams. Below
//! both the `Game` trait and replication, which each name them.

use serde::{Deserialize, Serialize};

/// A simulation tick number; tick 0 is the state before the first step.
pub type Tick = u32;

/// Someone taking part in one match (a player or a server bot), as the game
/// and the wire name them. Assigned by the engine, never reused within a
/// match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntityId(pub u16);

/// A team inside one match, numbered from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TeamId(pub u8);
