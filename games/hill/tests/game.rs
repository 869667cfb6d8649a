//! The hill through the engine's `Game` trait: replay determinism over
//! 10,000 ticks, save and restore, team placement and balance, inputs, and
//! what it replicates.

use skirmish_hill::HillMatch;
use skirmish_hill::brain::Brain;
use skirmish_hill::rules::Rules;
use skirmish_hill::sim::{Input, Spec};
use skirmish_hill::wire::{decode_input, input_data};
use skirmish_shared::game::{AdmitError, Control, EntityId, Game, GameData, InputError, TeamId};
use std::sync::Arc;

fn spec_with(edit: impl FnOnce(&mut Rules)) -> Arc<Spec> {
    let mut rules =
        Rules::from_toml(include_str!("../../../assets/hill.toml"), "hill.toml").expect("rules");
    edit(&mut rules);
    Arc::new(Spec {
        rules,
        tick_rate: 30,
    })
}

/// Long enough for 10,000 ticks, and nobody wins on score first.
fn long() -> Arc<Spec> {
    spec_with(|r| {
        r.match_rules.duration_s = 3600;
        r.match_rules.score_to_win_s = 3600;
        r.match_rules.max_players = 10;
    })
}

fn bots(spec: Arc<Spec>, seed: u64) -> (HillMatch, Vec<(EntityId, Brain)>) {
    let mut game = HillMatch::new(spec, seed);
    let bots = (1..=8u16)
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

fn step(game: &mut HillMatch, bots: &mut [(EntityId, Brain)]) {
    let inputs: Vec<Control<Input>> = bots
        .iter_mut()
        .filter_map(|(id, brain)| Some(Control::new(*id, game.bot_input(brain, *id)?)))
        .collect();
    game.step(&inputs);
}

fn hashes(seed: u64) -> Vec<u64> {
    let (mut game, mut bots) = bots(long(), seed);
    (0..10)
        .map(|_| {
            for _ in 0..1000 {
                step(&mut game, &mut bots);
            }
            game.state_hash()
        })
        .collect()
}

#[test]
fn ten_thousand_ticks_replay_identically_from_the_seed() {
    let first = hashes(5);
    assert_eq!(first, hashes(5));
    assert_ne!(first, hashes(6));
    let (mut game, mut bots) = bots(long(), 5);
    for _ in 0..10_000 {
        step(&mut game, &mut bots);
    }
    assert_eq!(game.tick(), 10_000);
    // Bots fight over the hill: both teams held it at times, and shoved.
    let scores = game.world().scores();
    assert!(scores[0] > 0 && scores[1] > 0, "{scores:?}");
    let shoves: u32 = game.world().players().iter().map(|p| p.shoves).sum();
    assert!(shoves > 10, "{shoves} shoves");
}

#[test]
fn a_match_saved_and_restored_plays_on_exactly_as_one_that_never_stopped() {
    let (mut straight, mut b1) = bots(long(), 9);
    let (mut stopped, mut b2) = bots(long(), 9);
    for _ in 0..3000 {
        step(&mut straight, &mut b1);
        step(&mut stopped, &mut b2);
    }
    let saved = stopped.save();
    drop(stopped);
    let mut restored = HillMatch::restore(long(), &saved).expect("restores");
    assert_eq!(restored.state_hash(), straight.state_hash());
    // A late joiner draws a spawn point from the match's generator, which
    // the save must have kept where it was.
    straight.admit(EntityId(20), None).expect("room");
    restored.admit(EntityId(20), None).expect("room");
    for _ in 3000..10_000 {
        step(&mut straight, &mut b1);
        step(&mut restored, &mut b2);
    }
    assert_eq!(restored.state_hash(), straight.state_hash());
    assert!(HillMatch::restore(long(), &saved[..saved.len() / 2]).is_err());
}

#[test]
fn teams_fill_evenly_honour_the_matchmaker_and_share_placements() {
    let spec = spec_with(|r| {
        r.match_rules.max_players = 4;
        r.match_rules.score_to_win_s = 1;
    });
    let mut game = HillMatch::new(Arc::clone(&spec), 1);
    assert_eq!(game.admit(EntityId(1), None), Ok(Some(TeamId(0))));
    assert_eq!(game.admit(EntityId(2), None), Ok(Some(TeamId(1))));
    assert_eq!(
        game.admit(EntityId(3), Some(TeamId(1))),
        Ok(Some(TeamId(1)))
    );
    assert_eq!(game.admit(EntityId(4), None), Ok(Some(TeamId(0))));
    assert_eq!(game.admit(EntityId(5), None), Err(AdmitError::Full));
    // Team 0 walks onto the hill alone and holds it for the second it needs.
    let (cx, cy) = (800.0, 500.0);
    for _ in 0..400 {
        let inputs: Vec<Control<Input>> = game
            .world()
            .players()
            .iter()
            .map(|p| {
                let (dx, dy) = (cx - p.x, cy - p.y);
                let d = (dx * dx + dy * dy).sqrt().max(1.0);
                let go = p.team == TeamId(0) && d > 10.0;
                Control::new(
                    p.id,
                    if go {
                        Input::new(dx / d, dy / d, false)
                    } else {
                        Input::default()
                    },
                )
            })
            .collect();
        game.step(&inputs);
        if game.end().is_some() {
            break;
        }
    }
    assert_eq!(game.end(), Some("captured"));
    let standings = game.standings();
    for s in &standings {
        let expected = if s.team == Some(TeamId(0)) { 1 } else { 2 };
        assert_eq!(s.placement, expected, "{s:?}");
    }
    assert_eq!(standings[0].placement, 1, "best first");
    assert_eq!(game.admit(EntityId(9), None), Err(AdmitError::Over));
}

#[test]
fn inputs_are_checked_as_protocol_section_13_says() {
    use rmpv::Value;
    assert_eq!(
        decode_input(&input_data(1.0, 0.0, true)),
        Ok(Input::new(1.0, 0.0, true))
    );
    let js = GameData(Value::Array(vec![
        (-1).into(),
        Value::F64(0.5),
        false.into(),
    ]));
    assert_eq!(decode_input(&js), Ok(Input::new(-1.0, 0.5, false)));
    for bad in [
        Value::Nil,
        Value::Array(vec![1.into(), 1.into()]),
        Value::Array(vec![1.into(), 1.into(), 1.into()]),
        Value::Array(vec![1.into(), 1.into(), true.into(), true.into()]),
        Value::Array(vec!["x".into(), 1.into(), true.into()]),
    ] {
        assert!(
            matches!(
                decode_input(&GameData(bad.clone())),
                Err(InputError::Malformed(_))
            ),
            "{bad:?}"
        );
    }
    assert_eq!(
        decode_input(&input_data(f32::INFINITY, 0.0, false)),
        Err(InputError::NotFinite("move_x"))
    );
    assert_eq!(
        decode_input(&input_data(0.0, -2.0, false)),
        Err(InputError::OutOfRange("move_y"))
    );
}

#[test]
fn what_it_replicates_fits_its_schema_and_decodes_to_the_field() {
    use skirmish_hill::entities::{FIELD, PLAYER, POSITION_STEP};
    use skirmish_shared::replication::{Frame, Key, Layout, Mirror, Visible, write_delta};
    let (mut game, mut bots) = bots(long(), 4);
    let schema = HillMatch::schema(&long());
    schema.check().expect("a valid schema");
    for _ in 0..450 {
        step(&mut game, &mut bots);
    }
    let mut frame = Frame::default();
    game.replicate(&mut frame);
    frame.finish();
    schema.fits(&frame).expect("every entity fits the schema");
    let mut bytes = Vec::new();
    write_delta(
        &Layout::of(&schema),
        None,
        &frame,
        &Visible::all(frame.len()),
        [],
        &mut bytes,
    );
    let mirror = Mirror::default()
        .apply(&Layout::of(&schema), &bytes)
        .expect("decodes");
    let x = schema.kinds[usize::from(PLAYER)].fields[1].quant;
    for p in game.world().players() {
        let e = mirror
            .get(Key::new(PLAYER, u32::from(p.id.0)))
            .expect("everyone is sent");
        assert_eq!(e.fields[0], u32::from(p.team.0));
        assert!((x.dequantize(e.fields[1]) - p.x).abs() <= POSITION_STEP / 2.0 + 1e-3);
        assert!((x.dequantize(e.fields[2]) - p.y).abs() <= POSITION_STEP / 2.0 + 1e-3);
    }
    let field = mirror.get(Key::new(FIELD, 0)).expect("the field");
    let [a, b] = game.world().scores();
    assert_eq!(&field.fields[..2], &[a, b]);
    assert!(a + b > 0, "someone held the hill in 15 s");
}
