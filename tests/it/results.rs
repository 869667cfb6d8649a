//! Match results on their way to the leaderboards: recorded with ratings
//! after a match, through a Redis outage exactly once, and not again when a
//! restarted node finds them in its outbox.

use skirmish_client_sim::Incoming;
use skirmish_server::results::{MatchRecord, OutboxDir, RecordLine};
use skirmish_shared::proto::{ClientMsg, MatchId, PlayerId, ServerMsg};
use skirmish_tests::redis::RedisServer;
use skirmish_tests::redis_cluster::{Setup, TestRedis};
use skirmish_tests::scripted::{Log, play, shooter};
use skirmish_tests::{Player, TestNode, cluster_config, open_map, test_config};
use std::time::Duration;

/// A shooter and a target play one match; returns their logs and players,
/// still connected, and the shooter's kills.
async fn duel(node: &TestNode) -> ((Log, Player), (Log, Player), u32) {
    let shooter_player = Player::connect(node, "shooter").await;
    let target_player = Player::connect(node, "target").await;
    let (shot, stood) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(
            play(shooter_player, shooter("target")),
            play(target_player, |_| (0.0, 0.0, 0.0, false))
        )
    })
    .await
    .expect("the match ends in time");
    let (_, results) = shot.0.end.as_ref().expect("results");
    let kills = results
        .iter()
        .find(|r| r.name == "shooter")
        .expect("shooter's line")
        .stat("kills");
    assert!(
        kills >= 1,
        "the duel needs a kill to say anything about counting: {results:?}"
    );
    (shot, stood, kills as u32)
}

/// A finished match of one player, "ada", with `kills` kills (and as many
/// points).
pub(crate) fn solo_record(
    match_id: u64,
    player: PlayerId,
    kills: i64,
    finished_at_ms: u64,
) -> MatchRecord {
    MatchRecord {
        match_id: MatchId(match_id),
        game: "arena".into(),
        finished_at_ms,
        reason: "time_up".into(),
        players: vec![RecordLine {
            player_id: player,
            name: "ada".into(),
            placement: 1,
            team: None,
            stats: [("kills", kills), ("deaths", 0), ("score", kills)]
                .map(|(k, v)| (k.to_owned(), v))
                .into(),
        }],
    }
}

/// Waits for the player's `rating` message.
/// A duel during which Redis stops (3 s in, the match still on); Redis
/// stays down.
async fn duel_through_an_outage(
    node: &TestNode,
    redis: &mut RedisServer,
) -> ((Log, Player), (Log, Player), u32) {
    let stop_redis = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        redis.stop();
    };
    tokio::join!(duel(node), stop_redis).0
}

pub(crate) async fn rating(player: &mut Player) -> (i32, i32) {
    player
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Rating { rating, delta, .. }) => Some((*rating, *delta)),
            _ => None,
        })
        .await
}

/// The JSON body of a GET, for other modules.
pub(crate) async fn get_json_pub(url: String) -> serde_json::Value {
    get_json(url).await
}

/// The JSON body of a GET.
async fn get_json(url: String) -> serde_json::Value {
    skirmish_tests::http()
        .get(url)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

pub(crate) async fn board_score(node: &TestNode, board: &str, player_id: &str) -> Option<i64> {
    let response = skirmish_tests::http()
        .get(format!(
            "{}/api/leaderboards/{board}/players/{player_id}",
            node.url()
        ))
        .send()
        .await
        .expect("request");
    if response.status().as_u16() == 404 {
        return None;
    }
    let entry: serde_json::Value = response.json().await.expect("json");
    entry["score"].as_i64()
}

fn duel_config() -> skirmish_server::Config {
    let mut config = test_config();
    config.match_seconds = Some(6);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_match_lands_on_every_board_with_ratings() {
    let node = TestNode::start_on(duel_config(), &open_map()).await;
    let ((_, mut shooter_player), (_, mut target_player), kills) = duel(&node).await;

    let (shooter_rating, shooter_delta) = rating(&mut shooter_player).await;
    let (target_rating, target_delta) = rating(&mut target_player).await;
    assert!(
        shooter_delta > 0 && target_delta < 0,
        "{shooter_delta} {target_delta}"
    );
    assert_eq!(shooter_rating, 1000 + shooter_delta);
    assert_eq!(target_rating, 1000 + target_delta);

    let shooter_id = shooter_player.session.player_id.clone();
    assert_eq!(
        board_score(&node, "kills", &shooter_id).await,
        Some(i64::from(kills))
    );
    assert_eq!(
        board_score(&node, "rating", &shooter_id).await,
        Some(i64::from(shooter_rating))
    );
    assert_eq!(
        board_score(&node, "kills", &target_player.session.player_id).await,
        Some(0)
    );

    let top = get_json(format!(
        "{}/api/leaderboards/kills?period=daily&limit=10",
        node.url()
    ))
    .await;
    assert_eq!(top["entries"][0]["name"], "shooter");
    assert_eq!(top["total"], 2);
    assert!(
        top["resets_at_ms"].as_u64().is_some(),
        "a daily board says when it resets"
    );

    // The same over the WebSocket, around the asking player.
    target_player
        .conn
        .send(&ClientMsg::Leaderboard {
            request_id: 7,
            board: "kills".into(),
            period: "weekly".into(),
            around_me: true,
            cursor: None,
            limit: 5,
        })
        .await
        .expect("send");
    let entries = target_player
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Leaderboard {
                request_id: 7,
                entries,
                ..
            }) => Some(entries.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        entries.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["shooter", "target"]
    );
    // `limit` is the page: 1 is the player's own entry, with the reset time.
    target_player
        .conn
        .send(&ClientMsg::Leaderboard {
            request_id: 9,
            board: "kills".into(),
            period: "weekly".into(),
            around_me: true,
            cursor: None,
            limit: 1,
        })
        .await
        .expect("send");
    let (entries, resets_at_ms) = target_player
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Leaderboard {
                request_id: 9,
                entries,
                resets_at_ms,
                ..
            }) => Some((entries.clone(), *resets_at_ms)),
            _ => None,
        })
        .await;
    assert_eq!(
        entries
            .iter()
            .map(|e| (e.rank, e.name.as_str()))
            .collect::<Vec<_>>(),
        [(2, "target")]
    );
    assert!(resets_at_ms.is_some(), "a weekly page says when it resets");
    for (around_me, cursor, limit) in [
        (true, None, 0),
        (true, Some("x".to_owned()), 5),
        (false, None, 101),
    ] {
        target_player
            .conn
            .send(&ClientMsg::Leaderboard {
                request_id: 10,
                board: "kills".into(),
                period: "weekly".into(),
                around_me,
                cursor,
                limit,
            })
            .await
            .expect("send");
        assert_eq!(target_player.next_error().await, "invalid_query");
    }

    // Over HTTP, `around` with `limit` is the page centred on the player,
    // `k` the entries on each side; not both, and not with a cursor.
    let target_id = target_player.session.player_id.clone();
    let page = |query: String| {
        let url = format!("{}/api/leaderboards/kills?period=daily&{query}", node.url());
        async move {
            skirmish_tests::http()
                .get(url)
                .send()
                .await
                .expect("request")
        }
    };
    let names = |body: &serde_json::Value| -> Vec<String> {
        body["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["name"].as_str().expect("a name").to_owned())
            .collect()
    };
    let body: serde_json::Value = page(format!("around={target_id}&limit=1"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(names(&body), ["target"]);
    assert!(body["resets_at_ms"].as_u64().is_some());
    let body: serde_json::Value = page(format!("around={target_id}&limit=2"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(names(&body), ["shooter", "target"], "filled up at the end");
    let body: serde_json::Value = page(format!("around={target_id}&k=0"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(names(&body), ["target"]);
    for query in [
        format!("around={target_id}&limit=1&k=1"),
        format!("around={target_id}&cursor=abc"),
        format!("around={target_id}&limit=0"),
        format!("around={target_id}&limit=101"),
    ] {
        let response = page(query.clone()).await;
        assert_eq!(response.status().as_u16(), 400, "{query}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["error"], "invalid_query", "{query}");
    }

    // One player's entry says which board and period, and when it resets.
    let entry = get_json(format!(
        "{}/api/leaderboards/kills/players/{target_id}?period=daily",
        node.url()
    ))
    .await;
    assert_eq!(
        (
            &entry["board"],
            &entry["period"],
            &entry["rank"],
            &entry["name"]
        ),
        (
            &"kills".into(),
            &"daily".into(),
            &2.into(),
            &"target".into()
        )
    );
    assert!(entry["resets_at_ms"].as_u64().is_some());
    let entry = get_json(format!(
        "{}/api/leaderboards/kills/players/{target_id}",
        node.url()
    ))
    .await;
    assert_eq!(entry["period"], "all_time");
    assert!(entry["resets_at_ms"].is_null(), "all-time never resets");
    let missing = skirmish_tests::http()
        .get(format!(
            "{}/api/leaderboards/kills/players/0123456789abcdef?period=weekly",
            node.url()
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status().as_u16(), 404);
    let body: serde_json::Value = missing.json().await.expect("json");
    assert_eq!(body["error"], "not_on_board");
    assert!(body["resets_at_ms"].as_u64().is_some());

    // Bad queries get the documented codes.
    target_player
        .conn
        .send(&ClientMsg::Leaderboard {
            request_id: 8,
            board: "nonsense".into(),
            period: "daily".into(),
            around_me: false,
            cursor: None,
            limit: 5,
        })
        .await
        .expect("send");
    assert_eq!(target_player.next_error().await, "unknown_board");
    let bad = skirmish_tests::http()
        .get(format!(
            "{}/api/leaderboards/kills?period=hourly",
            node.url()
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status().as_u16(), 400);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_from_a_redis_outage_land_exactly_once_when_it_returns() {
    let mut redis = RedisServer::start();
    let mut config = cluster_config(&redis.url(), "node-a", "outage");
    config.match_seconds = Some(6);
    let node = TestNode::start_on(config, &open_map()).await;

    // Redis goes away while the match is still on, and the match goes on.
    let ((_, mut shooter_player), (_, mut target_player), kills) =
        duel_through_an_outage(&node, &mut redis).await;

    // No rating can be recorded while Redis is down.
    let early = tokio::time::timeout(Duration::from_secs(2), rating(&mut shooter_player)).await;
    assert!(early.is_err(), "a rating arrived while Redis was down");
    // `/healthz` says so: Redis unreachable, the bus reconnecting, the
    // match waiting in the outbox and the worker retrying.
    let health = get_json(format!("{}/healthz", node.url())).await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["redis"], "unreachable", "{health}");
    assert_eq!(health["bus"], "reconnecting", "{health}");
    assert_eq!(health["outbox"]["pending"], 1, "{health}");
    assert_eq!(health["outbox"]["retrying"], true, "{health}");
    assert!(
        health["outbox"]["oldest_age_s"]
            .as_f64()
            .is_some_and(|s| s >= 2.0),
        "{health}"
    );

    redis.restart();
    let (_, shooter_delta) =
        tokio::time::timeout(Duration::from_secs(15), rating(&mut shooter_player))
            .await
            .expect("the result landed after Redis came back");
    assert!(shooter_delta > 0);
    let _ = rating(&mut target_player).await;

    let shooter_id = shooter_player.session.player_id.clone();
    assert_eq!(
        board_score(&node, "kills", &shooter_id).await,
        Some(i64::from(kills)),
        "counted once"
    );
    // And only once: no second rating, no second count.
    let again = tokio::time::timeout(Duration::from_secs(2), rating(&mut shooter_player)).await;
    assert!(again.is_err(), "the match was recorded twice");
    assert_eq!(
        board_score(&node, "kills", &shooter_id).await,
        Some(i64::from(kills))
    );
    // And `/healthz` is back to well: Redis answers, the bus follows
    // again, nothing waits.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let health = get_json(format!("{}/healthz", node.url())).await;
        let well = (
            &health["redis"],
            &health["bus"],
            &health["outbox"]["pending"],
        ) == (&"ok".into(), &"connected".into(), &0.into());
        if well {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "health never recovered: {health}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.stop().await;
}

async fn a_result_found_again_after_a_crash_is_not_counted_twice(setup: Setup) {
    let redis = TestRedis::start(setup);
    let mut config = cluster_config(&redis.url(), "node-a", "crash");
    // Two runs share it, so it outlives each node.
    let data = skirmish_tests::TempDir::new("crash");
    config.data_dir = data.path().to_owned();
    let data_dir = config.data_dir.clone();
    let player = PlayerId(0x0123_4567_89ab_cdef);
    let record = solo_record(42, player, 3, 1);
    let outbox = OutboxDir::open(&data_dir).expect("outbox");

    // A first run records the match.
    outbox.save(&record).expect("save");
    let node = TestNode::start(config.clone()).await;
    let id = player.to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while board_score(&node, "kills", &id).await != Some(3) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pending result was never recorded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.stop().await;

    // It crashed before forgetting the record: the next run finds it again.
    outbox.save(&record).expect("save");
    let node = TestNode::start(config).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !outbox.pending().expect("pending").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pending result was never resubmitted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        board_score(&node, "kills", &id).await,
        Some(3),
        "still counted once"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_from_an_outage_survives_the_node_stopping_before_redis_returns() {
    // Regression: the worker read the players' ratings before writing the
    // record to its file, so while Redis was down a finished match lived
    // only in memory, and a node stopped (or crashed) then lost it.
    let mut redis = RedisServer::start();
    let mut config = cluster_config(&redis.url(), "node-a", "outage-stop");
    config.match_seconds = Some(6);
    // The two runs share it.
    let data = skirmish_tests::TempDir::new("outage-stop");
    config.data_dir = data.path().to_owned();
    let outbox = OutboxDir::open(&config.data_dir).expect("outbox");
    let node = TestNode::start_on(config.clone(), &open_map()).await;

    let ((_, shooter_player), _, kills) = duel_through_an_outage(&node, &mut redis).await;
    // The match is over and Redis is away: the result is on disk.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while outbox.pending().expect("pending").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the finished match never reached the outbox on disk"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node.stop().await;

    // Redis returns; a new run of the node finds the result and records it
    // once.
    redis.restart();
    let node = TestNode::start_on(config, &open_map()).await;
    let shooter_id = shooter_player.session.player_id.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while board_score(&node, "kills", &shooter_id).await != Some(i64::from(kills)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the result from the outage was lost"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !outbox.pending().expect("pending").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the recorded result stayed in the outbox"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.stop().await;
}

on_each_redis!(a_result_found_again_after_a_crash_is_not_counted_twice,);
