//! Several nodes on one real Redis: one lobby across nodes (chat, presence,
//! history), the node registry, and surviving a Redis restart.

use skirmish_client_sim::Incoming;
use skirmish_shared::proto::{ChatView, ClientMsg, ServerMsg};
use skirmish_tests::redis::RedisServer;
use skirmish_tests::redis_cluster::{RedisAt, Setup, TestRedis};
use skirmish_tests::{ChildNode, Player, TestNode, cluster_config, live_nodes};
use std::time::{Duration, Instant};

/// A chat line in `room` with `text`, if that is what arrived.
fn chat_in<'a>(m: &'a Incoming, room: &str, text: &str) -> Option<&'a ChatView> {
    match m {
        Incoming::Msg(ServerMsg::Chat(line)) if line.room == room && line.text == text => {
            Some(line)
        }
        _ => None,
    }
}

/// Waits until `player` sees `who` join `room`; returns the count it reports.
async fn sees_join(player: &mut Player, room: &str, who: &str) -> u32 {
    player
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Presence {
                room: r,
                name,
                joined: true,
                count,
                ..
            }) if r == room && name == who => Some(*count),
            _ => None,
        })
        .await
}

async fn three_nodes_share_one_lobby(setup: Setup) {
    let redis = TestRedis::start(setup);
    let prefix = "lobby3";
    let a = TestNode::start(cluster_config(&redis.url(), "node-a", prefix)).await;
    let b = TestNode::start(cluster_config(&redis.url(), "node-b", prefix)).await;
    let c = TestNode::start(cluster_config(&redis.url(), "node-c", prefix)).await;

    let mut ada = Player::connect(&a, "ada").await;
    let mut bob = Player::connect(&b, "bob").await;
    let mut cyd = Player::connect(&c, "cyd").await;
    let mut cat = Player::connect(&c, "cat").await;
    let mut bea = Player::connect(&b, "bea").await;

    let (members, _) = ada.join_room("tavern").await;
    assert_eq!(members.len(), 1);
    let (members, _) = bob.join_room("tavern").await;
    assert_eq!(
        members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["ada", "bob"],
        "B sees A's member"
    );
    assert_eq!(sees_join(&mut ada, "tavern", "bob").await, 2);
    let (members, _) = cyd.join_room("tavern").await;
    assert_eq!(members.len(), 3);
    for p in [&mut ada, &mut bob] {
        assert_eq!(sees_join(p, "tavern", "cyd").await, 3);
    }
    let (members, _) = cat.join_room("tavern").await;
    assert_eq!(members.len(), 4);
    // Presence and counts agree on all three nodes.
    for p in [&mut ada, &mut bob, &mut cyd] {
        assert_eq!(sees_join(p, "tavern", "cat").await, 4);
    }
    bea.join_room("cellar").await;

    // A line posted on A reaches the room on B and C (and A), not other rooms.
    ada.conn
        .send(&ClientMsg::Chat {
            room: "tavern".into(),
            text: "hello from A".into(),
        })
        .await
        .expect("send");
    for p in [&mut ada, &mut bob, &mut cyd, &mut cat] {
        let line = p
            .wait_for(|m| chat_in(m, "tavern", "hello from A").cloned())
            .await;
        assert_eq!(line.name, "ada");
    }
    let bea_saw = bea.drain(Duration::from_millis(500)).await;
    assert!(
        !bea_saw
            .iter()
            .any(|m| matches!(m, Incoming::Msg(ServerMsg::Chat(_)))),
        "a player in another room got the line: {bea_saw:?}"
    );

    // A late joiner on B gets the history.
    let mut dan = Player::connect(&b, "dan").await;
    let (members, history) = dan.join_room("tavern").await;
    assert_eq!(members.len(), 5);
    assert_eq!(
        history.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
        ["hello from A"]
    );

    // Leaving is seen everywhere.
    cat.conn
        .send(&ClientMsg::LeaveRoom {
            room: "tavern".into(),
        })
        .await
        .expect("send");
    for p in [&mut ada, &mut bob, &mut dan] {
        let count = p
            .wait_for(|m| match m {
                Incoming::Msg(ServerMsg::Presence {
                    name,
                    joined: false,
                    count,
                    ..
                }) if name == "cat" => Some(*count),
                _ => None,
            })
            .await;
        assert_eq!(count, 4);
    }

    // The registry lists the three nodes, with their players (ada on A;
    // bob, bea and dan on B; cyd and cat on C) and addresses, as soon as
    // the nodes have heartbeaten since the last connection.
    let mut listed = live_nodes(&a.url()).await;
    listed.sort();
    assert_eq!(listed, ["node-a", "node-b", "node-c"]);
    let expected = [
        ("node-a", 1, a.url()),
        ("node-b", 3, b.url()),
        ("node-c", 2, c.url()),
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = crate::results::get_json_pub(format!("{}/api/nodes", b.url())).await;
        let seen: Vec<(String, u64, String)> = body["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| {
                (
                    n["id"].as_str().unwrap_or_default().to_owned(),
                    n["players"].as_u64().unwrap_or(u64::MAX),
                    n["public_url"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let wanted: Vec<(String, u64, String)> = expected
            .iter()
            .map(|(id, n, url)| ((*id).to_owned(), *n, url.clone()))
            .collect();
        if seen == wanted {
            assert_eq!(body["self"], "node-b");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the registry never listed {wanted:?}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for node in [a, b, c] {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_flows_again_after_redis_restarts() {
    let mut redis = RedisServer::start();
    let prefix = "restart";
    let a = TestNode::start(cluster_config(&redis.url(), "node-a", prefix)).await;
    let b = TestNode::start(cluster_config(&redis.url(), "node-b", prefix)).await;
    let mut ada = Player::connect(&a, "ada").await;
    let mut bob = Player::connect(&b, "bob").await;
    ada.join_room("tavern").await;
    bob.join_room("tavern").await;
    sees_join(&mut ada, "tavern", "bob").await;

    // While Redis is down a line cannot be stored, and the writer is told.
    redis.stop();
    ada.conn
        .send(&ClientMsg::Chat {
            room: "tavern".into(),
            text: "into the void".into(),
        })
        .await
        .expect("send");
    assert_eq!(ada.next_error().await, "unavailable");

    redis.restart();
    let restarted = Instant::now();

    // Posting may fail (`unavailable`) until the nodes have reconnected and
    // resubscribed; keep trying for a few seconds.
    let mut n = 0;
    let delivered_after = loop {
        n += 1;
        let text = format!("after restart {n}");
        ada.conn
            .send(&ClientMsg::Chat {
                room: "tavern".into(),
                text: text.clone(),
            })
            .await
            .expect("send");
        let seen = bob.drain(Duration::from_millis(700)).await;
        if seen.iter().any(|m| chat_in(m, "tavern", &text).is_some()) {
            break restarted.elapsed();
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(10),
            "chat did not flow again within 10 s"
        );
        // Stay under the chat rate limit.
        tokio::time::sleep(Duration::from_millis(1300)).await;
    };
    println!("chat flowed again {delivered_after:?} after the restart ({n} attempts)");
    a.stop().await;
    b.stop().await;
}

/// The registry TTL of the node the kill tests kill.
const VICTIM_TTL_S: f32 = 1.5;

/// A node in this process and one in its own process (to kill), both on
/// `redis`, the second with a TTL of [`VICTIM_TTL_S`].
async fn survivor_and_victim(redis: &impl RedisAt, prefix: &str) -> (TestNode, ChildNode) {
    let survivor = TestNode::start(cluster_config(&redis.url(), "survivor", prefix)).await;
    let victim = ChildNode::start(
        env!("CARGO_BIN_EXE_skirmish-test-node"),
        &redis.url(),
        "victim",
        prefix,
        VICTIM_TTL_S,
    );
    (survivor, victim)
}

async fn a_killed_node_leaves_the_registry_within_its_ttl(setup: Setup) {
    let redis = TestRedis::start(setup);
    let (survivor, mut victim) = survivor_and_victim(&redis, "kill").await;

    let deadline = Instant::now() + Duration::from_secs(10);
    while live_nodes(&survivor.url()).await != ["survivor", "victim"] {
        assert!(Instant::now() < deadline, "the victim never registered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    victim.kill();
    let killed = Instant::now();
    while live_nodes(&survivor.url()).await != ["survivor"] {
        assert!(
            killed.elapsed() < Duration::from_secs_f32(VICTIM_TTL_S + 1.0),
            "the dead node is still listed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "the killed node left the registry after {:?}",
        killed.elapsed()
    );
    // A page the dead node served fails over to the survivor: its origin is
    // still the dead node's, and still allowed there.
    assert_eq!(
        cors_allows(&survivor, &victim.url()).await.as_deref(),
        Some(victim.url().trim_end_matches('/')),
        "the dead node's pages are refused"
    );
    assert_eq!(cors_allows(&survivor, "http://10.9.9.9:1").await, None);
    survivor.stop().await;
}

/// The origin `node` allows a page at `origin` to read its API from (CORS),
/// if any.
async fn cors_allows(node: &TestNode, origin: &str) -> Option<String> {
    let origin = origin.trim_end_matches('/');
    let answer = skirmish_tests::http()
        .get(format!("{}/api/nodes", node.url()))
        .header("origin", origin)
        .send()
        .await
        .expect("GET /api/nodes");
    answer
        .headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn a_killed_nodes_members_leave_its_rooms_on_the_other_nodes(setup: Setup) {
    let redis = TestRedis::start(setup);
    let (survivor, mut victim) = survivor_and_victim(&redis, "killroom").await;
    let mut sam = Player::connect(&survivor, "sam").await;
    sam.join_room("tavern").await;
    let mut vic = Player::connect_to(&victim.url(), "vic").await;
    vic.join_room("tavern").await;
    sam.wait_for(|m| match m {
        Incoming::Msg(ServerMsg::Presence {
            name, joined: true, ..
        }) if name == "vic" => Some(()),
        _ => None,
    })
    .await;

    victim.kill();
    let killed = Instant::now();
    let count = sam
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Presence {
                name,
                joined: false,
                count,
                ..
            }) if name == "vic" => Some(*count),
            _ => None,
        })
        .await;
    assert_eq!(count, 1, "sam alone in the room");
    // Gone from the registry within its TTL, then left out of two
    // heartbeats' lists (a heartbeat every third of the TTL) before its
    // members go, and slack for a loaded machine.
    let bound = Duration::from_secs_f32(VICTIM_TTL_S * (1.0 + 2.0 / 3.0) + 2.0);
    let took = killed.elapsed();
    println!("a killed node's member left the room after {took:?}");
    assert!(took < bound, "took {took:?}, over {bound:?}");
    survivor.stop().await;
}

/// Bots whose node is killed (SIGKILL, no goodbye) play on through the
/// other node: each asks a node it knows for the live ones (`GET
/// /api/nodes`), moves there and quick-plays again, and counts no error
/// once there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_on_a_killed_node_fail_over_to_a_live_one_and_play_on() {
    use skirmish_arena::brain::Behavior;
    use skirmish_client_sim::bot::{BotConfig, Live, run_bot};
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    const BOTS: u32 = 6;
    let redis = RedisServer::start();
    let (survivor, mut victim) = survivor_and_victim(&redis, "failover").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while live_nodes(&survivor.url()).await != ["survivor", "victim"] {
        assert!(Instant::now() < deadline, "the victim never registered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let live = Arc::new(Live::default());
    let http = skirmish_tests::http();
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    let bots: Vec<_> = (0..BOTS)
        .map(|i| {
            let config = BotConfig {
                base_url: victim.url(),
                nodes: vec![victim.url(), survivor.url()],
                name: format!("bot{i}"),
                seed: u64::from(i),
                behavior: Behavior::Wander,
                until,
                chat: None,
                queue: None,
                finish_matches: false,
                transport: Default::default(),
            };
            let (http, live) = (http.clone(), Arc::clone(&live));
            tokio::spawn(async move { run_bot(&http, &config, &live).await })
        })
        .collect();
    let seated = |n| {
        let live = Arc::clone(&live);
        async move {
            let deadline = Instant::now() + Duration::from_secs(15);
            while live.in_match.load(Ordering::Relaxed) < n {
                assert!(Instant::now() < deadline, "the bots were not all seated");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    seated(BOTS).await;
    let on_survivor = || async {
        let health = crate::results::get_json_pub(format!("{}/healthz", survivor.url())).await;
        health["players_in_matches"].as_u64().unwrap_or(0)
    };
    assert_eq!(on_survivor().await, 0, "all started on the victim");

    victim.kill();
    let killed = Instant::now();
    while on_survivor().await < u64::from(BOTS) {
        assert!(
            killed.elapsed() < Duration::from_secs_f32(VICTIM_TTL_S + 10.0),
            "the bots did not all come back within the TTL and a backoff"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let back_after = killed.elapsed();
    let errors_when_back = live.errors.load(Ordering::Relaxed);
    // Playing on: no error after the move.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(live.errors.load(Ordering::Relaxed), errors_when_back);
    let mut failovers = 0;
    for bot in bots {
        failovers += bot.await.expect("the bot ran").stats.failovers;
    }
    println!(
        "all {BOTS} bots played on the survivor {back_after:?} after the kill, with {errors_when_back} errors on the way"
    );
    assert!(failovers >= u64::from(BOTS), "each moved: {failovers}");
    survivor.stop().await;
}

/// One connection per player across the cluster: the same player connecting
/// at another node closes the older connection with 4003, whichever node it
/// is on, and the newest plays on.
async fn the_same_player_at_another_node_closes_the_older_connection_with_4003(setup: Setup) {
    let redis = TestRedis::start(setup);
    let a = TestNode::start(cluster_config(&redis.url(), "a", "one-session")).await;
    let b = TestNode::start(cluster_config(&redis.url(), "b", "one-session")).await;
    let mut at_a = Player::connect(&a, "ada").await;
    // Its place is recorded just after `welcome`.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut at_b = at_a.another_connection(&b.url()).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), at_a.closed_with())
        .await
        .expect("the older connection closes");
    assert_eq!(closed, Some(4003), "replaced from another node");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again_at_a = at_b.another_connection(&a.url()).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), at_b.closed_with())
        .await
        .expect("the connection at b closes");
    assert_eq!(closed, Some(4003));
    // The newest plays on.
    again_at_a
        .conn
        .send(&ClientMsg::Ping { client_time: 1.0 })
        .await
        .expect("send");
    again_at_a
        .wait_for(|m| matches!(m, Incoming::Msg(ServerMsg::Pong { .. })).then_some(()))
        .await;
    a.stop().await;
    b.stop().await;
}

/// A player whose connection to the node hosting their match dropped, and
/// who connects at another node, is told where their seat is held, and
/// takes it back there.
async fn a_player_back_at_another_node_is_told_where_their_seat_is(setup: Setup) {
    let redis = TestRedis::start(setup);
    let a = TestNode::start(cluster_config(&redis.url(), "a", "seat-elsewhere")).await;
    let b = TestNode::start(cluster_config(&redis.url(), "b", "seat-elsewhere")).await;
    let mut at_a = Player::connect(&a, "wanderer").await;
    let (match_id, you) = at_a.play_in().await;
    // The connection drops (no clean close): the seat is held.
    let session = at_a.session.clone();
    drop(at_a);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut at_b = Player {
        conn: skirmish_tests::open(&b.url(), &session.token).await,
        session,
    };
    let (told_match, host_url) = at_b
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::SeatElsewhere { match_id, host_url }) => {
                Some((*match_id, host_url.clone()))
            }
            _ => None,
        })
        .await;
    assert_eq!(
        (told_match, host_url.as_str()),
        (match_id, a.url().as_str())
    );
    let mut back = at_b.another_connection(&host_url).await;
    let rejoined = back
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Joined { match_id, you, .. }) => Some((*match_id, *you)),
            _ => None,
        })
        .await;
    assert_eq!(rejoined, (match_id, you), "the same seat");
    a.stop().await;
    b.stop().await;
}

/// Where a player is stays recorded while a match holds their seat (so
/// another node can tell them), and is forgotten once the seat is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_a_player_was_is_forgotten_once_their_held_seat_is_gone() {
    let redis = RedisServer::start();
    let mut config = cluster_config(&redis.url(), "a", "forget");
    config.limits.reconnect_grace_s = 1.0;
    let a = TestNode::start(config).await;
    let mut player = Player::connect(&a, "leaver").await;
    player.play_in().await;
    let player_id = player.session.player_id.clone();
    drop(player);
    let mut conn = redis::Client::open(redis.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let mut place = async || -> Option<String> {
        redis::cmd("HGET")
            .arg("forget:{mm}:where")
            .arg(&player_id)
            .query_async(&mut conn)
            .await
            .expect("HGET")
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        place().await.as_deref(),
        Some("a"),
        "kept while the seat is held"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while place().await.is_some() {
        assert!(
            Instant::now() < deadline,
            "still recorded after the grace time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.stop().await;
}

on_each_redis!(
    three_nodes_share_one_lobby,
    a_killed_node_leaves_the_registry_within_its_ttl,
    a_killed_nodes_members_leave_its_rooms_on_the_other_nodes,
    the_same_player_at_another_node_closes_the_older_connection_with_4003,
    a_player_back_at_another_node_is_told_where_their_seat_is,
);
