//! Any bytes as a client message and, when they decode as an `input`, its
//! controls through each game's check (the only place a client's numbers
//! enter a game): an input or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skirmish_arena::ArenaMatch;
use skirmish_hill::HillMatch;
use skirmish_shared::game::Game;
use skirmish_shared::proto::ClientMsg;
use std::path::Path;
use std::sync::OnceLock;

fn assets() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets"))
}

fuzz_target!(|data: &[u8]| {
    static ARENA: OnceLock<<ArenaMatch as Game>::Config> = OnceLock::new();
    static HILL: OnceLock<<HillMatch as Game>::Config> = OnceLock::new();
    let arena = ARENA.get_or_init(|| skirmish_arena::load(assets(), 30, None).expect("the arena"));
    let hill = HILL.get_or_init(|| skirmish_hill::load(assets(), 30, None).expect("the hill"));
    if let Ok(ClientMsg::Input { input, .. }) = skirmish_shared::codec::decode_client(data) {
        let _ = ArenaMatch::decode_input(arena, &input);
        let _ = HillMatch::decode_input(hill, &input);
    }
});
