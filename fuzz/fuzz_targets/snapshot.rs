//! Any bytes as a snapshot's data, decoded with the arena's schema against
//! nothing and against a state with entities of every kind: a new state or
//! an error, never a panic (what a client's decoder must survive from a
//! node it should not trust).
#![no_main]

use libfuzzer_sys::fuzz_target;
use skirmish_arena::ArenaMatch;
use skirmish_shared::game::Game;
use skirmish_shared::replication::{Frame, Layout, Mirror, Visible, write_delta};
use std::path::Path;
use std::sync::OnceLock;

struct Fixture {
    layout: Layout,
    known: Mirror,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let assets = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets"));
        let spec = skirmish_arena::load(assets, 30, None).expect("the arena");
        let layout = Layout::of(&ArenaMatch::schema(&spec));
        let mut game = ArenaMatch::new(std::sync::Arc::new(spec), 7);
        for id in 1..=4 {
            let _ = game.admit(skirmish_shared::game::EntityId(id), None);
        }
        let mut frame = Frame::default();
        game.replicate(&mut frame);
        frame.finish();
        let visible = Visible::all(frame.len());
        let mut bytes = Vec::new();
        write_delta(&layout, None, &frame, &visible, [], &mut bytes);
        let known = Mirror::default()
            .apply(&layout, &bytes)
            .expect("a full snapshot decodes");
        Fixture { layout, known }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let _ = Mirror::default().apply(&f.layout, data);
    let _ = f.known.apply(&f.layout, data);
});
