//! Hostile traffic: 16 connections send 100,000 random or malformed frames
//! (reconnecting whenever the node closes them) while 16 honest players play
//! the same match. The honest players see no error and no close, their
//! snapshots keep coming (no stall, no slowdown), and nothing in the node
//! panics.

use futures_util::{SinkExt, StreamExt};
use rand::rngs::ChaCha8Rng;
use rand::{Rng, RngExt, SeedableRng};
use skirmish_arena::wire::input_data;
use skirmish_client_sim::login;
use skirmish_shared::codec::encode;
use skirmish_shared::proto::{ClientMsg, PlayerId};
use skirmish_tests::{Player, Reader, TestNode, test_config};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

const FRAMES: usize = 100_000;
const HOSTILE: usize = 16;
const HONEST: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_frames_change_nothing_for_the_players_beside_them() {
    let panics = count_panics();
    let mut config = test_config();
    // One match holds everyone: quick play is the first game, the
    // 64-player arena.
    config.games = vec!["arena-64".into(), "arena".into(), "hill".into()];
    let node = TestNode::start(config).await;

    let mut honest = Vec::new();
    let mut match_id = None;
    for i in 0..HONEST {
        let mut player = Player::connect(&node, &format!("honest-{i}")).await;
        let (id, _) = player.play_in().await;
        assert_eq!(*match_id.get_or_insert(id), id, "one match");
        honest.push(Reader::start(player));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let sent = Arc::new(AtomicUsize::new(0));
    let started = tokio::time::Instant::now();
    let hostile: Vec<_> = (0..HOSTILE)
        .map(|i| tokio::spawn(attack(node.url(), i as u64, Arc::clone(&sent))))
        .collect();
    let mut connections = 0;
    for task in hostile {
        connections += task.await.expect("a hostile client ran");
    }
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Over the attack, every honest player kept getting snapshots: no stall
    // and no slowdown.
    for reader in honest {
        let arrivals = reader.stop().await;
        skirmish_tests::assert_snapshots_kept_coming(&arrivals, started, started + took);
    }
    let metrics = node.metrics().await;
    let errors: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("skirmish_client_errors_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    println!(
        "{} hostile frames over {connections} connections in {took:?}; the node counted {errors} refused",
        sent.load(Ordering::Relaxed)
    );
    assert!(sent.load(Ordering::Relaxed) >= FRAMES);
    assert_eq!(panics.load(Ordering::Relaxed), 0, "something panicked");

    // The node still serves a newcomer.
    let mut late = Player::connect(&node, "late").await;
    let (id, _) = late.play_in().await;
    assert_eq!(Some(id), match_id);
    node.stop().await;
}

/// Counts panics on any thread from here on (the node runs in this process).
fn count_panics() -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        seen.fetch_add(1, Ordering::Relaxed);
        previous(info);
    }));
    count
}

/// One hostile client: connects, quick-plays, and sends frames from
/// [`hostile_frame`] until the node closes it, then again, until `sent`
/// reaches [`FRAMES`]. Returns how many connections it opened.
async fn attack(url: String, seed: u64, sent: Arc<AtomicUsize>) -> usize {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let session = login(&skirmish_tests::http(), &url, &format!("hostile-{seed}"))
        .await
        .expect("login");
    let ws_url = format!(
        "{}/ws?token={}",
        url.replace("http://", "ws://"),
        session.token
    );
    let mut connections = 0;
    while sent.load(Ordering::Relaxed) < FRAMES {
        let Ok((ws, _)) = tokio_tungstenite::connect_async(&ws_url).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        connections += 1;
        let (mut tx, mut rx) = ws.split();
        // Read everything, so the node never finds it slow.
        let reader = tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
        let _ = tx
            .send(Message::Binary(encode(&ClientMsg::Play).into()))
            .await;
        // About a thousand frames a second: far past the rate limit, and
        // spread over seconds of the honest players' match.
        for n in 0..rng.random_range(20..400) {
            if tx.send(hostile_frame(&mut rng)).await.is_err() {
                break;
            }
            if sent.fetch_add(1, Ordering::Relaxed) + 1 >= FRAMES {
                break;
            }
            if n % 10 == 9 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        drop(tx);
        reader.abort();
        let _ = reader.await;
    }
    connections
}

/// A random frame a hostile client might send: garbage, truncated or
/// bit-flipped messages, well-formed messages with bad values, text,
/// pings, the odd oversized message and WebSocket frames with a reserved
/// opcode.
fn hostile_frame(rng: &mut ChaCha8Rng) -> Message {
    let binary = |bytes: Vec<u8>| Message::Binary(bytes.into());
    match rng.random_range(0..100) {
        0..20 => binary(random_bytes(rng, 0..200)),
        20..35 => {
            let mut bytes = encode(&bad_message(rng));
            let cut = rng.random_range(0..bytes.len().max(1));
            bytes.truncate(cut);
            binary(bytes)
        }
        35..50 => {
            let mut bytes = encode(&bad_message(rng));
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] ^= 1 << rng.random_range(0..8);
            }
            binary(bytes)
        }
        50..85 => binary(encode(&bad_message(rng))),
        85..90 => Message::Text("{\"type\":\"play\"}".into()),
        90..95 => binary(rmp_map_with_unknown_type(rng)),
        95..98 => Message::Ping(random_bytes(rng, 0..100).into()),
        98 => binary(random_bytes(rng, 5000..6000)),
        _ => Message::Frame(Frame::message(
            random_bytes(rng, 0..50),
            OpCode::Data(Data::Reserved(3)),
            true,
        )),
    }
}

fn random_bytes(rng: &mut ChaCha8Rng, len: std::ops::Range<usize>) -> Vec<u8> {
    let mut bytes = vec![0; rng.random_range(len)];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// `{"type": "<random>"}` in MessagePack.
fn rmp_map_with_unknown_type(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let name: String = (0..rng.random_range(1..20))
        .map(|_| char::from(rng.random_range(b'a'..=b'z')))
        .collect();
    let mut bytes = vec![0x81, 0xa4];
    bytes.extend_from_slice(b"type");
    bytes.push(0xa0 | name.len() as u8);
    bytes.extend_from_slice(name.as_bytes());
    bytes
}

/// A well-formed message, often with values out of range.
fn bad_message(rng: &mut ChaCha8Rng) -> ClientMsg {
    let text = |rng: &mut ChaCha8Rng| -> String {
        match rng.random_range(0..4) {
            0 => String::new(),
            1 => "x".repeat(rng.random_range(100..1000)),
            2 => "\u{0}\u{7}bell".into(),
            _ => "lobby".into(),
        }
    };
    let float = |rng: &mut ChaCha8Rng| -> f32 {
        match rng.random_range(0..5) {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => 1e30,
            3 => -5.0,
            _ => rng.random_range(-1.0..1.0),
        }
    };
    match rng.random_range(0..13) {
        0 => ClientMsg::Input {
            shown: None,
            earlier: Vec::new(),
            seq: rng.random(),
            tick: rng.random(),
            input: input_data(float(rng), float(rng), float(rng), rng.random()),
        },
        1 => ClientMsg::Ping {
            client_time: [f64::NAN, f64::INFINITY, -1.0, 1e300][rng.random_range(0..4)],
        },
        2 => ClientMsg::JoinRoom {
            room: text(rng).as_str().into(),
        },
        3 => ClientMsg::LeaveRoom {
            room: text(rng).as_str().into(),
        },
        4 => ClientMsg::Chat {
            room: text(rng).as_str().into(),
            text: text(rng),
        },
        5 => ClientMsg::Typing {
            room: text(rng).as_str().into(),
        },
        6 => ClientMsg::Queue {
            mode: text(rng).into(),
        },
        7 => ClientMsg::JoinMatch { ticket: text(rng) },
        8 => ClientMsg::PartyInvite {
            player_id: PlayerId(rng.random()),
        },
        9 => ClientMsg::PartyAccept {
            party_id: text(rng).into(),
        },
        10 => ClientMsg::Leaderboard {
            request_id: rng.random(),
            board: text(rng),
            period: text(rng),
            around_me: rng.random(),
            cursor: Some(text(rng)),
            limit: rng.random(),
        },
        11 => ClientMsg::Leave,
        _ => ClientMsg::CancelQueue,
    }
}
