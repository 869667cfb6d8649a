//! [`HillMatch`]: king of the hill behind the engine's [`Game`] trait. This
//! file is the whole seam: everything the engine asks of a game, answered
//! from the simulation in `sim.rs`.

use crate::brain::{Brain, View};
use crate::entities;
use crate::rules::{Rules, RulesError};
use crate::sim::{Input, Spec, World};
use crate::wire::{self, Setup};
use skirmish_shared::game::{
    AdmitError, Control, EntityId, Game, GameData, InputError, RestoreError, Standing, Stat,
    TeamId, Tick,
};
use skirmish_shared::replication::{Frame, Quant, Schema};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Loads the hill's rules (`hill.toml`) from `assets` for matches stepped
/// `tick_rate` times a second; `match_seconds` overrides the match length.
pub fn load(assets: &Path, tick_rate: u16, match_seconds: Option<u32>) -> Result<Spec, RulesError> {
    load_variant(assets, &BTreeMap::new(), tick_rate, match_seconds)
}

/// The files a variant of the hill may read instead of its own (see
/// [`load_variant`]).
pub const FILES: &[&str] = &["rules"];

/// [`load`], reading `files` (full paths, by their [`FILES`] names: `rules`)
/// instead of the hill's own where given; other names are ignored.
pub fn load_variant(
    assets: &Path,
    files: &BTreeMap<String, PathBuf>,
    tick_rate: u16,
    match_seconds: Option<u32>,
) -> Result<Spec, RulesError> {
    let rules = files
        .get("rules")
        .cloned()
        .unwrap_or_else(|| assets.join("hill.toml"));
    let mut rules = Rules::load(&rules)?;
    if let Some(seconds) = match_seconds {
        rules.match_rules.duration_s = seconds;
        rules.validate("--match-seconds")?;
    }
    Ok(Spec { rules, tick_rate })
}

/// One king-of-the-hill match.
#[derive(Debug)]
pub struct HillMatch {
    world: World,
    spec: Arc<Spec>,
    /// The `x` and `y` quantisers of the schema.
    axes: (Quant, Quant),
}

impl HillMatch {
    /// The simulation, for tests.
    pub fn world(&self) -> &World {
        &self.world
    }
}

impl Game for HillMatch {
    type Config = Spec;
    type Input = Input;
    type Bot = Brain;

    const ID: &'static str = "hill";
    const STATS: &'static [&'static str] = &["hill_s", "shoves", "team_score_s"];
    const TEAMS: u8 = 2;

    fn max_players(config: &Spec) -> u8 {
        config.rules.match_rules.max_players
    }

    fn new(config: Arc<Spec>, seed: u64) -> Self {
        HillMatch {
            world: World::new(Arc::clone(&config), seed),
            axes: axes(&config),
            spec: config,
        }
    }

    fn tick(&self) -> Tick {
        self.world.tick()
    }

    fn admit(&mut self, id: EntityId, team: Option<TeamId>) -> Result<Option<TeamId>, AdmitError> {
        if self.world.end().is_some() {
            return Err(AdmitError::Over);
        }
        self.world.add(id, team).map(Some).ok_or(AdmitError::Full)
    }

    fn remove(&mut self, id: EntityId) {
        self.world.remove(id);
    }

    fn decode_input(_config: &Spec, data: &GameData) -> Result<Input, InputError> {
        wire::decode_input(data)
    }

    /// A shove pressed in any input of the tick counts.
    fn merge_inputs(older: Input, newer: Input) -> Input {
        Input::new(newer.move_x, newer.move_y, newer.shove || older.shove)
    }

    fn step(&mut self, inputs: &[Control<Input>]) {
        self.world.step(inputs);
    }

    fn setup(&self) -> GameData {
        GameData::of(&Setup::of(&self.spec.rules))
    }

    fn schema(config: &Spec) -> Schema {
        entities::schema(config)
    }

    fn replicate(&self, frame: &mut Frame) {
        entities::write(&self.world, self.axes, frame);
    }

    fn end(&self) -> Option<&'static str> {
        self.world.end()
    }

    /// Team placements; each player's time on the hill and shoves.
    fn standings(&self) -> Vec<Standing> {
        let per_s = |ticks: u32| i64::from(ticks / u32::from(self.spec.tick_rate));
        let mut standings: Vec<Standing> = self
            .world
            .players()
            .iter()
            .map(|p| Standing {
                id: p.id,
                placement: self.world.placement(p.team),
                team: Some(p.team),
                stats: vec![
                    Stat {
                        name: "hill_s",
                        value: per_s(p.hill_ticks),
                    },
                    Stat {
                        name: "shoves",
                        value: i64::from(p.shoves),
                    },
                    Stat {
                        name: "team_score_s",
                        value: per_s(self.world.scores()[usize::from(p.team.0)]),
                    },
                ],
            })
            .collect();
        standings.sort_by_key(|s| (s.placement, s.team, std::cmp::Reverse(s.stats[0].value)));
        standings
    }

    fn new_bot(&self, _id: EntityId, _nth: usize, seed: u64) -> Brain {
        Brain::new(seed)
    }

    fn bot_input(&self, bot: &mut Brain, id: EntityId) -> Option<Input> {
        let me = self.world.players().iter().find(|p| p.id == id)?;
        let enemies: Vec<(f32, f32)> = self
            .world
            .players()
            .iter()
            .filter(|p| p.team != me.team)
            .map(|p| (p.x, p.y))
            .collect();
        let rules = &self.spec.rules;
        Some(bot.decide(
            &View {
                me: (me.x, me.y),
                hill: (self.spec.centre(), rules.hill.radius),
                enemies: &enemies,
                shove_range: 2.0 * rules.player.radius + rules.shove.reach,
            },
            self.spec.tick_rate,
        ))
    }

    fn save(&self) -> Vec<u8> {
        self.world.save()
    }

    fn restore(config: Arc<Spec>, saved: &[u8]) -> Result<Self, RestoreError> {
        let world = World::restore(Arc::clone(&config), saved).map_err(RestoreError)?;
        Ok(HillMatch {
            world,
            axes: axes(&config),
            spec: config,
        })
    }

    fn state_hash(&self) -> u64 {
        self.world.state_hash()
    }
}

/// The schema's `x` and `y` quantisers.
fn axes(spec: &Spec) -> (Quant, Quant) {
    let player = &entities::schema(spec).kinds[usize::from(entities::PLAYER)].fields;
    (player[1].quant, player[2].quant)
}
