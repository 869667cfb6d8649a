//! The node's Redis client on a real three-master Redis Cluster: commands
//! and pipelines across slots, sharded Pub/Sub, and both through a slot
//! moving to another master; then nodes through the moves of every slot
//! they use.

use redis::AsyncCommands;
use skirmish_client_sim::Incoming;
use skirmish_server::bus::{Bus, Delivery, Payload, RedisBus, Topic};
use skirmish_server::redis_conn;
use skirmish_server::results::{MatchRecord, OutboxDir};
use skirmish_shared::proto::{ClientMsg, PlayerId, ServerMsg};
use skirmish_tests::redis_cluster::RedisCluster;
use skirmish_tests::{Player, TempDir, TestNode, cluster_config, live_nodes, test_matchmaking};
use std::time::Duration;
use tokio::sync::mpsc;

/// A payload that says which publication it was.
fn numbered(n: u8) -> Payload {
    Payload {
        area: "test".into(),
        version: 1,
        bytes: vec![n],
    }
}

/// The next delivery's number, within 5 s.
async fn next(deliveries: &mut mpsc::Receiver<Delivery>) -> u8 {
    let delivery = tokio::time::timeout(Duration::from_secs(5), deliveries.recv())
        .await
        .expect("a delivery within 5 s")
        .expect("the bus is open");
    delivery.envelope.payload.bytes[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_span_slots_and_sharded_channels_follow_a_moved_slot() {
    let cluster = RedisCluster::start();
    let client = redis_conn::client(&cluster.url()).expect("a cluster URL");
    assert!(client.is_cluster());
    let mut commands = redis_conn::commands(&client).await.expect("connect");

    // Keys on every master, written and read in one pipeline each.
    let keys: Vec<String> = (0..12).map(|i| format!("t:key:{i}")).collect();
    let owners: std::collections::HashSet<usize> = keys
        .iter()
        .map(|k| cluster.owner_of(cluster.slot_of(k)))
        .collect();
    assert_eq!(owners.len(), 3, "the keys spread over the three masters");
    let mut write = redis::pipe();
    for (i, key) in keys.iter().enumerate() {
        write.set(key, i).ignore();
    }
    write.query_async::<()>(&mut commands).await.expect("write");
    let mut read = redis::pipe();
    for key in &keys {
        read.get(key);
    }
    let values: Vec<usize> = read.query_async(&mut commands).await.expect("read");
    assert_eq!(values, (0..12).collect::<Vec<_>>(), "answers in order");

    // Two buses: one subscribes to a room, the other publishes to it.
    let (listener, mut deliveries) = RedisBus::connect(&client, "t", &"n1".into())
        .await
        .expect("a bus");
    let (speaker, _) = RedisBus::connect(&client, "t", &"n2".into())
        .await
        .expect("a bus");
    let room = Topic::Room("lobby".into());
    listener.subscribe(&room).await.expect("subscribe");
    speaker.publish(&room, numbered(1));
    assert_eq!(next(&mut deliveries).await, 1);

    // The room's channel moves to another master, and a key with it.
    let channel = room.channel("t");
    let slot = cluster.slot_of(&channel);
    let before = cluster.owner_of(slot);
    let key = format!("{{{channel}}}:kept");
    let _: () = commands.set(&key, "still here").await.expect("set");
    cluster.move_slot(slot, (before + 1) % 3);

    // Commands follow the slot at once (MOVED); the subscription follows
    // once the client has learned the new owner, so publish until one
    // arrives, and then every one does, in order.
    let kept: String = commands.get(&key).await.expect("get after the move");
    assert_eq!(kept, "still here");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut n = 2;
    loop {
        speaker.publish(&room, numbered(n));
        if let Ok(Some(d)) =
            tokio::time::timeout(Duration::from_millis(200), deliveries.recv()).await
        {
            assert!(
                d.envelope.payload.bytes[0] >= 2,
                "nothing from before the move"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the subscription never followed the slot"
        );
        n += 1;
    }
    for m in 200..203 {
        speaker.publish(&room, numbered(m));
    }
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let got = next(&mut deliveries).await;
        if got >= 200 {
            seen.push(got);
        }
    }
    assert_eq!(seen, [200, 201, 202]);
}

/// A match record that gives `player` one kill.
fn one_kill(match_id: u64, player: PlayerId) -> MatchRecord {
    crate::results::solo_record(match_id, player, 1, now_ms())
}

/// Waits until `node`'s outbox is empty and the player's kills read `kills`.
async fn recorded(node: &TestNode, outbox: &OutboxDir, player: PlayerId, kills: i64) {
    let id = player.to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let score = crate::results::board_score(node, "kills", &id).await;
        if score == Some(kills) && outbox.pending().expect("pending").is_empty() {
            return;
        }
        assert!(
            score.is_none_or(|s| s <= kills),
            "counted twice: {score:?} kills, expected {kills}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "kills stayed at {score:?}, expected {kills}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Chats from `from` until `to` hears a line (lines published while a
/// channel's subscription moves are lost live; they stay in history).
async fn heard(from: &mut Player, to: &mut Player, room: &str, text: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for n in 0.. {
        let line = format!("{text} {n}");
        from.conn
            .send(&ClientMsg::Chat {
                room: room.into(),
                text: line.clone(),
            })
            .await
            .expect("send");
        let got = tokio::time::timeout(
            Duration::from_millis(500),
            to.wait_for(|m| match m {
                Incoming::Msg(ServerMsg::Chat(l)) if l.text.starts_with(text) => Some(()),
                _ => None,
            }),
        )
        .await;
        if got.is_ok() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "`{text}` never reached the other node"
        );
    }
}

/// The slot-move test: two nodes run on a three-master cluster while the
/// slots of the leaderboards, matchmaking, the registry, a room's channel,
/// its history and presence move to other masters. Results submitted while
/// the leaderboards' slot is half moved (keys on both masters, so scripts
/// are answered `TRYAGAIN`) land once the move ends, each exactly once;
/// chat, matchmaking and the registry work on afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_play_on_while_their_slots_move_and_no_result_is_lost_or_doubled() {
    let cluster = RedisCluster::start();
    let prefix = "moving";
    let node = |id: &str| {
        let mut config = cluster_config(&cluster.url(), id, prefix);
        config.matchmaking = test_matchmaking();
        config
    };
    let a = TestNode::start(node("node-a")).await;
    let b = TestNode::start(node("node-b")).await;

    // Five results recorded through node C's outbox.
    let player = PlayerId(0x00c0_ffee_0000_0001);
    let data = TempDir::new("moving");
    let outbox = OutboxDir::open(data.path()).expect("outbox");
    let mut c_config = node("node-c");
    c_config.data_dir = data.path().to_owned();
    for m in 1..=5 {
        outbox.save(&one_kill(m, player)).expect("save");
    }
    let c = TestNode::start(c_config.clone()).await;
    recorded(&c, &outbox, player, 5).await;
    c.stop().await;

    // Five more, and match 3 again, submitted while the leaderboards' slot
    // is half moved; the move ends a while later.
    for m in [6, 7, 3, 8, 9, 10] {
        outbox.save(&one_kill(m, player)).expect("save");
    }
    let lb_slot = cluster.slot_of(&format!("{prefix}:{{lb}}"));
    let moving = cluster.begin_move(lb_slot, (cluster.owner_of(lb_slot) + 1) % 3);
    assert!(moving.migrate(1) == 1, "a board key moved");
    let c = TestNode::start(c_config).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let metrics = c.metrics().await;
    let retries = metrics
        .lines()
        .find_map(|l| l.strip_prefix("skirmish_results_retries_total "))
        .and_then(|n| n.trim().parse::<f64>().ok());
    assert!(
        retries.is_some_and(|n| n >= 1.0),
        "submissions met the half-moved slot and were retried: {retries:?}"
    );
    moving.finish();
    recorded(&c, &outbox, player, 10).await;

    // Chat before the rest moves.
    let mut ada = Player::connect(&a, "ada").await;
    ada.join_room("hall").await;
    let mut bob = Player::connect(&b, "bob").await;
    bob.join_room("hall").await;
    heard(&mut ada, &mut bob, "hall", "before").await;

    // Everything else the nodes use moves to another master.
    for key in [
        format!("{prefix}:{{mm}}"),
        format!("{prefix}:{{nodes}}"),
        format!("{prefix}:room:hall"),
        format!("{prefix}:chat:hall"),
        format!("{prefix}:node:node-a"),
        format!("{prefix}:node:node-b"),
        "node-a".to_owned(),
        "node-b".to_owned(),
    ] {
        let slot = cluster.slot_of(&key);
        cluster.move_slot(slot, (cluster.owner_of(slot) + 1) % 3);
    }

    // Chat flows both ways, from history and live.
    heard(&mut ada, &mut bob, "hall", "after").await;
    heard(&mut bob, &mut ada, "hall", "reply").await;
    let mut carol = Player::connect(&b, "carol").await;
    let (members, history) = carol.join_room("hall").await;
    assert!(
        history.iter().any(|l| l.text.starts_with("after")),
        "history kept the lines: {history:?}"
    );
    assert_eq!(members.len(), 3, "presence of both nodes: {members:?}");

    // The registry lists both nodes, and a duel is matched across them.
    assert_eq!(live_nodes(&a.url()).await, ["node-a", "node-b", "node-c"]);
    ada.queue("duel").await;
    bob.queue("duel").await;
    let (found_a, found_b) = tokio::time::timeout(Duration::from_secs(15), async {
        tokio::join!(ada.match_found(), bob.match_found())
    })
    .await
    .expect("the duel is matched after the moves");
    assert_eq!(found_a.0, found_b.0, "the same match");

    // Nothing more is counted later.
    tokio::time::sleep(Duration::from_millis(500)).await;
    recorded(&c, &outbox, player, 10).await;
    for n in [a, b, c] {
        n.stop().await;
    }
}

fn now_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    since.as_millis() as u64
}
