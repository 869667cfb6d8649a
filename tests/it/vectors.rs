//! The shared test vectors for the browser's snapshot decoder:
//! `assets/web/test/vectors/replication.json`, written from real matches of
//! both games (server bots, a replicator, acknowledgements that come late
//! or not at all) with what each snapshot decodes to. The browser's unit
//! tests (`npm --prefix assets/web test`) decode every snapshot in it and
//! must get the same entities and events, so the JavaScript decoder cannot
//! drift from Rust's.
//!
//! This test fails when the file differs from what the code writes now;
//! `SKIRMISH_WRITE_VECTORS=1 cargo nextest run -p skirmish-tests vectors`
//! writes it afresh.

use serde_json::{Value, json};
use skirmish_arena::ArenaMatch;
use skirmish_hill::HillMatch;
use skirmish_shared::codec::{encode, write_snapshot};
use skirmish_shared::game::{Control, EntityId, Game};
use skirmish_shared::proto::{MatchId, ServerMsg};
use skirmish_shared::replication::{Layout, Mirror, Replicator};
use std::collections::BTreeMap;
use std::sync::Arc;

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../assets/web/test/vectors/replication.json"
);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One match of `G` with eight server bots for `ticks`, seen by the viewer
/// that is bot 1: its `joined`, then each snapshot message with what it
/// decodes to. The viewer acknowledges every third snapshot, two ticks late.
fn record<G: Game>(config: Arc<G::Config>, ticks: u32) -> Value {
    let schema = Arc::new(G::schema(&config));
    let layout = Layout::of(&schema);
    let mut game = G::new(config, 17);
    let mut bots: Vec<(EntityId, G::Bot)> = (1..=8u16)
        .map(|id| {
            let id = EntityId(id);
            game.admit(id, None).expect("room");
            (id, game.new_bot(id, usize::from(id.0) - 1, u64::from(id.0)))
        })
        .collect();
    let viewer = EntityId(1);
    let joined = ServerMsg::Joined {
        match_id: MatchId(1),
        you: viewer.0,
        tick: 0,
        game: G::ID.to_owned(),
        setup: game.setup(),
        schema: schema.as_ref().clone(),
    };
    let mut rep = Replicator::new(Arc::clone(&schema));
    let mut decoded: BTreeMap<u32, Mirror> = BTreeMap::new();
    let mut snapshots = Vec::new();
    for _ in 0..ticks {
        let inputs: Vec<_> = bots
            .iter_mut()
            .filter_map(|(id, bot)| Some(Control::new(*id, game.bot_input(bot, *id)?)))
            .collect();
        game.step(&inputs);
        let tick = game.tick();
        game.replicate(rep.frame_mut());
        rep.commit(tick);
        let mut data = Vec::new();
        let base = rep.write(viewer, game.interest(viewer), &mut data);
        let mut events = Vec::new();
        let start = base.map_or_else(Mirror::default, |b| decoded[&b].clone());
        let state = start
            .apply_with_events(&layout, &data, &mut events)
            .expect("decodes");
        let mut bytes = Vec::new();
        write_snapshot(tick, tick / 2, base, &data, &mut bytes);
        snapshots.push(json!({
            "bytes": hex(&bytes),
            "entities": state.iter().map(|e| json!([e.key.0, e.fields])).collect::<Vec<_>>(),
            "events": events,
        }));
        decoded.insert(tick, state);
        if tick % 3 == 0 && tick > 2 {
            rep.ack(viewer, tick - 2);
        }
    }
    json!({ "joined": hex(&encode(&joined)), "snapshots": snapshots })
}

fn vectors() -> Value {
    let assets = skirmish_tests::assets_dir();
    let arena = skirmish_arena::load(&assets, 30, None).expect("the arena's files");
    let hill = skirmish_hill::load(&assets, 30, None).expect("the hill's rules");
    json!({
        "arena": record::<ArenaMatch>(Arc::new(arena), 150),
        "hill": record::<HillMatch>(Arc::new(hill), 60),
    })
}

/// Fails unless the committed file at `path` is `vectors` as JSON; writes
/// it first with `SKIRMISH_WRITE_VECTORS` set.
pub(crate) fn committed_as_written(path: &str, vectors: &Value) {
    let now = serde_json::to_string(vectors).expect("json") + "\n";
    if std::env::var_os("SKIRMISH_WRITE_VECTORS").is_some() {
        std::fs::write(path, &now).expect("write the vectors");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == now,
        "{path} is out of date: run `SKIRMISH_WRITE_VECTORS=1 cargo nextest run -p skirmish-tests vectors` and commit it"
    );
}

#[test]
fn the_browser_decoder_vectors_are_what_the_replicator_writes() {
    committed_as_written(PATH, &vectors());
}
