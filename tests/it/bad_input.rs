//! Bad input, each with its documented answer, and no effect on the other
//! player in the match: a well-behaved "bystander" walks right the whole
//! time and must keep getting snapshots, moving as it asks, at full health,
//! while the "abuser" misbehaves next to it.

use futures_util::FutureExt;
use skirmish_arena::entities::PlayerState;
use skirmish_arena::wire::input_data;
use skirmish_client_sim::Incoming;
use skirmish_shared::codec::encode;
use skirmish_shared::proto::{ClientMsg, ServerMsg, close};
use skirmish_tests::{Player, TestNode, arena_players, open_map, test_config};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// A node with a bystander walking right and an abuser, both in one match.
struct Scene {
    node: TestNode,
    abuser: Player,
    abuser_id: u16,
    bystander: JoinHandle<Vec<(u32, PlayerState, Option<PlayerState>)>>,
    stop_bystander: oneshot::Sender<()>,
}

impl Scene {
    async fn start() -> Scene {
        let node = TestNode::start_on(test_config(), &open_map()).await;
        let mut bystander = Player::connect(&node, "bystander").await;
        let you = bystander.play().await;
        let mut abuser = Player::connect(&node, "abuser").await;
        let abuser_id = abuser.play().await;
        let (stop_bystander, mut stop) = oneshot::channel();
        let bystander = tokio::spawn(async move {
            // (tick, own state, abuser's state) per snapshot.
            let mut seen = Vec::new();
            let mut seq = 0;
            let mut ticker = tokio::time::interval(Duration::from_millis(33));
            loop {
                tokio::select! {
                    _ = &mut stop => return seen,
                    _ = ticker.tick() => {
                        seq += 1;
                        // Slowly, so it stays in the arena for the whole test.
                        let input = ClientMsg::Input { shown: None, earlier: Vec::new(), seq, tick: bystander.conn.ack(), input: input_data(0.05, 0.0, 0.0, false) };
                        bystander.conn.send(&input).await.expect("bystander sends");
                    }
                    incoming = bystander.conn.recv() => match incoming.expect("bystander reads") {
                        Incoming::Msg(ServerMsg::Snapshot { tick, .. }) => {
                            let players = arena_players(&bystander.conn).expect("an arena snapshot");
                            let me = *players.iter().find(|p| p.id == you).expect("own entry");
                            let other = players.iter().find(|p| p.id == abuser_id).copied();
                            seen.push((tick, me, other));
                        }
                        Incoming::Msg(ServerMsg::Error { code, .. }) => panic!("the bystander got an error: {code}"),
                        Incoming::Closed(frame) => panic!("the bystander was closed: {frame:?}"),
                        Incoming::Msg(_) => {}
                    }
                }
            }
        });
        // Let the bystander get going.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Scene {
            node,
            abuser,
            abuser_id,
            bystander,
            stop_bystander,
        }
    }

    /// Lets the bystander play a little more, then checks it was unaffected
    /// and the abuser's body never moved or took a bad value.
    async fn finish(self) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = self.stop_bystander.send(());
        let seen = self.bystander.await.expect("the bystander played");
        assert!(
            seen.len() > 15,
            "the bystander kept getting snapshots: {}",
            seen.len()
        );
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "in tick order");
        let (first, last) = (&seen[0].1, &seen[seen.len() - 1].1);
        assert!(
            last.x > first.x,
            "the bystander kept moving right: {} -> {}",
            first.x,
            last.x
        );
        assert_eq!(last.y, first.y);
        assert!(
            seen.iter().all(|(_, me, _)| me.health == 100),
            "nobody hurt the bystander"
        );
        // The abuser's body stayed where it spawned (it sent no valid
        // movement), as long as it was in the match.
        let abuser_positions: Vec<(f32, f32)> = seen
            .iter()
            .filter_map(|(_, _, a)| a.as_ref())
            .map(|a| (a.x, a.y))
            .collect();
        assert!(
            abuser_positions.windows(2).all(|w| w[0] == w[1]),
            "the abuser never moved"
        );
        let _ = self.abuser_id;
        self.node.stop().await;
    }

    async fn send(&mut self, msg: Message) {
        self.abuser.conn.send_raw(msg).await.expect("send");
    }

    /// Sends one input per `(move_x, move_y, aim)` (fire held) and expects
    /// each to be refused with `code`.
    async fn refuses_inputs(&mut self, values: &[(f32, f32, f32)], code: &str) {
        for (seq, &(move_x, move_y, aim)) in (1..).zip(values) {
            let input = ClientMsg::Input {
                shown: None,
                earlier: Vec::new(),
                seq,
                tick: 0,
                input: input_data(move_x, move_y, aim, true),
            };
            self.abuser.conn.send(&input).await.expect("send");
            assert_eq!(
                self.abuser.next_error().await,
                code,
                "{move_x} {move_y} {aim}"
            );
        }
    }

    /// Sends a valid ping and expects its pong: the connection still works.
    async fn still_works(&mut self) {
        self.abuser
            .conn
            .send(&ClientMsg::Ping { client_time: 7.0 })
            .await
            .expect("send");
        self.abuser
            .wait_for(|m| matches!(m, Incoming::Msg(ServerMsg::Pong { client_time, .. }) if *client_time == 7.0).then_some(()))
            .await;
    }
}

fn binary(bytes: Vec<u8>) -> Message {
    Message::Binary(bytes.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_bytes_are_malformed() {
    let mut scene = Scene::start().await;
    scene.send(binary(vec![0xc1, 0xff, 0x00, 0x13])).await;
    assert_eq!(scene.abuser.next_error().await, "malformed");
    // A valid type with the wrong fields is malformed too.
    scene.send(binary(encode(&("input", "fast", [1, 2])))).await;
    assert_eq!(scene.abuser.next_error().await, "malformed");
    scene.still_works().await;
    scene.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_message_type_is_named_as_such() {
    let mut scene = Scene::start().await;
    scene.send(binary(encode(&("teleport", 5, 5)))).await;
    assert_eq!(scene.abuser.next_error().await, "unknown_type");
    scene.still_works().await;
    scene.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_frame_is_refused() {
    let mut scene = Scene::start().await;
    scene.send(Message::Text("[\"play\"]".into())).await;
    assert_eq!(scene.abuser.next_error().await, "text_frame");
    scene.still_works().await;
    scene.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nan_and_infinite_numbers_are_refused() {
    let mut scene = Scene::start().await;
    let values = [
        (f32::NAN, 0.0, 0.0),
        (0.0, f32::INFINITY, 0.0),
        (0.0, 0.0, f32::NEG_INFINITY),
    ];
    scene.refuses_inputs(&values, "not_finite").await;
    // Regression: a ping's NaN was echoed in a pong, not refused.
    for client_time in [f64::NAN, f64::INFINITY] {
        scene
            .abuser
            .conn
            .send(&ClientMsg::Ping { client_time })
            .await
            .expect("send");
        assert_eq!(scene.abuser.next_error().await, "not_finite");
    }
    scene.still_works().await;
    scene.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_values_are_refused() {
    let mut scene = Scene::start().await;
    let values = [(5.0, 0.0, 0.0), (0.0, -1.5, 0.0), (0.0, 0.0, 10.0)];
    scene.refuses_inputs(&values, "out_of_range").await;
    // A sequence number that does not increase is refused as stale.
    scene
        .abuser
        .conn
        .send(&ClientMsg::Input {
            shown: None,
            earlier: Vec::new(),
            seq: 9,
            tick: 0,
            input: input_data(0.0, 0.0, 0.0, false),
        })
        .await
        .expect("send");
    scene
        .abuser
        .conn
        .send(&ClientMsg::Input {
            shown: None,
            earlier: Vec::new(),
            seq: 9,
            tick: 0,
            input: input_data(1.0, 0.0, 0.0, false),
        })
        .await
        .expect("send");
    assert_eq!(scene.abuser.next_error().await, "stale_input");
    scene.still_works().await;
    scene.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_closes_with_1009() {
    let mut scene = Scene::start().await;
    // Over the node's 4 KiB limit, within the client's own.
    scene.send(binary(vec![0x90; 16 * 1024])).await;
    assert_eq!(scene.abuser.closed_with().await, Some(1009));
    scene.finish().await;
}

/// Sends `message(i)` for i = 1, 2, … as fast as the socket takes them,
/// reading whatever has arrived in between without waiting, until the node
/// closes the connection. Returns whether `rate_limited` was seen and the
/// close code.
async fn flood(scene: &mut Scene, mut message: impl FnMut(u32) -> Message) -> (bool, Option<u16>) {
    let mut rate_limited = false;
    let mut closed_with = None;
    'flood: for i in 1..=3000u32 {
        if scene.abuser.conn.send_raw(message(i)).await.is_err() {
            break;
        }
        while let Some(incoming) = scene.abuser.conn.recv().now_or_never() {
            match incoming {
                Ok(Incoming::Msg(ServerMsg::Error { code, .. }))
                    if code.as_str() == "rate_limited" =>
                {
                    rate_limited = true;
                }
                Ok(Incoming::Closed(frame)) => {
                    closed_with = Some(frame.map(|(c, _)| c));
                    break 'flood;
                }
                Ok(_) => {}
                Err(_) => break 'flood,
            }
        }
    }
    if closed_with.is_none() {
        let rest = async {
            loop {
                match scene.abuser.conn.recv().await {
                    Ok(Incoming::Msg(ServerMsg::Error { code, .. }))
                        if code.as_str() == "rate_limited" =>
                    {
                        rate_limited = true;
                    }
                    Ok(Incoming::Closed(frame)) => return Some(frame.map(|(c, _)| c)),
                    Ok(_) => {}
                    Err(_) => return None,
                }
            }
        };
        closed_with = tokio::time::timeout(Duration::from_secs(10), rest)
            .await
            .expect("closed in time");
    }
    (rate_limited, closed_with.flatten())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_flood_is_rate_limited_then_closed() {
    let mut scene = Scene::start().await;
    // Valid inputs (standing still).
    let (rate_limited, code) = flood(&mut scene, |seq| {
        binary(encode(&ClientMsg::Input {
            shown: None,
            earlier: Vec::new(),
            seq,
            tick: 0,
            input: input_data(0.0, 0.0, 0.0, false),
        }))
    })
    .await;
    assert!(rate_limited, "the flood was answered with rate_limited");
    assert_eq!(code, Some(close::RATE_LIMIT));
    scene.finish().await;
}

/// Regression: WebSocket pings from the client skipped the rate limit (and
/// each reset the idle timer), so a ping flood went on for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_is_rate_limited_then_closed() {
    let mut scene = Scene::start().await;
    let (rate_limited, code) = flood(&mut scene, |_| Message::Ping(Vec::new().into())).await;
    assert!(rate_limited, "the flood was answered with rate_limited");
    assert_eq!(code, Some(close::RATE_LIMIT));
    scene.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_bad_messages_close_with_4001() {
    let mut scene = Scene::start().await;
    for _ in 0..20 {
        if scene
            .abuser
            .conn
            .send_raw(binary(vec![0xc1]))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(
        scene.abuser.closed_with().await,
        Some(close::TOO_MANY_ERRORS)
    );
    scene.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_outside_a_match_is_refused() {
    let node = TestNode::start(test_config()).await;
    let mut player = Player::connect(&node, "lobbyist").await;
    player
        .conn
        .send(&ClientMsg::Input {
            shown: None,
            earlier: Vec::new(),
            seq: 1,
            tick: 0,
            input: input_data(1.0, 0.0, 0.0, true),
        })
        .await
        .expect("send");
    assert_eq!(player.next_error().await, "not_in_match");
    node.stop().await;
}
