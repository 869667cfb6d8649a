//! What the arena's test files share: the shipped rules and map, and
//! matches of server bots stepped as the runner steps them.

#![allow(dead_code)]

use skirmish_arena::ArenaMatch;
use skirmish_arena::brain::Brain;
use skirmish_arena::rules::{Map, Rules};
use skirmish_arena::sim::{GameSpec, Input};
use skirmish_shared::game::{Control, EntityId, Game};
use std::sync::Arc;

/// The shipped rules and map, with a match long enough for 10,000 ticks.
pub fn spec() -> Arc<GameSpec> {
    spec_for(16)
}

/// The shipped 64-player variant (`rules-64.toml` on `maps/arena-64.toml`),
/// with a match long enough for 10,000 ticks.
pub fn spec_64() -> Arc<GameSpec> {
    long_spec(
        include_str!("../../../../assets/rules-64.toml"),
        include_str!("../../../../assets/maps/arena-64.toml"),
        64,
    )
}

/// [`spec`] for matches of up to `max_players`.
pub fn spec_for(max_players: u8) -> Arc<GameSpec> {
    long_spec(
        include_str!("../../../../assets/rules.toml"),
        include_str!("../../../../assets/maps/arena.toml"),
        max_players,
    )
}

/// Rules and a map, for matches of up to `max_players` long enough for
/// 10,000 ticks.
fn long_spec(rules: &str, map: &str, max_players: u8) -> Arc<GameSpec> {
    let mut rules = Rules::from_toml(rules, "rules").expect("shipped rules");
    rules.match_rules.duration_s = 3600;
    rules.match_rules.kill_limit = 100_000;
    rules.match_rules.max_players = max_players;
    let map = Map::from_toml(map, "map", &rules).expect("shipped map");
    Arc::new(GameSpec::new(rules, map, 30).expect("spec"))
}

/// A match of eight server bots, as a formed match backfills them.
pub fn match_of_bots(seed: u64) -> (ArenaMatch, Vec<(EntityId, Brain)>) {
    match_of_n_bots(spec(), 8, seed)
}

/// A match of `n` server bots.
pub fn match_of_n_bots(
    spec: Arc<GameSpec>,
    n: u16,
    seed: u64,
) -> (ArenaMatch, Vec<(EntityId, Brain)>) {
    let mut game = ArenaMatch::new(spec, seed);
    let bots = (1..=n)
        .map(|id| {
            let id = EntityId(id);
            game.admit(id, None).expect("room");
            (
                id,
                game.new_bot(id, usize::from(id.0) - 1, seed ^ u64::from(id.0)),
            )
        })
        .collect();
    (game, bots)
}

/// One tick as the runner steps it: every bot decides, then the game steps.
pub fn step(game: &mut ArenaMatch, bots: &mut [(EntityId, Brain)]) {
    let inputs: Vec<Control<Input>> = bots
        .iter_mut()
        .filter_map(|(id, brain)| Some(Control::new(*id, game.bot_input(brain, *id)?)))
        .collect();
    game.step(&inputs);
}
