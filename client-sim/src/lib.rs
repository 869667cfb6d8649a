//! Headless Skirmish clients: a protocol [`client`] (guest login and one
//! WebSocket connection), [`bot`]s that play the whole flow with the shared
//! brain, and the [`swarm`] that runs thousands of them on one runtime and
//! [`report`]s latency, bandwidth and errors measured with [`stats`]; the
//! `skirmish-bots` command line is [`cli`].
//!
//! Depends on `skirmish-shared`, never on the server.

pub mod bot;
pub mod cli;
pub mod client;
pub mod error;
mod pilot;
pub mod prediction;
pub mod repeats;
pub mod replica;
pub mod report;
pub mod stats;
pub mod swarm;
pub mod tls;
pub mod wt;

pub use client::{ClientError, Connection, Incoming, Session, Transport, login};
pub use replica::{Replica, ReplicaError};
