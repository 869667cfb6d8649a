//! King of the hill, Skirmish's second game and the worked example of
//! writing one: two teams on an open field, a hill in its middle that a
//! team alone on it holds, a point for every second held; players move and
//! shove enemies away. The first team to the score limit (or the better
//! one when the clock runs out) wins, and every member shares the team's
//! placement and rating change.
//!
//! [`HillMatch`] (`game.rs`) implements [`skirmish_shared::game::Game`];
//! the rest is the game's own: rules from `assets/hill.toml` ([`rules`]),
//! the simulation ([`sim`]), its part of the protocol ([`wire`]), what it
//! replicates ([`entities`]) and its bot
//! ([`brain`]).

pub mod brain;
pub mod entities;
mod game;
pub mod rules;
pub mod sim;
pub mod wire;

pub use game::{FILES, HillMatch, load, load_variant};
