//! One bot playing the whole single-node flow: log in, quick-play, play
//! with the shared [`Brain`] once per tick, read the results, play again
//! until its time is up.

use crate::client::{ClientError, Connection, Incoming, login};
use skirmish_shared::brain::{Arena, Behavior, Brain};
use skirmish_shared::geom::Vec2;
use skirmish_shared::proto::{ClientMsg, ServerMsg, dequantize_pos};
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

/// What one bot does.
#[derive(Clone, Debug)]
pub struct BotConfig {
    /// Node base URL, e.g. `http://127.0.0.1:8080`.
    pub base_url: String,
    /// Display name.
    pub name: String,
    /// Seeds the bot's brain.
    pub seed: u64,
    /// How long to keep playing.
    pub duration: Duration,
}

/// What one bot saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BotStats {
    /// Matches whose results arrived.
    pub matches_completed: u32,
    /// Snapshots received.
    pub snapshots: u64,
    /// Inputs sent.
    pub inputs: u64,
    /// Payload bytes received.
    pub bytes_down: u64,
    /// Payload bytes sent.
    pub bytes_up: u64,
    /// Error messages from the node, by code.
    pub errors: Vec<String>,
}

/// The match a bot is in.
struct InMatch {
    you: u16,
    arena: Arena,
    seq: u32,
    me: Option<Vec2>,
    enemies: Vec<Vec2>,
}

/// Plays until the configured duration ends; the connection is closed
/// normally at the end.
pub async fn run_bot(http: &reqwest::Client, config: &BotConfig) -> Result<BotStats, ClientError> {
    let session = login(http, &config.base_url, &config.name).await?;
    let mut conn = Connection::connect(&config.base_url, &session.token).await?;
    let mut stats = BotStats::default();
    let mut brain = Brain::new(Behavior::Wander, config.seed);
    let end = Instant::now() + config.duration;
    let tick_rate = match conn.recv().await? {
        Incoming::Msg(ServerMsg::Welcome { tick_rate, .. }) => tick_rate,
        other => {
            return Err(ClientError::Decode(format!(
                "expected welcome, got {other:?}"
            )));
        }
    };
    conn.send(&ClientMsg::Play).await?;
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / u32::from(tick_rate));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut current: Option<InMatch> = None;

    loop {
        tokio::select! {
            () = tokio::time::sleep_until(end) => break,
            _ = ticker.tick() => {
                let Some(m) = current.as_mut() else { continue };
                let Some(me) = m.me else { continue };
                let input = brain.decide(me, &m.arena, &m.enemies, tick_rate);
                m.seq += 1;
                conn.send(&ClientMsg::Input {
                    seq: m.seq,
                    move_x: input.move_dir.x,
                    move_y: input.move_dir.y,
                    aim: input.aim,
                    fire: input.fire,
                })
                .await?;
                stats.inputs += 1;
            }
            incoming = conn.recv() => match incoming? {
                Incoming::Msg(ServerMsg::Joined { you, map, .. }) => {
                    current = Some(InMatch { you, arena: Arena::of_view(&map), seq: 0, me: None, enemies: Vec::new() });
                }
                Incoming::Msg(ServerMsg::Snapshot { players, .. }) => {
                    stats.snapshots += 1;
                    if let Some(m) = current.as_mut() {
                        m.enemies.clear();
                        m.me = None;
                        for p in players.iter().filter(|p| p.health > 0) {
                            let pos = Vec2::new(dequantize_pos(p.x), dequantize_pos(p.y));
                            if p.id == m.you { m.me = Some(pos) } else { m.enemies.push(pos) }
                        }
                    }
                }
                Incoming::Msg(ServerMsg::MatchEnd { .. }) => {
                    stats.matches_completed += 1;
                    current = None;
                    if Instant::now() < end {
                        conn.send(&ClientMsg::Play).await?;
                    }
                }
                Incoming::Msg(ServerMsg::Error { code, .. }) => stats.errors.push(code.to_string()),
                Incoming::Msg(_) => {}
                Incoming::Closed(frame) => {
                    return Err(ClientError::Connect(format!("closed by the node: {frame:?}")));
                }
            }
        }
    }
    stats.bytes_down = conn.bytes_down;
    stats.bytes_up = conn.bytes_up;
    conn.close().await;
    Ok(stats)
}
