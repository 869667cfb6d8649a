//! What every Skirmish component shares: the client <-> node protocol
//! ([`proto`]) and its MessagePack codec ([`codec`]), the [`game::Game`]
//! trait every game implements, settings checks ([`check`]) and rating math
//! ([`rating`]).
//!
//! This crate is pure: no async runtime, no sockets, no clocks. It knows no
//! game: games live in crates of their own and implement [`game::Game`].

pub mod check;
pub mod codec;
pub mod game;
pub mod ids;
pub mod proto;
pub mod rating;
pub mod replication;
pub mod stream_frame;
