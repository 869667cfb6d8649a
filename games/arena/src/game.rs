//! [`ArenaMatch`]: the arena shooter behind the engine's [`Game`] trait.

use crate::brain::{Arena, Behavior, Brain};
use crate::entities::{self, Quantizers};
use crate::geom::Vec2;
use crate::rules::{AssetError, Map, Rules};
use crate::sim::{Event, GameSpec, Input, JoinError, World};
use crate::wire::{self, MapView, RulesView, Setup};
use skirmish_shared::game::{
    AdmitError, Control, EntityId, Game, GameData, InputError, RestoreError, Standing, Stat,
    TeamId, Tick,
};
use skirmish_shared::replication::{Frame, Interest, Schema};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Loads the arena's rules (`rules.toml`) and map (`maps/arena.toml`) from
/// `assets`, for matches stepped `tick_rate` times a second; `match_seconds`
/// overrides the rules' match length (for demos and tests).
pub fn load(
    assets: &Path,
    tick_rate: u16,
    match_seconds: Option<u32>,
) -> Result<GameSpec, AssetError> {
    load_variant(assets, &BTreeMap::new(), tick_rate, match_seconds)
}

/// The files a variant of the arena may read instead of its own (see
/// [`load_variant`]).
pub const FILES: &[&str] = &["rules", "map"];

/// [`load`], reading `files` (full paths, by their [`FILES`] names: `rules`
/// and `map`) instead of the arena's own where given; other names are
/// ignored.
pub fn load_variant(
    assets: &Path,
    files: &BTreeMap<String, PathBuf>,
    tick_rate: u16,
    match_seconds: Option<u32>,
) -> Result<GameSpec, AssetError> {
    let file = |name: &str, own: &str| files.get(name).cloned().unwrap_or_else(|| assets.join(own));
    load_files(
        &file("rules", "rules.toml"),
        &file("map", "maps/arena.toml"),
        tick_rate,
        match_seconds,
    )
}

/// [`load`] from a rules file and a map file of any name.
pub fn load_files(
    rules: &Path,
    map: &Path,
    tick_rate: u16,
    match_seconds: Option<u32>,
) -> Result<GameSpec, AssetError> {
    let mut rules = Rules::load(rules)?;
    if let Some(seconds) = match_seconds {
        rules.match_rules.duration_s = seconds;
        rules.validate("--match-seconds")?;
    }
    let map = Map::load(map, &rules)?;
    GameSpec::new(rules, map, tick_rate)
}

/// One arena match: the [`World`], what happened in its last tick, and the
/// map as bots see it.
#[derive(Debug)]
pub struct ArenaMatch {
    world: World,
    events: Vec<Event>,
    /// The walls, for server bots' line-of-sight checks.
    arena: Arena,
    /// How positions and angles are quantised for replication.
    quant: Quantizers,
}

impl ArenaMatch {
    /// The simulation, for tests and benchmarks.
    pub fn world(&self) -> &World {
        &self.world
    }
}

impl Game for ArenaMatch {
    type Config = GameSpec;
    type Input = Input;
    type Bot = Brain;

    const ID: &'static str = "arena";
    const STATS: &'static [&'static str] = &["kills", "deaths", "score"];
    const TEAMS: u8 = 0;

    fn max_players(config: &GameSpec) -> u8 {
        config.rules.match_rules.max_players
    }

    fn new(config: Arc<GameSpec>, seed: u64) -> Self {
        ArenaMatch {
            arena: Arena::of_map(&config.map),
            quant: Quantizers::of(&entities::schema(&config)),
            world: World::new(config, seed),
            events: Vec::new(),
        }
    }

    fn tick(&self) -> Tick {
        self.world.tick()
    }

    fn admit(&mut self, id: EntityId, _team: Option<TeamId>) -> Result<Option<TeamId>, AdmitError> {
        match self.world.add_player(id) {
            Ok(_) => Ok(None),
            Err(JoinError::Full) => Err(AdmitError::Full),
            // The engine never reuses an id, so a duplicate means the same
            // body: nothing to add.
            Err(JoinError::Duplicate) => Ok(None),
            Err(JoinError::Over) => Err(AdmitError::Over),
        }
    }

    fn remove(&mut self, id: EntityId) {
        self.world.remove_player(id);
    }

    fn decode_input(_config: &GameSpec, data: &GameData) -> Result<Input, InputError> {
        wire::decode_input(data)
    }

    /// A trigger pulled in either of two folded inputs fires, even if the
    /// later one let it go.
    fn merge_inputs(older: Input, newer: Input) -> Input {
        newer.with_fire(newer.fire() || older.fire())
    }

    /// Shots are judged where their shooter saw the targets, up to the
    /// rules' `lag_compensation.max_rewind_ms`.
    fn rewind_limit(config: &GameSpec) -> Tick {
        config.rewind_ticks()
    }

    fn step(&mut self, inputs: &[Control<Input>]) {
        self.events.clear();
        let tick = self.world.tick() + 1;
        self.world.step(tick, inputs, &mut self.events);
    }

    fn setup(&self) -> GameData {
        let spec = self.world.spec();
        GameData::of(&Setup {
            map: MapView::of(&spec.map),
            rules: RulesView::of(&spec.rules),
        })
    }

    fn schema(config: &GameSpec) -> Schema {
        entities::schema(config)
    }

    fn replicate(&self, frame: &mut Frame) {
        entities::write(&self.world, &self.events, &self.quant, frame);
    }

    /// Players and shots within the rules' view radius of the viewer.
    fn interest(&self, viewer: EntityId) -> Interest {
        entities::interest(&self.world, viewer)
    }

    fn end(&self) -> Option<&'static str> {
        self.world.outcome().map(wire::end_reason)
    }

    fn standings(&self) -> Vec<Standing> {
        self.world
            .standings()
            .into_iter()
            .map(|s| Standing {
                id: s.id,
                placement: s.placement,
                team: None,
                stats: vec![
                    Stat {
                        name: "kills",
                        value: i64::from(s.kills),
                    },
                    Stat {
                        name: "deaths",
                        value: i64::from(s.deaths),
                    },
                    Stat {
                        name: "score",
                        value: i64::from(s.score),
                    },
                ],
            })
            .collect()
    }

    /// A match's bots take turns at the three behaviours.
    fn new_bot(&self, _id: EntityId, nth: usize, seed: u64) -> Brain {
        Brain::new(Behavior::ALL[nth % Behavior::ALL.len()], seed)
    }

    /// A dead bot sends nothing until it is back.
    fn bot_input(&self, bot: &mut Brain, id: EntityId) -> Option<Input> {
        let me = self.world.player(id).filter(|p| p.alive).map(|p| p.pos)?;
        let enemies: Vec<Vec2> = self
            .world
            .players()
            .iter()
            .filter(|p| p.alive && p.id != id)
            .map(|p| p.pos)
            .collect();
        Some(bot.decide(me, &self.arena, &enemies, self.world.spec().tick_rate))
    }

    fn save(&self) -> Vec<u8> {
        postcard::to_stdvec(&self.world.save()).expect("a world always serialises")
    }

    fn restore(config: Arc<GameSpec>, saved: &[u8]) -> Result<Self, RestoreError> {
        let saved = postcard::from_bytes(saved).map_err(|e| RestoreError(e.to_string()))?;
        let world = World::restore(Arc::clone(&config), saved).map_err(RestoreError)?;
        Ok(ArenaMatch {
            arena: Arena::of_map(&config.map),
            quant: Quantizers::of(&entities::schema(&config)),
            world,
            events: Vec::new(),
        })
    }

    fn state_hash(&self) -> u64 {
        self.world.state_hash()
    }
}
