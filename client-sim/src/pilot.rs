//! What a bot does inside a match, per game: read the setup from `joined`,
//! read where everyone is from snapshots, and decide each tick's controls
//! with the game's own bot brain. The rest of a bot (login, queueing,
//! reconnects, timing) is the same for every game.

use crate::client::ClientError;
use crate::prediction::Prediction;
use skirmish_arena::brain::{Arena, Behavior, Brain};
use skirmish_arena::entities as arena_entities;
use skirmish_arena::geom::Vec2;
use skirmish_arena::wire as arena;
use skirmish_hill::brain as hill_brain;
use skirmish_hill::entities as hill_entities;
use skirmish_hill::wire as hill;
use skirmish_shared::game::GameData;
use skirmish_shared::proto::ServerMsg;
use skirmish_shared::replication::{Mirror, Schema};

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
        /// Its own movement, predicted.
        prediction: Prediction,
        /// Where the last decision wanted to go, for the prediction.
        dir: Vec2,
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
        tick_rate: u16,
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
            "arena" => {
                let setup = arena::Setup::of_joined(msg).ok_or_else(missing)?;
                Ok(Pilot::Arena {
                    arena: Arena::of_view(&setup.map),
                    brain: Box::new(Brain::new(behavior, seed)),
                    me: None,
                    enemies: Vec::new(),
                    prediction: Prediction::new(arena::ClientMovement::new(
                        &setup.map,
                        &setup.rules,
                        tick_rate,
                    )),
                    dir: Vec2::ZERO,
                })
            }
            other => Err(ClientError::Decode(format!(
                "a game these bots cannot play: `{other}`"
            ))),
        }
    }

    /// Reads where everyone is from a decoded snapshot; `you` is the bot.
    pub(crate) fn observe(&mut self, you: u16, state: &Mirror, schema: &Schema) {
        match self {
            Pilot::Arena { me, enemies, .. } => {
                enemies.clear();
                *me = None;
                for p in arena_entities::players(state, schema)
                    .into_iter()
                    .filter(|p| p.health > 0)
                {
                    let pos = Vec2::new(p.x, p.y);
                    if p.id == you {
                        *me = Some(pos);
                    } else {
                        enemies.push(pos);
                    }
                }
            }
            Pilot::Hill { me, enemies, .. } => {
                let players = hill_entities::players(state, schema);
                *me = players
                    .iter()
                    .find(|p| p.id == you)
                    .map(|p| ((p.x, p.y), p.team));
                enemies.clear();
                if let Some((_, team)) = me {
                    let team = *team;
                    enemies.extend(
                        players
                            .iter()
                            .filter(|p| p.team != team)
                            .map(|p| (p.x, p.y)),
                    );
                }
            }
        }
    }

    /// No controls, in the game's wire form: what a bot sends while it has
    /// nothing to decide (not seen itself yet, or dead), so its inputs, which
    /// acknowledge snapshots, keep coming every tick.
    pub(crate) fn idle(&self) -> GameData {
        match self {
            Pilot::Arena { .. } => arena::input_data(0.0, 0.0, 0.0, false),
            Pilot::Hill { .. } => hill::input_data(0.0, 0.0, false),
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
                dir,
                ..
            } => {
                *dir = Vec2::ZERO;
                let input = brain.decide((*me)?, arena, enemies, tick_rate);
                *dir = input.move_dir();
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

    /// The input numbered `seq` (the last decided, or idle) was sent.
    pub(crate) fn sent(&mut self, seq: u32) {
        if let Pilot::Arena {
            prediction, dir, ..
        } = self
        {
            prediction.input(seq, *dir);
            *dir = Vec2::ZERO;
        }
    }

    /// After [`Pilot::observe`] read a snapshot that acknowledged input
    /// `ack`: the prediction error, where the game's movement is predicted.
    pub(crate) fn reconcile(&mut self, ack: u32) -> Option<f32> {
        match self {
            Pilot::Arena { prediction, me, .. } => prediction.observe(ack, *me),
            Pilot::Hill { .. } => None,
        }
    }

    /// Inputs are numbered afresh (a new connection to the same match).
    pub(crate) fn forget_inputs(&mut self) {
        if let Pilot::Arena { prediction, .. } = self {
            prediction.forget_inputs();
        }
    }
}
