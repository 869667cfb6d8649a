//! Integration tests across crates: real nodes on port 0, real WebSocket
//! clients, real Chromium. One binary, one module per area.

mod bad_input;
mod bots;
mod browser;
mod cluster;
mod drain;
mod game;
mod games;
mod hostile;
mod http;
mod leaderboard;
mod lobby;
mod matchmaking;
mod protocol_doc;
mod results;
mod scripts;
mod slow;
mod soak;
mod tls;
mod vectors;
mod webtransport;
