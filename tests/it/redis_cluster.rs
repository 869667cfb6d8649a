//! The node's Redis client on a real three-master Redis Cluster: commands
//! and pipelines across slots, sharded Pub/Sub, and both through a slot
//! moving to another master.

use redis::AsyncCommands;
use skirmish_server::bus::{Bus, Delivery, Payload, RedisBus, Topic};
use skirmish_server::redis_conn;
use skirmish_tests::redis_cluster::RedisCluster;
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
