//! The arena shooter, Skirmish's first game: a top-down free-for-all where
//! players move, aim and shoot, pick up health packs, and the first to the
//! kill limit (or the best when the clock runs out) wins.
//!
//! [`ArenaMatch`] implements the engine's [`skirmish_shared::game::Game`];
//! everything else here is the game's own: its rules and map files
//! ([`rules`]), geometry ([`geom`]), the deterministic simulation ([`sim`]),
//! its part of the wire protocol ([`wire`]), what it replicates
//! ([`entities`]) and the bot brain ([`brain`])
//! that server bots and `skirmish-bots` share. Pure, like `shared`: no
//! tokio, no sockets, no clocks.

pub mod brain;
pub mod entities;
mod game;
pub mod geom;
pub mod rules;
pub mod sim;
pub mod wire;

pub use game::{ArenaMatch, FILES, load, load_files, load_variant};
