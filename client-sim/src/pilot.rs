//! What a bot does inside a match, per game: read the setup from `joined`,
//! read where everyone is from snapshots, and decide each tick's controls
//! with the game's own bot brain. The rest of a bot (login, queueing,
//! reconnects, timing) is the same for every game.

use crate::client::ClientError;
use skirmish_arena::brain::{Arena, Behavior, Brain};
use skirmish_arena::geom::Vec2;
use skirmish_arena::wire::{self as arena, dequantize_pos, snapshot_players};
use skirmish_hill::brain as hill_brain;
use skirmish_hill::wire::{self as hill, POSITION_SCALE};
use skirmish_shared::codec::decode_server;
use skirmish_shared::game::GameData;
use skirmish_shared::proto::ServerMsg;

/// The game-specific part of a bot in a match.
#[derive(Debug)]
pub(crate) enum Pilot {
    /// The arena: walls for line of sight, the shared arena brain.
    Arena {
        /// The walls.
        arena: Arena,
        /// Its brain.
        brain: Box<Brain>,
        /// Own position, once seen alive.
        me: Option<Vec2>,
        /// Living enemies.
        enemies: Vec<Vec2>,
    },
    /// The hill: the field and the hill's brain.
    Hill {
        /// The field.
        setup: hill::Setup,
        /// Its brain.
        brain: Box<hill_brain::Brain>,
        /// Own position and team, once seen.
        me: Option<((f32, f32), u8)>,
        /// Bodies of the other team.
        enemies: Vec<(f32, f32)>,
    },
}

impl Pilot {
    /// The pilot for the game a `joined` names, with a brain seeded by
    /// `seed` (the arena's playing as `behavior`).
    pub(crate) fn of_joined(
        msg: &ServerMsg,
        behavior: Behavior,
        seed: u64,
    ) -> Result<Pilot, ClientError> {
        let ServerMsg::Joined { game, .. } = msg else {
            return Err(ClientError::Decode("not a `joined`".into()));
        };
        let missing = || ClientError::Decode(format!("a `joined` without the {game} setup"));
        match game.as_str() {
            "hill" => Ok(Pilot::Hill {
                setup: hill::Setup::of_joined(msg).ok_or_else(missing)?,
                brain: Box::new(hill_brain::Brain::new(seed)),
                me: None,
                enemies: Vec::new(),
            }),
            "arena" => Ok(Pilot::Arena {
                arena: Arena::of_view(&arena::Setup::of_joined(msg).ok_or_else(missing)?.map),
                brain: Box::new(Brain::new(behavior, seed)),
                me: None,
                enemies: Vec::new(),
            }),
            other => Err(ClientError::Decode(format!(
                "a game these bots cannot play: `{other}`"
            ))),
        }
    }

    /// Whether the bot has seen itself (and so can decide).
    pub(crate) fn sees_itself(&self) -> bool {
        match self {
            Pilot::Arena { me, .. } => me.is_some(),
            Pilot::Hill { me, .. } => me.is_some(),
        }
    }

    /// Reads where everyone is from a snapshot's bytes; `you` is the bot.
    pub(crate) fn observe(&mut self, you: u16, raw: &[u8]) {
        match self {
            Pilot::Arena { me, enemies, .. } => {
                let Some(players) = snapshot_players(raw) else {
                    return;
                };
                enemies.clear();
                *me = None;
                for p in players.iter().filter(|p| p.health > 0) {
                    let pos = Vec2::new(dequantize_pos(p.x), dequantize_pos(p.y));
                    if p.id == you {
                        *me = Some(pos);
                    } else {
                        enemies.push(pos);
                    }
                }
            }
            Pilot::Hill { me, enemies, .. } => {
                let Some(state) = decode_server(raw)
                    .ok()
                    .as_ref()
                    .and_then(hill::State::of_snapshot)
                else {
                    return;
                };
                let at = |p: &hill::PlayerView| {
                    (
                        f32::from(p.x) / POSITION_SCALE,
                        f32::from(p.y) / POSITION_SCALE,
                    )
                };
                *me = state
                    .players
                    .iter()
                    .find(|p| p.id == you)
                    .map(|p| (at(p), p.team));
                enemies.clear();
                if let Some((_, team)) = me {
                    let team = *team;
                    enemies.extend(state.players.iter().filter(|p| p.team != team).map(at));
                }
            }
        }
    }

    /// This tick's controls in the game's wire form, once the bot has seen
    /// itself.
    pub(crate) fn decide(&mut self, tick_rate: u16) -> Option<GameData> {
        match self {
            Pilot::Arena {
                arena,
                brain,
                me,
                enemies,
            } => {
                let input = brain.decide((*me)?, arena, enemies, tick_rate);
                Some(arena::input_data(
                    input.move_dir().x,
                    input.move_dir().y,
                    input.aim(),
                    input.fire(),
                ))
            }
            Pilot::Hill {
                setup,
                brain,
                me,
                enemies,
            } => {
                let (pos, _) = (*me)?;
                let input = brain.decide(
                    &hill_brain::View {
                        me: pos,
                        hill: ((setup.width / 2.0, setup.height / 2.0), setup.hill_radius),
                        enemies,
                        shove_range: 2.0 * setup.player_radius + setup.shove_reach,
                    },
                    tick_rate,
                );
                let (x, y) = input.direction();
                Some(hill::input_data(x, y, input.shove()))
            }
        }
    }
}
