//! Headless Skirmish clients: a protocol [`client`] (guest login and one
//! WebSocket connection) and [`bot`]s that play the whole flow with the
//! shared brain. The integration tests drive nodes with these; the
//! `skirmish-bots` binary runs many at once.
//!
//! Depends on `skirmish-shared`, never on the server.

pub mod bot;
pub mod client;

pub use client::{ClientError, Connection, Incoming, Session, login};
