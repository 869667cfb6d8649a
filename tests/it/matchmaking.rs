//! Matchmaking across nodes on one real Redis: matches formed from players
//! on every node and hosted by one, parties kept together, the forming lease
//! failing over, tickets leaving with their players and nodes, rating
//! windows, and join tickets refused when they should be.

use skirmish_client_sim::Incoming;
use skirmish_server::auth::SessionKeys;
use skirmish_server::matchmaking::JoinTickets;
use skirmish_server::matchmaking::join::JoinClaims;
use skirmish_shared::proto::{ClientMsg, MatchId, PlayerId, ServerMsg};
use skirmish_tests::redis::RedisServer;
use skirmish_tests::{
    CLUSTER_SECRET, ChildNode, Player, TestNode, cluster_config, test_matchmaking,
};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// A node of a test cluster with the test matchmaking settings.
async fn node(redis: &RedisServer, id: &str, prefix: &str) -> TestNode {
    let mut config = cluster_config(&redis.url(), id, prefix);
    config.matchmaking = test_matchmaking();
    TestNode::start(config).await
}

/// A Redis connection for looking at the queue from the test.
async fn redis_conn(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

async fn queued(conn: &mut redis::aio::MultiplexedConnection, prefix: &str, mode: &str) -> u64 {
    redis::cmd("ZCARD")
        .arg(format!("{prefix}:{{mm}}:queue:{mode}"))
        .query_async(conn)
        .await
        .expect("ZCARD")
}

/// Queues, waits for the match, follows it to its host and takes the seat;
/// returns the match, the host and the player seated there.
async fn queue_and_play(mut player: Player, mode: &str) -> (MatchId, String, Player) {
    player.queue(mode).await;
    let (match_id, host_url, ticket, same_node) = player.match_found().await;
    let (player, _) = player.follow(&host_url, &ticket, same_node).await;
    (match_id, host_url, player)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_eight_players_on_three_nodes_make_three_matches_of_sixteen() {
    let redis = RedisServer::start();
    let prefix = "mm48";
    let nodes = [
        node(&redis, "node-a", prefix).await,
        node(&redis, "node-b", prefix).await,
        node(&redis, "node-c", prefix).await,
    ];
    let mut players = Vec::new();
    for i in 0..48 {
        players.push(Player::connect(&nodes[i % 3], &format!("p{i}")).await);
    }
    // Spawned all at once (collected, not lazily): each match needs sixteen
    // of them queued.
    let plays: Vec<_> = players
        .into_iter()
        .map(|p| tokio::spawn(queue_and_play(p, "ffa")))
        .collect();
    let mut by_match: HashMap<MatchId, (HashSet<String>, Vec<Player>)> = HashMap::new();
    for play in plays {
        let (match_id, host, player) = tokio::time::timeout(Duration::from_secs(30), play)
            .await
            .expect("matched in time")
            .expect("played");
        let entry = by_match.entry(match_id).or_default();
        entry.0.insert(host);
        entry.1.push(player);
    }
    assert_eq!(by_match.len(), 3, "three matches");
    let mut everyone = HashSet::new();
    for (match_id, (hosts, players)) in &by_match {
        assert_eq!(players.len(), 16, "match {match_id} has 16 players");
        assert_eq!(hosts.len(), 1, "match {match_id} has one host");
        for p in players {
            assert!(
                everyone.insert(p.session.player_id.clone()),
                "a player landed in two matches"
            );
        }
    }
    assert_eq!(everyone.len(), 48);
    for node in nodes {
        node.stop().await;
    }
}

/// Forms a party: the leader invites each member, who accepts; returns when
/// the leader sees everyone in it.
async fn party(leader: &mut Player, members: &mut [&mut Player]) {
    for member in members.iter_mut() {
        let id: PlayerId = member.session.player_id.parse().expect("player id");
        leader
            .conn
            .send(&ClientMsg::PartyInvite { player_id: id })
            .await
            .expect("send invite");
        let party_id = member
            .wait_for(|m| match m {
                Incoming::Msg(ServerMsg::PartyInvite { party_id, .. }) => Some(party_id.clone()),
                _ => None,
            })
            .await;
        member
            .conn
            .send(&ClientMsg::PartyAccept { party_id })
            .await
            .expect("send accept");
    }
    let size = members.len() + 1;
    leader
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Party { members, .. }) if members.len() == size => Some(()),
            _ => None,
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parties_of_two_and_four_land_together() {
    let redis = RedisServer::start();
    let prefix = "mmparty";
    let (a, b) = (
        node(&redis, "node-a", prefix).await,
        node(&redis, "node-b", prefix).await,
    );
    // A party of four across both nodes, a party of two, and ten solos:
    // sixteen players, one match.
    let mut four: Vec<Player> = Vec::new();
    for i in 0..4 {
        four.push(Player::connect(if i % 2 == 0 { &a } else { &b }, &format!("four{i}")).await);
    }
    let mut two = vec![
        Player::connect(&b, "two0").await,
        Player::connect(&a, "two1").await,
    ];
    let (leader4, rest4) = four.split_first_mut().expect("four");
    party(leader4, &mut rest4.iter_mut().collect::<Vec<_>>()).await;
    let (leader2, rest2) = two.split_first_mut().expect("two");
    party(leader2, &mut rest2.iter_mut().collect::<Vec<_>>()).await;

    let mut waiting = Vec::new();
    for mut p in four.into_iter().chain(two) {
        let is_leader = matches!(p.session.name.as_str(), "four0" | "two0");
        waiting.push(tokio::spawn(async move {
            if is_leader {
                p.queue("ffa").await;
            }
            let (match_id, host, ticket, same_node) = p.match_found().await;
            let (p, _) = p.follow(&host, &ticket, same_node).await;
            (p.session.name.clone(), match_id)
        }));
    }
    for i in 0..10 {
        let p = Player::connect(if i % 2 == 0 { &a } else { &b }, &format!("solo{i}")).await;
        waiting.push(tokio::spawn(async move {
            let (match_id, _, p) = queue_and_play(p, "ffa").await;
            (p.session.name.clone(), match_id)
        }));
    }
    let mut matches: HashMap<String, MatchId> = HashMap::new();
    for w in waiting {
        let (name, match_id) = tokio::time::timeout(Duration::from_secs(30), w)
            .await
            .expect("in time")
            .expect("played");
        matches.insert(name, match_id);
    }
    let party_match = |names: &[&str]| names.iter().map(|n| matches[*n]).collect::<HashSet<_>>();
    assert_eq!(
        party_match(&["four0", "four1", "four2", "four3"]).len(),
        1,
        "the party of four together"
    );
    assert_eq!(
        party_match(&["two0", "two1"]).len(),
        1,
        "the party of two together"
    );
    assert_eq!(
        matches.values().collect::<HashSet<_>>().len(),
        1,
        "sixteen players, one match"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_node_forms_matches_when_the_lease_holder_dies() {
    let redis = RedisServer::start();
    let prefix = "mmlease";
    let mut conn = redis_conn(&redis).await;
    // The first node up takes the lease; make it a process we can kill.
    let mm = test_matchmaking();
    let mut holder = ChildNode::start_with(
        env!("CARGO_BIN_EXE_skirmish-test-node"),
        &redis.url(),
        "holder",
        prefix,
        1.5,
        &[("matchmaking", mm.display().to_string())],
    );
    let lease_key = format!("{prefix}:{{mm}}:lease");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let holder_id: Option<String> = redis::cmd("GET")
            .arg(&lease_key)
            .query_async(&mut conn)
            .await
            .expect("GET");
        if holder_id.as_deref() == Some("holder") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first node never took the lease"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let survivor = node(&redis, "survivor", prefix).await;
    holder.kill();
    let killed = Instant::now();

    // Two players queue for a duel on the survivor and are matched.
    let mut p1 = Player::connect(&survivor, "one").await;
    let mut p2 = Player::connect(&survivor, "two").await;
    p1.queue("duel").await;
    p2.queue("duel").await;
    let (m1, ..) = tokio::time::timeout(Duration::from_secs(10), p1.match_found())
        .await
        .expect("matched");
    let (m2, ..) = p2.match_found().await;
    assert_eq!(m1, m2);
    println!(
        "matched {:?} after the lease holder died (lease TTL 1.5 s)",
        killed.elapsed()
    );
    assert!(killed.elapsed() < Duration::from_secs(5));
    survivor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_leave_with_a_disconnected_player_and_a_dead_node() {
    let redis = RedisServer::start();
    let prefix = "mmleave";
    let mut conn = redis_conn(&redis).await;
    let a = node(&redis, "node-a", prefix).await;
    let mut p = Player::connect(&a, "leaver").await;
    p.queue("ffa").await;
    p.wait_for(|m| matches!(m, Incoming::Msg(ServerMsg::QueueUpdate { .. })).then_some(()))
        .await;
    assert_eq!(queued(&mut conn, prefix, "ffa").await, 1);
    p.conn.close().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while queued(&mut conn, prefix, "ffa").await != 0 {
        assert!(
            Instant::now() < deadline,
            "the disconnected player's ticket stayed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A node that dies takes its tickets with it within the ticket TTL (2 s).
    let mm = test_matchmaking();
    let mut doomed = ChildNode::start_with(
        env!("CARGO_BIN_EXE_skirmish-test-node"),
        &redis.url(),
        "doomed",
        prefix,
        1.5,
        &[("matchmaking", mm.display().to_string())],
    );
    let mut q = Player::connect_to(&doomed.url(), "stranded").await;
    q.queue("ffa").await;
    q.wait_for(|m| matches!(m, Incoming::Msg(ServerMsg::QueueUpdate { .. })).then_some(()))
        .await;
    assert_eq!(queued(&mut conn, prefix, "ffa").await, 1);
    doomed.kill();
    let killed = Instant::now();
    while queued(&mut conn, prefix, "ffa").await != 0 {
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "the dead node's ticket stayed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "the dead node's ticket left the queue after {:?}",
        killed.elapsed()
    );
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn far_apart_ratings_wait_for_the_window_to_widen() {
    let redis = RedisServer::start();
    let prefix = "mmrating";
    let a = node(&redis, "node-a", prefix).await;
    let mut weak = Player::connect(&a, "weak").await;
    let mut strong = Player::connect(&a, "strong").await;
    // Give the strong player a 2500 rating on the shared rating board.
    let client = skirmish_server::redis_conn::client(&redis.url()).expect("client");
    let commands = skirmish_server::redis_conn::commands(&client)
        .await
        .expect("connect");
    let boards = skirmish_server::leaderboard::RedisLeaderboards::new(
        commands,
        prefix,
        skirmish_server::leaderboard::LeaderboardConfig::default(),
    );
    let strong_id: PlayerId = strong.session.player_id.parse().expect("id");
    use skirmish_server::leaderboard::{Leaderboards, MatchSubmission, PlayerResult};
    let submission = MatchSubmission {
        match_id: MatchId(1),
        players: vec![PlayerResult {
            player_id: strong_id,
            name: "strong".into(),
            kills: 0,
            score: 0,
            rating: Some(2500),
        }],
    };
    boards
        .submit(&submission, skirmish_server::node::unix_ms())
        .await
        .expect("rated");

    // The duel mode's window starts at 100 and grows 500 a second: a gap of
    // 1500 needs (1500 - 100) / 500 = 2.8 s of waiting from both.
    let queued_at = Instant::now();
    weak.queue("duel").await;
    strong.queue("duel").await;
    let (m1, ..) = tokio::time::timeout(Duration::from_secs(10), weak.match_found())
        .await
        .expect("matched");
    let waited = queued_at.elapsed();
    let (m2, ..) = strong.match_found().await;
    assert_eq!(m1, m2);
    assert!(
        waited >= Duration::from_millis(2700),
        "matched before the windows allowed it: {waited:?}"
    );
    println!("1000 and 2500 matched after {waited:?}");
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_tickets_are_refused_when_reused_forged_expired_or_misdirected() {
    let redis = RedisServer::start();
    let prefix = "mmtickets";
    let nodes = [
        node(&redis, "node-a", prefix).await,
        node(&redis, "node-b", prefix).await,
    ];
    let mut p1 = Player::connect(&nodes[0], "one").await;
    let mut p2 = Player::connect(&nodes[0], "two").await;
    p1.queue("duel").await;
    p2.queue("duel").await;
    let (match_id, host_url, ticket1, same1) = p1.match_found().await;
    let (_, _, ticket2, same2) = p2.match_found().await;
    let _ = p1.follow(&host_url, &ticket1, same1).await;
    let (mut p2, _) = p2.follow(&host_url, &ticket2, same2).await;
    let (host, other, host_id) = if host_url == nodes[0].url() {
        (&nodes[0], &nodes[1], "node-a")
    } else {
        (&nodes[1], &nodes[0], "node-b")
    };

    // Reused: p2 leaves the match, then presents its ticket again.
    p2.conn.send(&ClientMsg::Leave).await.expect("send");
    p2.wait_for(|m| matches!(m, Incoming::Msg(ServerMsg::Left { .. })).then_some(()))
        .await;
    p2.conn
        .send(&ClientMsg::JoinMatch { ticket: ticket2 })
        .await
        .expect("send");
    assert_eq!(p2.next_error().await, "ticket_used");

    let mut lobbyist = Player::connect(host, "lobbyist").await;
    let lobbyist_id: PlayerId = lobbyist.session.player_id.parse().expect("id");
    let keys = SessionKeys::new(Some(CLUSTER_SECRET), Duration::from_secs(60));
    let now = skirmish_server::node::unix_ms();
    let mint = |keys: &SessionKeys, player_id: PlayerId, host: &str, expires_at_ms: u64| {
        JoinTickets::new(keys.clone(), host).seal(&JoinClaims {
            player_id,
            match_id,
            host: host.to_owned(),
            expires_at_ms,
            nonce: rand_nonce(),
        })
    };
    let refused = |ticket: String, code: &'static str| (ticket, code);
    let cases = [
        refused("j1.garbage.garbage".into(), "invalid_ticket"),
        refused(
            mint(
                &SessionKeys::new(Some("a guess"), Duration::from_secs(60)),
                lobbyist_id,
                host_id,
                now + 60_000,
            ),
            "invalid_ticket",
        ),
        refused(
            mint(&keys, PlayerId(12345), host_id, now + 60_000),
            "invalid_ticket",
        ),
        refused(
            mint(&keys, lobbyist_id, host_id, now.saturating_sub(1)),
            "expired_ticket",
        ),
    ];
    for (ticket, code) in cases {
        lobbyist
            .conn
            .send(&ClientMsg::JoinMatch { ticket })
            .await
            .expect("send");
        assert_eq!(lobbyist.next_error().await, code);
    }
    // Good for this player and match, but presented to the other node.
    let mut wanderer = Player::connect(other, "wanderer").await;
    let wanderer_id: PlayerId = wanderer.session.player_id.parse().expect("id");
    wanderer
        .conn
        .send(&ClientMsg::JoinMatch {
            ticket: mint(&keys, wanderer_id, host_id, now + 60_000),
        })
        .await
        .expect("send");
    assert_eq!(wanderer.next_error().await, "wrong_node");
    for node in nodes {
        node.stop().await;
    }
}

fn rand_nonce() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_ticket_that_waited_long_enough_plays_with_server_bots() {
    let redis = RedisServer::start();
    let a = node(&redis, "node-a", "mmbots").await;
    let mut p = Player::connect(&a, "lonely").await;
    let queued_at = Instant::now();
    p.queue("bots").await;
    let (_, host, ticket, same_node) =
        tokio::time::timeout(Duration::from_secs(10), p.match_found())
            .await
            .expect("found");
    assert!(
        queued_at.elapsed() >= Duration::from_secs(1),
        "bots only after the backfill wait"
    );
    let (mut p, you) = p.follow(&host, &ticket, same_node).await;
    // The match starts at once (its only player is here) with three bots
    // that move and play.
    let roster = p
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Roster { players }) if players.len() == 4 => {
                Some(players.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(
        roster.iter().filter(|r| r.name.starts_with("Bot ")).count(),
        3
    );
    let first = p
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Snapshot { tick, players, .. }) if *tick > 0 => {
                Some(players.clone())
            }
            _ => None,
        })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later = p
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Snapshot { players, .. }) => Some(players.clone()),
            _ => None,
        })
        .await;
    let moved = first
        .iter()
        .filter(|b| b.id != you)
        .filter(|b| {
            later
                .iter()
                .any(|l| l.id == b.id && (l.x, l.y) != (b.x, b.y))
        })
        .count();
    assert!(moved >= 2, "the bots move: {moved} of 3");
    a.stop().await;
}
