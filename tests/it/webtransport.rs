//! WebTransport end to end (PROTOCOL.md section 3): bots play whole matches
//! over it with their snapshots and inputs as datagrams; bad input on the
//! stream and in datagrams gets the WebSocket's documented answers; and a
//! self-signed certificate is rotated while a connection on the old one
//! plays on.

use futures_util::FutureExt;
use skirmish_arena::wire::input_data;
use skirmish_client_sim::swarm::{BehaviorChoice, SwarmConfig, TransportChoice, run_swarm};
use skirmish_client_sim::wt::{Offer, OfferedHash};
use skirmish_client_sim::{Connection, Incoming, Transport};
use skirmish_shared::codec::encode;
use skirmish_shared::proto::{ClientMsg, ServerMsg, close};
use skirmish_shared::stream_frame;
use skirmish_tests::{Player, TestNode, http, wt_config};
use std::time::Duration;
use tokio::time::Instant;

/// `GET /api/webtransport`.
async fn offer(node: &TestNode) -> Offer {
    skirmish_client_sim::wt::offer(&http(), &node.url())
        .await
        .expect("the node offers WebTransport")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_play_whole_matches_over_webtransport() {
    let mut config = wt_config();
    config.match_seconds = Some(5);
    let node = TestNode::start(config).await;
    let offered = offer(&node).await;
    let url = offered.url.as_deref().unwrap_or_default();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert_eq!(offered.certificate_hashes.len(), 1, "{offered:?}");
    assert_eq!(offered.certificate_hashes[0].algorithm, "sha-256");

    let swarm = tokio::spawn(run_swarm(SwarmConfig {
        urls: vec![node.url()],
        bots: 8,
        ramp_per_s: 100.0,
        duration: Duration::from_secs(10),
        seed: 11,
        behavior: BehaviorChoice::Mixed,
        chat_every: Some(Duration::from_secs(3)),
        queue: None,
        finish_matches: true,
        progress: false,
        transport: TransportChoice::Wt,
    }));
    // Mid-run, the node counts them as WebTransport players.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let metrics = node.metrics().await;
    assert!(
        metrics.contains("skirmish_connections_by_transport{transport=\"wt\"} 8"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("by_transport"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let report = swarm.await.expect("the swarm ran");
    println!("{}", report.table());
    assert_eq!(report.errors, 0, "errors: {:?}", report.errors_by_kind);
    assert_eq!(report.bots_with_a_match, 8, "every bot finished a match");
    assert_eq!((report.disconnects, report.reconnects), (0, 0));
    assert!(report.chats > 0, "chat works over the stream");
    // Snapshots came at the tick rate, and inputs were acknowledged.
    assert!(
        (25.0..45.0).contains(&report.snapshot_interval_ms.p50),
        "{:?}",
        report.snapshot_interval_ms
    );
    assert!(
        report.input_ack_ms.count > 100 && report.input_ack_ms.p50 < 200.0,
        "{:?}",
        report.input_ack_ms
    );
    // Their results reached the leaderboards.
    let ratings = crate::results::get_json_pub(format!(
        "{}/api/leaderboards/rating?period=all_time&limit=20",
        node.url()
    ))
    .await;
    assert_eq!(ratings["total"], 8, "{ratings}");
    // The snapshots went as datagrams: none was too big for one.
    let metrics = node.metrics().await;
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("skirmish_wt_snapshots_on_stream_total") && !l.ends_with(" 0")),
        "snapshots went on the stream"
    );
    node.stop().await;
}

/// A WebTransport player seated in a match, and a WebSocket one beside it.
async fn seated_wt_player(node: &TestNode, name: &str) -> Player {
    let mut player = Player::connect_wt(node, name).await;
    assert_eq!(player.conn.transport(), Transport::Wt);
    player.play().await;
    player
}

/// Sends a valid ping and expects its pong: the connection still works.
async fn still_works(player: &mut Player) {
    player
        .conn
        .send(&ClientMsg::Ping { client_time: 7.0 })
        .await
        .expect("send");
    player
        .wait_for(|m| {
            matches!(m, Incoming::Msg(ServerMsg::Pong { client_time, .. }) if *client_time == 7.0)
                .then_some(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_over_the_stream_and_datagrams_gets_the_websocket_answers() {
    let node = TestNode::start(wt_config()).await;
    let mut abuser = seated_wt_player(&node, "abuser").await;
    let conn = &mut abuser.conn;

    // Garbage, on the stream and as a datagram.
    conn.send_wt_raw(&stream_frame::message(&[0xc1, 0xff]), false)
        .await
        .expect("send");
    assert_eq!(abuser.next_error().await, "malformed");
    abuser
        .conn
        .send_wt_raw(&[0xc1, 0xff, 0x00], true)
        .await
        .expect("send");
    assert_eq!(abuser.next_error().await, "malformed");
    // An unknown type, both ways.
    let teleport = encode(&("teleport", 5, 5));
    abuser
        .conn
        .send_wt_raw(&stream_frame::message(&teleport), false)
        .await
        .expect("send");
    assert_eq!(abuser.next_error().await, "unknown_type");
    abuser
        .conn
        .send_wt_raw(&teleport, true)
        .await
        .expect("send");
    assert_eq!(abuser.next_error().await, "unknown_type");
    // Out of range, as an input datagram.
    let input = ClientMsg::Input {
        shown: None,
        earlier: Vec::new(),
        seq: 1,
        tick: 0,
        input: input_data(5.0, 0.0, 0.0, false),
    };
    abuser.conn.send(&input).await.expect("send");
    assert_eq!(abuser.next_error().await, "out_of_range");
    still_works(&mut abuser).await;

    // An input overtaken by a newer one, as a datagram or on the stream, is
    // dropped quietly (a WebSocket refuses it as stale_input).
    let standing = |seq| ClientMsg::Input {
        shown: None,
        earlier: Vec::new(),
        seq,
        tick: 0,
        input: input_data(0.0, 0.0, 0.0, false),
    };
    for seq in [10, 9] {
        abuser.conn.send(&standing(seq)).await.expect("send");
    }
    abuser
        .conn
        .send_wt_raw(&stream_frame::message(&encode(&standing(8))), false)
        .await
        .expect("send");
    abuser
        .conn
        .send(&ClientMsg::Ping { client_time: 8.0 })
        .await
        .expect("send");
    let before_pong = abuser
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Error { code, .. }) => Some(Some(*code)),
            Incoming::Msg(ServerMsg::Pong { .. }) => Some(None),
            _ => None,
        })
        .await;
    assert_eq!(before_pong, None, "no error for the overtaken inputs");

    // A record over the node's message limit closes with 1009, as an
    // oversized WebSocket frame does.
    abuser
        .conn
        .send_wt_raw(&stream_frame::message(&vec![0x90; 16 * 1024]), false)
        .await
        .expect("send");
    assert_eq!(abuser.closed_with().await, Some(1009));

    // A record of a kind the protocol does not have closes with 1002.
    let mut other = seated_wt_player(&node, "other").await;
    other
        .conn
        .send_wt_raw(&[9, 0, 0, 0, 0], false)
        .await
        .expect("send");
    assert_eq!(other.closed_with().await, Some(1002));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_datagram_flood_is_rate_limited_then_closed() {
    let node = TestNode::start(wt_config()).await;
    let mut abuser = seated_wt_player(&node, "flooder").await;
    let mut rate_limited = false;
    let mut closed_with = None;
    // Datagrams may be dropped on the way (the node's receive buffer is
    // bounded), so the flood is sent in bursts with a short pause.
    'flood: for burst in 0..200u32 {
        for i in 0..50u32 {
            let input = ClientMsg::Input {
                shown: None,
                earlier: Vec::new(),
                seq: burst * 50 + i + 1,
                tick: 0,
                input: input_data(0.0, 0.0, 0.0, false),
            };
            if abuser.conn.send(&input).await.is_err() {
                break 'flood;
            }
        }
        while let Some(incoming) = abuser.conn.recv().now_or_never() {
            match incoming {
                Ok(Incoming::Msg(ServerMsg::Error { code, .. }))
                    if code.as_str() == "rate_limited" =>
                {
                    rate_limited = true;
                }
                Ok(Incoming::Closed(frame)) => {
                    closed_with = frame.map(|(code, _)| code);
                    break 'flood;
                }
                Ok(_) => {}
                Err(_) => break 'flood,
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if closed_with.is_none() {
        closed_with = tokio::time::timeout(Duration::from_secs(10), abuser.closed_with())
            .await
            .expect("closed in time");
    }
    assert!(rate_limited, "the flood was answered with rate_limited");
    assert_eq!(closed_with, Some(close::RATE_LIMIT));
    node.stop().await;
}

/// The offered hashes, as text.
async fn hashes(node: &TestNode) -> Vec<String> {
    offer(node)
        .await
        .certificate_hashes
        .into_iter()
        .map(|h| h.value)
        .collect()
}

/// Polls the offer until `done` holds for its hashes.
async fn offer_until(node: &TestNode, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = hashes(node).await;
        if done(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "{what}: still {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_near_its_end_is_replaced_while_its_connections_play_on() {
    let mut config = wt_config();
    // One-day certificates (valid from a minute before they are made),
    // replaced when 3 s old: offered beside the served one for 1 s, then
    // served.
    config.webtransport.cert_days = 1;
    config.webtransport.rotate_before_s = 86_400.0 - 60.0 - 3.0;
    config.webtransport.overlap_s = 1.0;
    let node = TestNode::start(config).await;
    let first = hashes(&node).await;
    assert_eq!(first.len(), 1);
    let mut early = seated_wt_player(&node, "early").await;

    // The next certificate is offered beside the first, then served alone.
    let both = offer_until(&node, "a second hash", |h| h.len() == 2).await;
    assert_eq!(both[0], first[0], "the served one comes first");
    let second = offer_until(&node, "the first hash gone", |h| !h.contains(&first[0])).await;
    assert_eq!(second[0], both[1]);

    // A client pinned to the first certificate alone is refused now...
    let pinned = Offer {
        url: offer(&node).await.url,
        certificate_hashes: vec![OfferedHash {
            algorithm: "sha-256".into(),
            value: first[0].clone(),
        }],
    };
    let session = skirmish_client_sim::login(&http(), &node.url(), "pinned")
        .await
        .expect("login");
    let refused = Connection::connect_offered(&pinned, &session.token).await;
    assert!(refused.is_err(), "the old certificate is no longer served");
    // ...while one reading the offer connects,
    let mut late = Player::connect_wt(&node, "late").await;
    still_works(&mut late).await;
    // and the connection made on the first certificate plays on.
    let mut snapshots = 0;
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if let Ok(Ok(Incoming::Msg(ServerMsg::Snapshot { .. }))) =
            tokio::time::timeout(Duration::from_millis(200), early.conn.recv()).await
        {
            snapshots += 1;
        }
    }
    assert!(snapshots > 15, "{snapshots} snapshots in a second");
    still_works(&mut early).await;
    node.stop().await;
}

/// PROTOCOL.md section 8 over WebTransport: a player whose connection drops
/// mid-match gets its seat back by connecting again within the grace time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_webtransport_player_resumes_its_seat() {
    let node = TestNode::start(wt_config()).await;
    let mut player = Player::connect_wt(&node, "returner").await;
    let (match_id, you) = player.play_in().await;
    let session = player.session.clone();
    player.conn.drop_abruptly();
    let mut conn = Connection::connect_wt(&http(), &node.url(), &session.token)
        .await
        .expect("connects again");
    match skirmish_tests::recv(&mut conn).await {
        Incoming::Msg(ServerMsg::Welcome { resuming, .. }) => assert!(resuming, "resuming"),
        other => panic!("expected welcome, got {other:?}"),
    }
    let back = loop {
        if let Incoming::Msg(ServerMsg::Joined {
            match_id: id,
            you: me,
            ..
        }) = skirmish_tests::recv(&mut conn).await
        {
            break (id, me);
        }
    };
    assert_eq!(back, (match_id, you), "the same seat");
    node.stop().await;
}

/// A node that does not serve WebTransport says so without an error (a
/// page asks before every connection), and a client stays on the WebSocket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_webtransport_offers_none() {
    let node = TestNode::start(skirmish_tests::test_config()).await;
    let offered = offer(&node).await;
    assert_eq!(offered.url, None);
    assert!(offered.certificate_hashes.is_empty());
    let session = skirmish_client_sim::login(&http(), &node.url(), "plain")
        .await
        .expect("login");
    let refused = Connection::connect_wt(&http(), &node.url(), &session.token).await;
    assert!(refused.is_err(), "no WebTransport to open");
    node.stop().await;
}
