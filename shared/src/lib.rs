//! What every Skirmish component shares: the game rules and map formats
//! ([`rules`]), the deterministic simulation ([`sim`]), the client <-> node
//! protocol ([`proto`]) and its MessagePack codec ([`codec`]).
//!
//! This crate is pure: no async runtime, no sockets, no clocks. The server
//! steps the simulation on its tick loop; bots and tests step or decode it
//! directly.

pub mod brain;
pub mod check;
pub mod codec;
pub mod geom;
pub mod proto;
pub mod rating;
pub mod rules;
pub mod sim;
