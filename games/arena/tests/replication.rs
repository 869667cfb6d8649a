//! What the arena replicates: its schema, the entities it writes each tick
//! as the engine's replicator sends them, and who sees what.

mod common;

use common::{match_of_bots, match_of_n_bots, spec_64, spec_for, step};
use skirmish_arena::ArenaMatch;
use skirmish_arena::entities::{CLOCK, PACK, PLAYER, POSITION_STEP, PROJECTILE};
use skirmish_shared::game::{EntityId, Game};
use skirmish_shared::replication::{EntityRef, Frame, Layout, Mirror, Replicator, Visible};
use std::collections::HashMap;
use std::sync::Arc;

/// The frame the game writes now.
fn frame_of(game: &ArenaMatch) -> Frame {
    let mut frame = Frame::default();
    game.replicate(&mut frame);
    frame.finish();
    frame
}

#[test]
fn the_schema_is_valid_and_every_entity_fits_it() {
    let (mut game, mut bots) = match_of_bots(5);
    let schema = ArenaMatch::schema(game.world().spec());
    schema.check().expect("a valid schema");
    for _ in 0..600 {
        step(&mut game, &mut bots);
        schema
            .fits(&frame_of(&game))
            .expect("every entity fits the schema");
    }
}

#[test]
fn decoded_positions_are_within_half_a_step_of_the_world() {
    let (mut game, mut bots) = match_of_bots(9);
    for _ in 0..300 {
        step(&mut game, &mut bots);
    }
    let schema = ArenaMatch::schema(game.world().spec());
    let frame = frame_of(&game);
    let mut bytes = Vec::new();
    skirmish_shared::replication::write_delta(
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
    let x = schema.kinds[usize::from(PLAYER)].fields[0].quant;
    let mut players = 0;
    for p in game.world().players() {
        let e = mirror
            .get(skirmish_shared::replication::Key::new(
                PLAYER,
                u32::from(p.id.0),
            ))
            .expect("every player is sent");
        assert!((x.dequantize(e.fields[0]) - p.pos.x).abs() <= POSITION_STEP / 2.0 + 1e-3);
        assert!((x.dequantize(e.fields[1]) - p.pos.y).abs() <= POSITION_STEP / 2.0 + 1e-3);
        assert_eq!(e.fields[3], u32::from(p.health));
        players += 1;
    }
    assert_eq!(players, 8);
    assert_eq!(
        mirror.of_kind(PACK).count(),
        game.world().health_packs().len()
    );
    assert_eq!(mirror.of_kind(CLOCK).count(), 1);
}

/// Runs `game` for `ticks` with a replicator: every viewer acknowledges
/// each snapshot at once, and each check sees the viewer's decoded state,
/// the frame and the world.
fn replicate_for(
    game: &mut ArenaMatch,
    bots: &mut [(EntityId, skirmish_arena::brain::Brain)],
    ticks: u32,
    mut check: impl FnMut(&ArenaMatch, EntityId, &Mirror, &Frame),
) -> HashMap<EntityId, u64> {
    let schema = Arc::new(ArenaMatch::schema(game.world().spec()));
    let layout = Layout::of(&schema);
    let mut rep = Replicator::new(Arc::clone(&schema));
    let viewers: Vec<EntityId> = bots.iter().map(|(id, _)| *id).collect();
    let mut mirrors: HashMap<EntityId, HashMap<u32, Mirror>> = HashMap::new();
    let mut bytes_sent: HashMap<EntityId, u64> = HashMap::new();
    for _ in 0..ticks {
        step(game, bots);
        let tick = game.tick();
        game.replicate(rep.frame_mut());
        rep.commit(tick);
        for &viewer in &viewers {
            let mut bytes = Vec::new();
            let base = rep.write(viewer, game.interest(viewer), &mut bytes);
            *bytes_sent.entry(viewer).or_default() += bytes.len() as u64;
            let known = mirrors.entry(viewer).or_default();
            let start = base.map_or_else(Mirror::default, |b| known[&b].clone());
            let mirror = start.apply(&layout, &bytes).expect("decodes");
            let (_, frame) = rep.latest().expect("committed");
            check(game, viewer, &mirror, frame);
            known.retain(|t, _| *t + 4 > tick);
            known.insert(tick, mirror);
            rep.ack(viewer, tick);
        }
    }
    bytes_sent
}

#[test]
fn in_a_64_player_match_each_player_receives_exactly_what_is_in_its_view() {
    let spec = spec_for(64);
    let radius = spec.rules.interest.view_radius;
    assert!(radius > 0.0, "the shipped rules limit the view");
    let (mut game, mut bots) = match_of_n_bots(spec, 64, 21);
    let (mut hidden, mut seen) = (0u64, 0u64);
    replicate_for(&mut game, &mut bots, 240, |game, viewer, mirror, frame| {
        let me = game.world().player(viewer).expect("in the match").pos;
        // Where an entity is now, from the world (a shot's fields say where
        // it started).
        let distance = |e: EntityRef<'_>| {
            let at = match e.key.kind() {
                PLAYER => {
                    let p = game
                        .world()
                        .players()
                        .iter()
                        .find(|p| u32::from(p.id.0) == e.key.id());
                    p.expect("a player in the world").pos
                }
                _ => {
                    let s = game
                        .world()
                        .projectiles()
                        .iter()
                        .find(|s| u32::from(s.id) == e.key.id());
                    s.expect("a shot in the world").pos
                }
            };
            ((at.x - me.x).powi(2) + (at.y - me.y).powi(2)).sqrt()
        };
        for e in frame.iter() {
            let positioned = matches!(e.key.kind(), PLAYER | PROJECTILE);
            let received = mirror.get(e.key).is_some();
            if !positioned {
                assert!(received, "match-wide entities reach everyone");
                continue;
            }
            let d = distance(e);
            // A step of slack either way for quantisation at the edge.
            if d > radius + POSITION_STEP {
                assert!(!received, "{viewer:?} received {:?} at {d}", e.key);
                hidden += 1;
            } else if d < radius - POSITION_STEP {
                assert!(received, "{viewer:?} missed {:?} at {d}", e.key);
                seen += 1;
            }
        }
        assert!(
            mirror.iter().all(|e| frame.get(e.key).is_some()),
            "nothing lingers that is gone"
        );
    });
    assert!(
        hidden > 0 && seen > 0,
        "the views differ: {hidden} hidden, {seen} seen"
    );
}

/// Prints what the arena's snapshots cost, for the README's figures:
/// `cargo test -p skirmish-arena --test replication -- --nocapture bytes`.
#[test]
fn bytes_per_player_per_second_at_16_and_64_players() {
    let maps = [
        (16u16, spec_for(16), "the 16-player map"),
        (64, spec_for(64), "the 16-player map"),
        (64, spec_64(), "the 64-player variant's map"),
    ];
    for (players, spec, map) in maps {
        let (mut game, mut bots) = match_of_n_bots(spec, players, 33);
        // Past the opening, when everyone is fighting.
        for _ in 0..150 {
            step(&mut game, &mut bots);
        }
        let ticks = 300;
        let sent = replicate_for(&mut game, &mut bots, ticks, |_, _, _, _| {});
        let total: u64 = sent.values().sum();
        let per_player_s = total as f64 / f64::from(players) / (f64::from(ticks) / 30.0);
        println!(
            "arena, {players} players on {map}, acknowledged every tick: {:.0} B/s of snapshot data per player",
            per_player_s
        );
        assert!(total > 0);
    }
}
