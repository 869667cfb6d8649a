//! Keeps the byte dumps in `PROTOCOL.md` true: each dump is generated here
//! from a real message and compared with the document, and each documented
//! dump decodes back to that message. The examples of game data are the
//! shipped games' (the arena's and the hill's), which is why this lives with
//! the tests that know both.

use skirmish_arena::wire::{EventView, PlayerView, ProjectileView, State, input_data};
use skirmish_hill::wire as hill;
use skirmish_shared::codec::{decode_client, decode_server, encode};
use skirmish_shared::game::GameData;
use skirmish_shared::proto::*;

/// Whether bytes decode back to the example's message.
type Decodes = Box<dyn Fn(&[u8]) -> bool>;

/// The documented examples, by the name used in `<!-- dump: NAME -->`.
fn examples() -> Vec<(&'static str, Vec<u8>, Decodes)> {
    let play = ClientMsg::Play;
    let input = ClientMsg::Input {
        seq: 42,
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
    let state = State {
        ticks_left: 3300,
        players: vec![
            PlayerView {
                id: 1,
                x: 1200,
                y: 1600,
                aim: 15000,
                health: 100,
                kills: 2,
                deaths: 0,
                score: 2,
            },
            PlayerView {
                id: 2,
                x: 8000,
                y: 4000,
                aim: -31416,
                health: 0,
                kills: 0,
                deaths: 1,
                score: 0,
            },
        ],
        projectiles: vec![ProjectileView {
            id: 7,
            x: 1400,
            y: 1700,
        }],
        packs: vec![true, false],
        events: vec![EventView::Kill {
            killer: 1,
            victim: 2,
        }],
    };
    let snapshot = ServerMsg::Snapshot {
        tick: 300,
        ack: 41,
        state: GameData::of(&state),
    };
    let hill_input = ClientMsg::Input {
        seq: 7,
        input: hill::input_data(0.0, -1.0, true),
    };
    let hill_snapshot = ServerMsg::Snapshot {
        tick: 900,
        ack: 12,
        state: GameData::of(&hill::State {
            ticks_left: 2700,
            scores: [150, 90],
            holder: Some(0),
            players: vec![
                hill::PlayerView {
                    id: 1,
                    team: 0,
                    x: 6400,
                    y: 4000,
                },
                hill::PlayerView {
                    id: 2,
                    team: 1,
                    x: 7200,
                    y: 4000,
                },
            ],
        }),
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
    let mut out = Vec::new();
    for (name, (bytes, check)) in [
        ("play", client(play)),
        ("input", client(input)),
        ("ping", client(ping)),
        ("welcome", server(welcome)),
        ("snapshot", server(snapshot)),
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
