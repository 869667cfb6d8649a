//! Keeps the byte dumps in `PROTOCOL.md` true: each dump is generated here
//! from a real message and compared with the document, and each documented
//! dump decodes back to that message. The examples of game data are the
//! shipped games' (the arena's and the hill's), which is why this lives with
//! the tests that know both.

use skirmish_arena::entities as arena;
use skirmish_arena::rules::{Map, Rules};
use skirmish_arena::sim::GameSpec;
use skirmish_arena::wire::input_data;
use skirmish_hill::entities as hill_entities;
use skirmish_hill::wire as hill;
use skirmish_shared::codec::{decode_client, decode_server, encode};
use skirmish_shared::game::EntityId;
use skirmish_shared::proto::*;
use skirmish_shared::replication::{Interest, Replicator, Schema};
use skirmish_shared::stream_frame::{self, Reader, Record};
use std::sync::Arc;

/// Whether bytes decode back to the example's message.
type Decodes = Box<dyn Fn(&[u8]) -> bool>;

/// The arena's schema with the shipped rules and map.
fn arena_schema() -> Schema {
    let rules = Rules::from_toml(include_str!("../../assets/rules.toml"), "rules.toml")
        .expect("shipped rules");
    let map = Map::from_toml(
        include_str!("../../assets/maps/arena.toml"),
        "arena.toml",
        &rules,
    )
    .expect("shipped map");
    arena::schema(&GameSpec::new(rules, map, 30).expect("spec"))
}

/// The hill's schema with the shipped rules.
fn hill_schema() -> Schema {
    let rules =
        skirmish_hill::rules::Rules::from_toml(include_str!("../../assets/hill.toml"), "hill.toml")
            .expect("shipped rules");
    hill_entities::schema(&skirmish_hill::sim::Spec {
        rules,
        tick_rate: 30,
    })
}

/// The arena's documented snapshots for one player: tick 300 in full (two
/// players, a shot, two packs, the clock and a kill), then tick 301 as a
/// delta against it (player 1 moved, the shot is gone, pack 1 is back).
fn arena_snapshots() -> (Vec<u8>, Vec<u8>) {
    let schema = Arc::new(arena_schema());
    let q = |kind: u8, field: usize, v: f32| {
        schema.kinds[usize::from(kind)].fields[field]
            .quant
            .quantize(v)
    };
    let mut rep = Replicator::new(Arc::clone(&schema));
    let me = EntityId(1);
    let player = |x: f32, y: f32, aim: f32, rest: [u32; 4]| {
        [
            q(arena::PLAYER, 0, x),
            q(arena::PLAYER, 1, y),
            q(arena::PLAYER, 2, aim),
            rest[0],
            rest[1],
            rest[2],
            rest[3],
        ]
    };
    let frame = rep.frame_mut();
    frame.push_at(
        arena::PLAYER,
        1,
        [150.0, 200.0],
        &player(150.0, 200.0, 0.5, [100, 2, 0, 2]),
    );
    frame.push_at(
        arena::PLAYER,
        2,
        [1000.0, 500.0],
        &player(1000.0, 500.0, 3.0, [0, 0, 1, 0]),
    );
    frame.push_at(
        arena::PROJECTILE,
        7,
        [190.0, 220.0],
        &[
            q(arena::PROJECTILE, 0, 175.0),
            q(arena::PROJECTILE, 1, 212.5),
            q(arena::PROJECTILE, 2, 0.5),
            298,
        ],
    );
    frame.push(arena::PACK, 0, &[1]);
    frame.push(arena::PACK, 1, &[0]);
    frame.push(arena::CLOCK, 0, &[3600]);
    frame.event(arena::KILL, &[1, 2]);
    rep.commit(300);
    let mut full = Vec::new();
    assert_eq!(rep.write(me, Interest::Everything, &mut full), None);
    rep.ack(me, 300);
    let frame = rep.frame_mut();
    frame.push_at(
        arena::PLAYER,
        1,
        [160.0, 200.0],
        &player(160.0, 200.0, 0.5, [100, 2, 0, 2]),
    );
    frame.push_at(
        arena::PLAYER,
        2,
        [1000.0, 500.0],
        &player(1000.0, 500.0, 3.0, [0, 0, 1, 0]),
    );
    frame.push(arena::PACK, 0, &[1]);
    frame.push(arena::PACK, 1, &[1]);
    frame.push(arena::CLOCK, 0, &[3600]);
    rep.commit(301);
    let mut delta = Vec::new();
    assert_eq!(rep.write(me, Interest::Everything, &mut delta), Some(300));
    (full, delta)
}

/// The hill's documented snapshot: tick 900 in full.
fn hill_snapshot_data() -> Vec<u8> {
    let schema = Arc::new(hill_schema());
    let x = schema.kinds[0].fields[1].quant;
    let mut rep = Replicator::new(Arc::clone(&schema));
    let frame = rep.frame_mut();
    frame.push(
        hill_entities::PLAYER,
        1,
        &[0, x.quantize(800.0), x.quantize(500.0)],
    );
    frame.push(
        hill_entities::PLAYER,
        2,
        &[1, x.quantize(900.0), x.quantize(500.0)],
    );
    frame.push(hill_entities::FIELD, 0, &[150, 90, 1, 3600]);
    rep.commit(900);
    let mut data = Vec::new();
    rep.write(EntityId(1), Interest::Everything, &mut data);
    data
}

/// The documented examples, by the name used in `<!-- dump: NAME -->`.
fn examples() -> Vec<(&'static str, Vec<u8>, Decodes)> {
    let play = ClientMsg::Play;
    let input = ClientMsg::Input {
        shown: None,
        earlier: Vec::new(),
        seq: 42,
        tick: 300,
        input: input_data(1.0, -0.5, 1.5, true),
    };
    let input_shown = ClientMsg::Input {
        shown: Some(296),
        earlier: Vec::new(),
        seq: 42,
        tick: 300,
        input: input_data(1.0, -0.5, 1.5, true),
    };
    let input_earlier = ClientMsg::Input {
        shown: None,
        earlier: vec![input_data(1.0, -0.5, 1.5, true); 2],
        seq: 43,
        tick: 301,
        input: input_data(1.0, -0.5, 1.5, true),
    };
    let ping = ClientMsg::Ping {
        client_time: 1234.5,
    };
    let welcome = ServerMsg::Welcome {
        protocol: PROTOCOL_VERSION,
        player_id: PlayerId(0x1f2e_3d4c_5b6a_7988),
        name: "Ada".into(),
        tick_rate: 30,
        resuming: false,
    };
    let (full, delta) = arena_snapshots();
    let snapshot = ServerMsg::Snapshot {
        tick: 300,
        ack: 41,
        base: None,
        data: Bin(full),
    };
    let snapshot_delta = ServerMsg::Snapshot {
        tick: 301,
        ack: 42,
        base: Some(300),
        data: Bin(delta),
    };
    let hill_input = ClientMsg::Input {
        shown: None,
        earlier: Vec::new(),
        seq: 7,
        tick: 899,
        input: hill::input_data(0.0, -1.0, true),
    };
    let hill_snapshot = ServerMsg::Snapshot {
        tick: 900,
        ack: 12,
        base: None,
        data: Bin(hill_snapshot_data()),
    };
    let error = ServerMsg::Error {
        code: ErrorCode::OutOfRange,
        message: "`aim` is out of range".into(),
    };
    let client = |msg: ClientMsg| -> (Vec<u8>, Decodes) {
        (
            encode(&msg),
            Box::new(move |b| decode_client(b).as_ref() == Ok(&msg)),
        )
    };
    let server = |msg: ServerMsg| -> (Vec<u8>, Decodes) {
        (
            encode(&msg),
            Box::new(move |b| decode_server(b).as_ref() == Ok(&msg)),
        )
    };
    let record = |bytes: Vec<u8>, want: Record| -> (Vec<u8>, Decodes) {
        (
            bytes,
            Box::new(move |b| {
                let mut reader = Reader::new(4096);
                reader.push(b);
                reader.next_record() == Ok(Some(want.clone())) && reader.buffered() == 0
            }),
        )
    };
    let wt_play = record(
        stream_frame::message(&encode(&ClientMsg::Play)),
        Record::Message(encode(&ClientMsg::Play)),
    );
    let wt_close = record(
        stream_frame::close(close::TOO_SLOW, "too slow"),
        Record::Close(close::TOO_SLOW, "too slow".into()),
    );
    let mut out = Vec::new();
    for (name, (bytes, check)) in [
        ("wt_play", wt_play),
        ("wt_close", wt_close),
        ("play", client(play)),
        ("input", client(input)),
        ("input_shown", client(input_shown)),
        ("input_earlier", client(input_earlier)),
        ("ping", client(ping)),
        ("welcome", server(welcome)),
        ("snapshot", server(snapshot)),
        ("snapshot_delta", server(snapshot_delta)),
        ("error", server(error)),
        ("hill_input", client(hill_input)),
        ("hill_snapshot", server(hill_snapshot)),
    ] {
        out.push((name, bytes, check));
    }
    out
}

fn hex_block(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .map(|line| {
            line.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The contents of the fenced block after `<!-- dump: name -->`.
fn documented(doc: &str, name: &str) -> Option<String> {
    let marker = format!("<!-- dump: {name} -->");
    let after = &doc[doc.find(&marker)? + marker.len()..];
    let start = after.find("```")?;
    let body = &after[start + 3..];
    let body = &body[body.find('\n')? + 1..];
    Some(body[..body.find("```")?].trim().to_owned())
}

fn parse_hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).expect("hex byte"))
        .collect()
}

#[test]
fn protocol_md_byte_dumps_match_the_codec() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../PROTOCOL.md");
    let doc = std::fs::read_to_string(path).expect("PROTOCOL.md exists");
    let mut problems = Vec::new();
    for (name, bytes, decodes) in examples() {
        let expected = hex_block(&bytes);
        match documented(&doc, name) {
            Some(found) if found == expected => {
                assert!(
                    decodes(&parse_hex(&found)),
                    "the `{name}` dump decodes to its message"
                );
            }
            Some(_) | None => problems.push(format!(
                "<!-- dump: {name} --> should be followed by ({} bytes):\n```text\n{expected}\n```",
                bytes.len()
            )),
        }
    }
    assert!(
        problems.is_empty(),
        "PROTOCOL.md is out of date:\n\n{}",
        problems.join("\n\n")
    );
}

/// The rows of the table that follows `heading`, as their cells.
fn table_after(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let section = &doc[doc.find(heading).expect("the section exists")..];
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // the header and the rule under it
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_owned())
                .collect()
        })
        .collect()
}

/// Section 6 lists every error code once, and says for each whether it is
/// a strike exactly as `ErrorCode::is_strike` decides (regression: the
/// document said every code but four counted, while the code sent several
/// others without counting them).
#[test]
fn protocol_md_error_table_matches_the_codes_and_their_strikes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../PROTOCOL.md");
    let doc = std::fs::read_to_string(path).expect("PROTOCOL.md exists");
    let rows = table_after(&doc, "## 6. Errors");
    let documented: Vec<(String, String)> = rows
        .iter()
        .map(|cells| (cells[0].trim_matches('`').to_owned(), cells[1].clone()))
        .collect();
    let expected: Vec<(String, String)> = ErrorCode::ALL
        .iter()
        .map(|code| {
            let strike = if code.is_strike() { "yes" } else { "no" };
            (code.as_str().to_owned(), strike.to_owned())
        })
        .collect();
    assert_eq!(documented, expected, "PROTOCOL.md section 6 vs ErrorCode");
}
