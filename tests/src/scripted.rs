//! Players that follow a script every tick, for tests that reason about
//! what happens in a match.

use crate::Player;
use skirmish_arena::entities::{ArenaEvent, PlayerState};
use skirmish_arena::wire::input_data;
use skirmish_client_sim::Incoming;
use skirmish_shared::proto::{ClientMsg, MatchId, ResultLine, RosterEntry, ServerMsg};
use std::time::Duration;

/// What a scripted player saw.
#[derive(Debug, Default)]
pub struct Log {
    /// Own id in snapshots.
    pub you: u16,
    /// The match, once over.
    pub match_id: Option<MatchId>,
    /// `(tick, ack, players, events)` per snapshot.
    pub snapshots: Vec<(u32, u32, Vec<PlayerState>, Vec<ArenaEvent>)>,
    /// The latest roster.
    pub roster: Vec<RosterEntry>,
    /// Inputs sent.
    pub last_seq: u32,
    /// Why the match ended, and the results.
    pub end: Option<(String, Vec<ResultLine>)>,
}

impl Log {
    /// Own state in snapshot number `snapshot`.
    pub fn me(&self, snapshot: usize) -> &PlayerState {
        self.snapshots[snapshot]
            .2
            .iter()
            .find(|p| p.id == self.you)
            .expect("own entry")
    }
}

/// What the script sees each tick: its id, the latest players and roster.
#[derive(Debug)]
pub struct View<'a> {
    /// Own id.
    pub you: u16,
    /// The latest snapshot's tick.
    pub tick: u32,
    /// The latest snapshot's players.
    pub players: &'a [PlayerState],
    /// The latest roster.
    pub roster: &'a [RosterEntry],
}

/// `(move_x, move_y, aim, fire)`.
pub type Controls = (f32, f32, f32, bool);

/// Plays until the match ends, sending the script's controls every tick;
/// gives the player back, still connected.
pub async fn play(
    player: Player,
    script: impl FnMut(&View<'_>) -> Controls + Send,
) -> (Log, Player) {
    play_with(player, script, false).await
}

/// [`play`], saying in each input that the player was shown the latest
/// snapshot (`shown`, for lag compensation), as a client that draws
/// others without an interpolation delay would.
pub async fn play_showing(
    player: Player,
    script: impl FnMut(&View<'_>) -> Controls + Send,
) -> (Log, Player) {
    play_with(player, script, true).await
}

async fn play_with(
    mut player: Player,
    mut script: impl FnMut(&View<'_>) -> Controls + Send,
    show: bool,
) -> (Log, Player) {
    let mut log = Log {
        you: player.play().await,
        ..Log::default()
    };
    let mut ticker = tokio::time::interval(Duration::from_millis(33));
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let Some((tick, _, players, _)) = log.snapshots.last() else { continue };
                let (move_x, move_y, aim, fire) = script(&View { you: log.you, tick: *tick, players, roster: &log.roster });
                log.last_seq += 1;
                let shown = show.then_some(*tick);
                player
                    .conn
                    .send(&ClientMsg::Input { shown, earlier: Vec::new(), seq: log.last_seq, tick: player.conn.ack(), input: input_data(move_x, move_y, aim, fire) })
                    .await
                    .expect("send input");
            }
            incoming = player.conn.recv() => match incoming.expect("readable") {
                Incoming::Msg(ServerMsg::Snapshot { tick, ack, .. }) => {
                    let replica = player.conn.replica().expect("joined first");
                    let (_, state) = replica.latest().expect("just decoded");
                    let players = skirmish_arena::entities::players(state, replica.schema());
                    let events = skirmish_arena::entities::events(replica.events());
                    log.snapshots.push((tick, ack, players, events));
                }
                Incoming::Msg(ServerMsg::Roster { players }) => log.roster = players,
                Incoming::Msg(ServerMsg::MatchEnd { match_id, reason, results }) => {
                    log.match_id = Some(match_id);
                    log.end = Some((reason, results));
                    return (log, player);
                }
                Incoming::Msg(ServerMsg::Error { code, message }) => panic!("error {code}: {message}"),
                Incoming::Msg(_) => {}
                Incoming::Closed(frame) => panic!("closed mid-match: {frame:?}"),
            }
        }
    }
}

/// A player by name.
pub fn find<'a>(view: &'a View<'_>, name: &str) -> Option<&'a PlayerState> {
    let id = view.roster.iter().find(|r| r.name == name)?.id;
    view.players.iter().find(|p| p.id == id)
}

/// A player's position in arena units.
pub fn pos(p: &PlayerState) -> (f32, f32) {
    (p.x, p.y)
}

/// A script that closes in on the player named `target` and fires at it
/// from 300 units.
pub fn shooter(target: &'static str) -> impl FnMut(&View<'_>) -> Controls + Send {
    move |view| {
        let (Some(me), Some(them)) = (
            view.players.iter().find(|p| p.id == view.you),
            find(view, target),
        ) else {
            return (0.0, 0.0, 0.0, false);
        };
        let ((mx, my), (tx, ty)) = (pos(me), pos(them));
        let (dx, dy) = (tx - mx, ty - my);
        let dist = (dx * dx + dy * dy).sqrt().max(1.0);
        let aim = dy.atan2(dx);
        if dist > 300.0 {
            (dx / dist, dy / dist, aim, false)
        } else {
            (0.0, 0.0, aim, true)
        }
    }
}
