//! The arena through the engine's `Game` trait, as the match runner drives
//! it: replay determinism, save and restore, and input checks
//! (`replication.rs` covers what it replicates).

use skirmish_arena::ArenaMatch;
use skirmish_arena::sim::Input;
use skirmish_arena::wire::input_data;
use skirmish_shared::game::{Game, GameData, InputError};

mod common;

use common::{match_of_bots, spec, step};

/// The state hash every 1,000 ticks over 10,000.
fn hashes(seed: u64) -> Vec<u64> {
    let (mut game, mut bots) = match_of_bots(seed);
    let mut out = Vec::new();
    for _ in 0..10 {
        for _ in 0..1000 {
            step(&mut game, &mut bots);
        }
        out.push(game.state_hash());
    }
    assert_eq!(game.tick(), 10_000);
    out
}

#[test]
fn ten_thousand_ticks_replay_identically_from_the_seed() {
    let first = hashes(7);
    assert_eq!(first, hashes(7), "the same seed and bots replay the same");
    assert_ne!(first, hashes(8), "another seed plays another match");
    let (game, _) = {
        let (mut game, mut bots) = match_of_bots(7);
        for _ in 0..10_000 {
            step(&mut game, &mut bots);
        }
        (game, bots)
    };
    // Something happened: bots that stood still would replay trivially.
    let kills: i64 = game
        .standings()
        .iter()
        .flat_map(|s| s.stats.iter().filter(|st| st.name == "kills"))
        .map(|st| st.value)
        .sum();
    assert!(kills > 10, "eight bots over 10,000 ticks killed {kills}");
}

#[test]
fn a_match_saved_and_restored_plays_on_exactly_as_one_that_never_stopped() {
    let (mut straight, mut bots) = match_of_bots(11);
    let (mut stopped, mut stopped_bots) = match_of_bots(11);
    for _ in 0..2500 {
        step(&mut straight, &mut bots);
        step(&mut stopped, &mut stopped_bots);
    }
    let saved = stopped.save();
    drop(stopped);
    let mut restored = ArenaMatch::restore(spec(), &saved).expect("a save restores");
    assert_eq!(restored.tick(), 2500);
    assert_eq!(restored.state_hash(), straight.state_hash());
    // Bots keep their own memory (the engine's, not the game's), so the same
    // brains drive both on from here.
    for _ in 2500..10_000 {
        step(&mut straight, &mut bots);
        step(&mut restored, &mut stopped_bots);
    }
    assert_eq!(restored.state_hash(), straight.state_hash());
    assert_eq!(restored.standings(), straight.standings());
    assert!(
        ArenaMatch::restore(spec(), &saved[..saved.len() / 2]).is_err(),
        "a cut save is refused"
    );
}

#[test]
fn inputs_are_checked_as_protocol_section_12_says() {
    let spec = spec();
    let decode = |data: &GameData| ArenaMatch::decode_input(&spec, data);
    let value = |v: rmpv::Value| GameData(v);
    use rmpv::Value;
    let ok = decode(&input_data(1.0, -0.5, 1.5, true)).expect("valid");
    assert_eq!(ok, Input::new(1.0, -0.5, 1.5, true).expect("valid"));
    // JavaScript encoders write whole numbers as integers and others as float64.
    let js = value(Value::Array(vec![
        1.into(),
        (-1).into(),
        Value::F64(0.25),
        false.into(),
    ]));
    assert_eq!(
        decode(&js),
        Ok(Input::new(1.0, -1.0, 0.25, false).expect("valid"))
    );
    for bad in [
        Value::Nil,
        Value::Array(vec![]),
        Value::Array(vec![1.into(), 1.into(), 1.into()]),
        Value::Array(vec![1.into(), 1.into(), 1.into(), 1.into()]),
        Value::Array(vec!["x".into(), 1.into(), 1.into(), true.into()]),
        Value::Array(vec![1.into(), 1.into(), 1.into(), true.into(), 5.into()]),
    ] {
        assert!(
            matches!(decode(&value(bad.clone())), Err(InputError::Malformed(_))),
            "{bad:?}"
        );
    }
    assert_eq!(
        decode(&input_data(f32::NAN, 0.0, 0.0, false)),
        Err(InputError::NotFinite("move_x"))
    );
    assert_eq!(
        decode(&input_data(0.0, 0.0, 10.0, false)),
        Err(InputError::OutOfRange("aim"))
    );
    assert_eq!(
        decode(&input_data(0.0, 1.5, 0.0, false)),
        Err(InputError::OutOfRange("move_y"))
    );
}
