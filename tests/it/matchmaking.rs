//! Matchmaking across nodes on one real Redis: matches formed from players
//! on every node and hosted by one, on distinct nodes by load; parties kept
//! together; the forming lease failing over; a dead node never left
//! hosting; one live ticket per player; cancels and no-shows giving their
//! seats up; tickets leaving with their players and nodes; rating windows;
//! and join tickets refused when they should be.

use skirmish_client_sim::{Connection, Incoming};
use skirmish_server::auth::SessionKeys;
use skirmish_server::matchmaking::hosting::HOST_ACK_TIMEOUT;
use skirmish_server::matchmaking::join::JoinClaims;
use skirmish_server::matchmaking::{
    JoinTickets, MatchmakingConfig, MemoryQueue, QueueStore, RedisQueue, StoreError, Ticket,
    TicketPlayer,
};
use skirmish_server::redis_conn::Commands;
use skirmish_shared::proto::{ClientMsg, MatchId, PlayerId, ServerMsg};
use skirmish_tests::redis::RedisServer;
use skirmish_tests::redis_cluster::{RedisAt, Setup, TestRedis};
use skirmish_tests::{
    CLUSTER_SECRET, ChildNode, Player, TEST_MATCHMAKING, TempDir, TestNode, arena_players,
    cluster_config, live_nodes, matchmaking_file, recv, snapshot_teams, test_matchmaking,
};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// Room for scheduling on a loaded 2-core machine, on top of what the
/// configured lifetimes and rounds allow, in timed assertions.
const SLACK: Duration = Duration::from_secs(2);

/// The node ttl the shipped config uses: a dead node stays listed this long.
const SHIPPED_NODE_TTL_S: f32 = 6.0;

/// The settings the test nodes run with.
/// The shipped games' seats, as a node checks modes against them.
const SEATS: &[skirmish_server::matchmaking::GameSeats<'_>] = &[
    skirmish_server::matchmaking::GameSeats {
        name: "arena",
        max_players: 16,
        teams: 0,
    },
    skirmish_server::matchmaking::GameSeats {
        name: "hill",
        max_players: 16,
        teams: 2,
    },
];

fn settings() -> MatchmakingConfig {
    MatchmakingConfig::from_toml(TEST_MATCHMAKING, "test", SEATS).expect("the test settings")
}

/// A node of a test cluster with the test matchmaking settings.
async fn node(redis: &impl RedisAt, id: &str, prefix: &str) -> TestNode {
    node_with(redis, id, prefix, &test_matchmaking(), None).await
}

/// A node with these matchmaking settings and, if given, node TTL.
async fn node_with(
    redis: &impl RedisAt,
    id: &str,
    prefix: &str,
    matchmaking: &Path,
    node_ttl_s: Option<f32>,
) -> TestNode {
    let mut config = cluster_config(&redis.url(), id, prefix);
    config.matchmaking = matchmaking.to_path_buf();
    if let Some(ttl) = node_ttl_s {
        config.node_ttl_s = ttl;
    }
    TestNode::start(config).await
}

/// A node in its own process, to kill, with the test matchmaking settings.
fn child_node(redis: &impl RedisAt, id: &str, prefix: &str, node_ttl_s: f32) -> ChildNode {
    ChildNode::start_with(
        env!("CARGO_BIN_EXE_skirmish-test-node"),
        &redis.url(),
        id,
        prefix,
        node_ttl_s,
        &[("matchmaking", test_matchmaking().display().to_string())],
    )
}

/// A Redis connection for looking at the queue from the test.
async fn redis_conn(redis: &impl RedisAt) -> Commands {
    let client = skirmish_server::redis_conn::client(&redis.url()).expect("client");
    skirmish_server::redis_conn::commands(&client)
        .await
        .expect("connect")
}

async fn queued(conn: &mut Commands, prefix: &str, mode: &str) -> u64 {
    redis::cmd("ZCARD")
        .arg(format!("{prefix}:{{mm}}:queue:{mode}"))
        .query_async(conn)
        .await
        .expect("ZCARD")
}

/// Waits until `node_id` holds the forming lease.
async fn wait_for_lease(conn: &mut Commands, prefix: &str, node_id: &str) {
    let lease_key = format!("{prefix}:{{mm}}:lease");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let holder: Option<String> = redis::cmd("GET")
            .arg(&lease_key)
            .query_async(conn)
            .await
            .expect("GET");
        if holder.as_deref() == Some(node_id) {
            return;
        }
        assert!(Instant::now() < deadline, "{node_id} never took the lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the registry lists `node_id`.
async fn wait_listed(base_url: &str, node_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !live_nodes(base_url).await.iter().any(|n| n == node_id) {
        assert!(Instant::now() < deadline, "{node_id} never registered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the registry reports at least `n` players on `node_id`.
async fn wait_for_players(base_url: &str, node_id: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let body: serde_json::Value = skirmish_tests::http()
            .get(format!("{base_url}/api/nodes"))
            .send()
            .await
            .expect("GET /api/nodes")
            .json()
            .await
            .expect("a JSON body");
        let players = body["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["id"] == node_id))
            .and_then(|n| n["players"].as_u64())
            .unwrap_or(0);
        if players >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{node_id} never reported {n} players"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every message a connection receives within `window`.
async fn drain(conn: &mut Connection, window: Duration) -> Vec<ServerMsg> {
    skirmish_tests::drain(conn, window)
        .await
        .into_iter()
        .filter_map(|m| match m {
            Incoming::Msg(msg) => Some(msg),
            Incoming::Closed(_) => None,
        })
        .collect()
}

fn count_match_found(msgs: &[ServerMsg]) -> usize {
    msgs.iter()
        .filter(|m| matches!(m, ServerMsg::MatchFound { .. }))
        .count()
}

/// Reads every seated player's connections for `window` (all at once) and
/// checks that none was told of a second match.
async fn assert_one_match_found(seated: &mut [Seated], window: Duration) {
    let counts = futures_util::future::join_all(seated.iter_mut().map(|s| async move {
        let mut later = drain(&mut s.lobby, window).await;
        if let Some(host) = &mut s.host {
            later.extend(drain(host, Duration::from_millis(10)).await);
        }
        (s.name.clone(), s.match_founds + count_match_found(&later))
    }))
    .await;
    for (name, n) in counts {
        assert_eq!(n, 1, "{name} received {n} match_found");
    }
}

/// A player seated in a formed match and playing there.
struct Seated {
    name: String,
    match_id: MatchId,
    host_url: String,
    /// The names in the match's roster once its clock runs.
    roster: Vec<String>,
    /// The roster's ids and names.
    ids: Vec<(u16, String)>,
    /// Everyone's team in the first snapshot with the clock running (team
    /// games only).
    teams: Vec<(u16, Option<u8>)>,
    /// The connection it queued on, still open (the host connection too
    /// when the host is that node).
    lobby: Connection,
    /// Its connection to the host, if another node.
    host: Option<Connection>,
    /// `match_found`s it received until then.
    match_founds: usize,
}

/// Queues, waits for `match_found`, connects to the host (keeping the lobby
/// connection open, so a second `match_found` would be seen), takes the
/// seat, and waits for a snapshot of the running match with `n_players`.
async fn queue_and_play(mut player: Player, mode: &str, n_players: usize) -> Seated {
    player.queue(mode).await;
    play_when_found(player, n_players).await
}

/// Every player queues at once and plays (see [`queue_and_play`]), each
/// within 30 s.
async fn all_queue_and_play(
    players: impl IntoIterator<Item = Player>,
    mode: &str,
    n_players: usize,
) -> Vec<Seated> {
    let plays: Vec<_> = players
        .into_iter()
        .map(|p| {
            let mode = mode.to_owned();
            tokio::spawn(async move { queue_and_play(p, &mode, n_players).await })
        })
        .collect();
    let mut seated = Vec::new();
    for play in plays {
        seated.push(
            tokio::time::timeout(Duration::from_secs(30), play)
                .await
                .expect("playing in time")
                .expect("played"),
        );
    }
    seated
}

/// Like [`queue_and_play`], for a player already queued (a party member).
async fn play_when_found(mut player: Player, n_players: usize) -> Seated {
    let mut match_founds = 0;
    let (match_id, host_url, ticket, same_node) = player
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::MatchFound {
                match_id,
                host_url,
                ticket,
                same_node,
            }) => Some((*match_id, host_url.clone(), ticket.clone(), *same_node)),
            _ => None,
        })
        .await;
    match_founds += 1;
    let mut host = if same_node {
        None
    } else {
        Some(skirmish_tests::open(&host_url, &player.session.token).await)
    };
    let conn = host.as_mut().unwrap_or(&mut player.conn);
    conn.send(&ClientMsg::JoinMatch { ticket })
        .await
        .expect("send join_match");
    let mut roster = Vec::new();
    let mut ids = Vec::new();
    let teams = loop {
        match recv(conn).await {
            Incoming::Msg(ServerMsg::Roster { players }) => {
                roster = players.iter().map(|p| p.name.clone()).collect();
                ids = players.iter().map(|p| (p.id, p.name.clone())).collect();
            }
            Incoming::Msg(ServerMsg::Snapshot { tick, .. })
                if tick > 0 && ids.len() == n_players =>
            {
                let seen = snapshot_teams(conn).expect("a snapshot");
                // The hill shows everyone, with their teams; the arena only
                // whoever is in view, so its seats are the roster's.
                if seen.len() == n_players {
                    break seen;
                }
                if seen.iter().all(|(_, team)| team.is_none()) {
                    break ids.iter().map(|(id, _)| (*id, None)).collect();
                }
            }
            Incoming::Msg(ServerMsg::MatchFound { .. }) => match_founds += 1,
            Incoming::Msg(ServerMsg::Error { code, message }) => {
                panic!("{}: refused: {code}: {message}", player.session.name)
            }
            Incoming::Closed(frame) => panic!("closed while joining: {frame:?}"),
            Incoming::Msg(_) => {}
        }
    };
    Seated {
        name: player.session.name.clone(),
        match_id,
        host_url,
        roster,
        ids,
        teams,
        lobby: player.conn,
        host,
        match_founds,
    }
}

/// Three nodes on one Redis, each seeing all three in the registry.
async fn three_listed_nodes(redis: &impl RedisAt, prefix: &str) -> [TestNode; 3] {
    let nodes = [
        node(redis, "node-a", prefix).await,
        node(redis, "node-b", prefix).await,
        node(redis, "node-c", prefix).await,
    ];
    for n in &nodes {
        for id in ["node-a", "node-b", "node-c"] {
            wait_listed(&n.url(), id).await;
        }
    }
    nodes
}

async fn forty_eight_players_on_three_nodes_make_three_matches_of_sixteen(setup: Setup) {
    let redis = TestRedis::start(setup);
    let prefix = "mm48";
    let nodes = three_listed_nodes(&redis, prefix).await;
    let mut players = Vec::new();
    for i in 0..48 {
        players.push(Player::connect(&nodes[i % 3], &format!("p{i}")).await);
    }
    // Spawned all at once (collected, not lazily): each match needs sixteen
    // of them queued.
    let mut seated = all_queue_and_play(players, "ffa", 16).await;

    // Every player plays on its match's host, in a running match of 16
    // (each waited for a snapshot of it with the clock running).
    let mut by_match: HashMap<MatchId, Vec<&Seated>> = HashMap::new();
    for s in &seated {
        by_match.entry(s.match_id).or_default().push(s);
    }
    assert_eq!(by_match.len(), 3, "three matches");
    let mut hosts = HashSet::new();
    let mut in_a_roster: HashMap<String, MatchId> = HashMap::new();
    for (match_id, players) in &by_match {
        assert_eq!(players.len(), 16, "match {match_id} has 16 players");
        let host = &players[0].host_url;
        assert!(
            players.iter().all(|p| &p.host_url == host),
            "match {match_id} was announced with two hosts"
        );
        hosts.insert(host.clone());
        let names: HashSet<&str> = players.iter().map(|p| p.name.as_str()).collect();
        for p in players {
            let roster: HashSet<&str> = p.roster.iter().map(String::as_str).collect();
            assert_eq!(
                roster, names,
                "{} sees a roster other than the match's players",
                p.name
            );
        }
        for name in names {
            if let Some(other) = in_a_roster.insert(name.to_owned(), *match_id) {
                panic!("{name} is in the rosters of {other} and {match_id}");
            }
        }
    }
    assert_eq!(in_a_roster.len(), 48);
    assert_eq!(
        hosts.len(),
        3,
        "the least-loaded node hosts each match: three nodes, three hosts"
    );

    // No player is told of a second match: every lobby connection is still
    // open and gets nothing more.
    assert_one_match_found(&mut seated, Duration::from_millis(500)).await;
    for node in nodes {
        node.stop().await;
    }
}

/// Gives each player a rating on the shared rating board, as if their
/// earlier matches had.
async fn rate(redis: &impl RedisAt, prefix: &str, ratings: &[(PlayerId, i32)]) {
    use skirmish_server::leaderboard::{Leaderboards, MatchSubmission, PlayerResult};
    let client = skirmish_server::redis_conn::client(&redis.url()).expect("client");
    let commands = skirmish_server::redis_conn::commands(&client)
        .await
        .expect("connect");
    let boards = skirmish_server::leaderboard::RedisLeaderboards::new(
        commands,
        prefix,
        skirmish_server::leaderboard::LeaderboardConfig::default(),
    );
    let submission = MatchSubmission {
        match_id: MatchId(1),
        players: ratings
            .iter()
            .map(|&(player_id, rating)| PlayerResult {
                player_id,
                name: player_id.to_string(),
                stats: Default::default(),
                rating: Some(rating),
            })
            .collect(),
    };
    boards
        .submit(&submission, skirmish_server::node::unix_ms())
        .await
        .expect("rated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_players_on_three_nodes_make_two_hill_matches_of_balanced_teams() {
    let redis = RedisServer::start();
    let prefix = "mmteams";
    let nodes = three_listed_nodes(&redis, prefix).await;
    let mut players = Vec::new();
    let mut rating_of: HashMap<String, i32> = HashMap::new();
    let mut ratings = Vec::new();
    for i in 0..32 {
        let player = Player::connect(&nodes[i % 3], &format!("p{i}")).await;
        // Spread over 800..1575, 25 apart.
        let rating = 800 + 25 * i as i32;
        rating_of.insert(player.session.name.clone(), rating);
        ratings.push((player.session.player_id.parse().expect("id"), rating));
        players.push(player);
    }
    rate(&redis, prefix, &ratings).await;
    let seated = all_queue_and_play(players, "hill", 16).await;

    let mut by_match: HashMap<MatchId, Vec<&Seated>> = HashMap::new();
    for s in &seated {
        by_match.entry(s.match_id).or_default().push(s);
    }
    assert_eq!(by_match.len(), 2, "two matches");
    for (match_id, players) in &by_match {
        assert_eq!(players.len(), 16, "match {match_id} has 16 players");
        assert!(
            players.iter().all(|p| p.host_url == players[0].host_url),
            "match {match_id} is hosted on one node"
        );
        // Every player sees the same teams: eight and eight, whose rating
        // totals differ by no more than the mode's starting window (100),
        // so their averages by at most 12.5. (Teams filled in the order
        // players arrived were 40 to 100 apart in averages.)
        let seen = &players[0];
        let mut totals = [(0i64, 0usize); 2];
        for (id, team) in &seen.teams {
            let name = &seen
                .ids
                .iter()
                .find(|(i, _)| i == id)
                .expect("in the roster")
                .1;
            let team = usize::from(team.expect("a hill player has a team"));
            totals[team].0 += i64::from(rating_of[name]);
            totals[team].1 += 1;
        }
        assert_eq!((totals[0].1, totals[1].1), (8, 8), "match {match_id}");
        let avg = |t: (i64, usize)| t.0 as f64 / t.1 as f64;
        let gap = (avg(totals[0]) - avg(totals[1])).abs();
        assert!(gap <= 12.5, "match {match_id}: team averages {gap} apart");
        println!(
            "match {match_id}: team averages {} and {}",
            avg(totals[0]),
            avg(totals[1])
        );
        for p in players {
            let mut theirs = p.teams.clone();
            let mut mine = seen.teams.clone();
            theirs.sort();
            mine.sort();
            assert_eq!(theirs, mine, "{} sees other teams", p.name);
        }
    }
    for node in nodes {
        node.stop().await;
    }
}

/// Forms a party: the leader invites each member, who accepts; returns when
/// the leader sees everyone in it.
async fn party(leader: &mut Player, members: &mut [&mut Player]) {
    for (i, member) in members.iter_mut().enumerate() {
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
        // One acceptance at a time, so the members are listed in the
        // order they were invited (accepts on two nodes otherwise race).
        let size = i + 2;
        leader
            .wait_for(|m| match m {
                Incoming::Msg(ServerMsg::Party { members, .. }) if members.len() == size => {
                    Some(())
                }
                _ => None,
            })
            .await;
    }
}

async fn parties_of_two_and_four_land_together(setup: Setup) {
    let redis = TestRedis::start(setup);
    let prefix = "mmparty";
    let (a, b) = (
        node(&redis, "node-a", prefix).await,
        node(&redis, "node-b", prefix).await,
    );
    // A party of four across both nodes, a party of two across both, and
    // 26 solos: 32 players, two matches of 16, so a party split between
    // them would show. Twelve solos queue first, then the parties, then
    // the rest, so the parties queue as the first match fills up.
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

    let mut conn = redis_conn(&redis).await;
    let mut waiting = Vec::new();
    for i in 0..12 {
        let p = Player::connect(if i % 2 == 0 { &a } else { &b }, &format!("solo{i}")).await;
        waiting.push(tokio::spawn(queue_and_play(p, "ffa", 16)));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while queued(&mut conn, prefix, "ffa").await < 12 {
        assert!(Instant::now() < deadline, "the first solos never queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for mut p in four.into_iter().chain(two) {
        let is_leader = matches!(p.session.name.as_str(), "four0" | "two0");
        waiting.push(tokio::spawn(async move {
            if is_leader {
                p.queue("ffa").await;
            }
            play_when_found(p, 16).await
        }));
    }
    for i in 12..26 {
        let p = Player::connect(if i % 2 == 0 { &a } else { &b }, &format!("solo{i}")).await;
        waiting.push(tokio::spawn(queue_and_play(p, "ffa", 16)));
    }
    let mut matches: HashMap<String, MatchId> = HashMap::new();
    for w in waiting {
        let s = tokio::time::timeout(Duration::from_secs(30), w)
            .await
            .expect("in time")
            .expect("played");
        matches.insert(s.name, s.match_id);
    }
    let mut sizes: HashMap<MatchId, usize> = HashMap::new();
    for m in matches.values() {
        *sizes.entry(*m).or_default() += 1;
    }
    assert_eq!(
        sizes.values().copied().collect::<Vec<_>>(),
        [16, 16],
        "32 players, two matches of 16"
    );
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
    a.stop().await;
    b.stop().await;
}

async fn another_node_forms_matches_when_the_lease_holder_dies(setup: Setup) {
    let redis = TestRedis::start(setup);
    let prefix = "mmlease";
    let mm = settings();
    let mut conn = redis_conn(&redis).await;
    // The first node up takes the lease; make it a process we can kill.
    let mut holder = child_node(&redis, "holder", prefix, 1.5);
    wait_for_lease(&mut conn, prefix, "holder").await;
    let survivor = node(&redis, "survivor", prefix).await;
    // Connected and listed before the kill, so the survivor is ready to
    // take over and the holder is still listed (and would be chosen by its
    // load of zero) when it does.
    let mut p1 = Player::connect(&survivor, "one").await;
    let mut p2 = Player::connect(&survivor, "two").await;
    wait_listed(&survivor.url(), "holder").await;
    holder.kill();
    let killed = Instant::now();

    // Two players queue for a duel on the survivor and are matched.
    p1.queue("duel").await;
    p2.queue("duel").await;
    let (m1, ..) = tokio::time::timeout(Duration::from_secs(10), p1.match_found())
        .await
        .expect("matched");
    let (m2, ..) = p2.match_found().await;
    assert_eq!(m1, m2);
    let took = killed.elapsed();
    // The holder's last renewal was at most a round before the kill, so the
    // lease is free a lease TTL after it; one round later the survivor
    // forms the duel.
    let bound = mm.lease_ttl() + mm.round_interval() + SLACK;
    println!("matched {took:?} after the lease holder died (bound {bound:?})");
    assert!(took < bound, "took over in {took:?}, over {bound:?}");
    survivor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matches_formed_as_a_node_dies_are_hosted_by_live_nodes() {
    // Regression: a killed node stays in the registry until its TTL passes
    // (6 s by default, longer than the lease), with the lowest load of all,
    // so it was chosen as host and its groups were lost: their players
    // waited LOST_GROUP_AFTER (10 s) to be queued again.
    let redis = RedisServer::start();
    let prefix = "mmdead";
    let mm = settings();
    let mut conn = redis_conn(&redis).await;
    let mm_file = test_matchmaking();
    let a = node_with(&redis, "node-a", prefix, &mm_file, Some(SHIPPED_NODE_TTL_S)).await;
    wait_for_lease(&mut conn, prefix, "node-a").await;
    let b = node_with(&redis, "node-b", prefix, &mm_file, Some(SHIPPED_NODE_TTL_S)).await;
    let mut doomed = child_node(&redis, "doomed", prefix, SHIPPED_NODE_TTL_S);
    wait_listed(&a.url(), "doomed").await;
    wait_listed(&a.url(), "node-b").await;
    let mut players = Vec::new();
    for i in 0..8 {
        players.push(Player::connect(if i % 2 == 0 { &a } else { &b }, &format!("p{i}")).await);
    }
    // The live nodes' load (4 each) is in the registry: the dead one has
    // the lowest.
    wait_for_players(&a.url(), "node-a", 4).await;
    wait_for_players(&a.url(), "node-b", 4).await;
    doomed.kill();
    let killed = Instant::now();
    assert!(
        live_nodes(&a.url()).await.iter().any(|n| n == "doomed"),
        "still listed, with no players"
    );

    // Four duels formed right away.
    let mut seated = all_queue_and_play(players, "duel", 2).await;
    let took = killed.elapsed();
    let live = [a.url(), b.url()];
    for s in &seated {
        assert!(
            live.contains(&s.host_url),
            "{} was sent to {}, not a live node",
            s.name,
            s.host_url
        );
    }
    // Each group sent to the dead node goes elsewhere once its
    // acknowledgement is overdue: within that and a couple of rounds, far
    // below the 10 s a lost group waits.
    let bound = HOST_ACK_TIMEOUT + mm.round_interval() * 2 + SLACK;
    println!("8 players playing {took:?} after a node died (bound {bound:?})");
    assert!(took < bound, "took {took:?}, over {bound:?}");
    // node-a forms (it holds the lease): its own count, not the process's
    // metric, which other tests' nodes add to.
    assert!(
        a.node().matchmaking.rehosted() >= 1,
        "the dead node was chosen (lowest load, recent heartbeat) and the group moved on"
    );
    assert_one_match_found(&mut seated, Duration::from_millis(500)).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_at_its_match_limit_does_not_host_and_the_group_plays_elsewhere() {
    // Regression: a node running its maximum number of matches still opened
    // every formed match it was sent. Now it does not acknowledge, and the
    // former gives the group to the next node.
    let redis = RedisServer::start();
    let prefix = "mmfull";
    let mm = settings();
    let mut conn = redis_conn(&redis).await;
    let a = node(&redis, "node-a", prefix).await;
    wait_for_lease(&mut conn, prefix, "node-a").await;
    let mut config = cluster_config(&redis.url(), "node-full", prefix);
    config.matchmaking = test_matchmaking();
    config.limits.max_matches = 0;
    let full = TestNode::start(config).await;
    wait_listed(&a.url(), "node-full").await;
    // Both players on node-a: the full node has the lower load, so it is
    // the first choice.
    let players = [
        Player::connect(&a, "p0").await,
        Player::connect(&a, "p1").await,
    ];
    wait_for_players(&a.url(), "node-a", 2).await;
    let queued_at = Instant::now();
    let mut seated = all_queue_and_play(players, "duel", 2).await;
    let took = queued_at.elapsed();
    for s in &seated {
        assert_eq!(s.host_url, a.url(), "{} was sent to the full node", s.name);
    }
    let bound = HOST_ACK_TIMEOUT + mm.round_interval() * 2 + SLACK;
    assert!(took < bound, "took {took:?}, over {bound:?}");
    let (matches, _) = full.node().matches.counts();
    assert_eq!(matches, 0, "the full node opened nothing");
    assert!(
        a.node().matchmaking.rehosted() >= 1,
        "the full node was chosen first (lowest load) and declined"
    );
    assert_one_match_found(&mut seated, Duration::from_millis(500)).await;
    a.stop().await;
    full.stop().await;
}

async fn tickets_leave_with_a_disconnected_player_and_a_dead_node(setup: Setup) {
    let redis = TestRedis::start(setup);
    let prefix = "mmleave";
    let mm = settings();
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

    // A node that dies takes its tickets with it within the ticket TTL.
    let mut doomed = child_node(&redis, "doomed", prefix, 1.5);
    let mut q = Player::connect_to(&doomed.url(), "stranded").await;
    q.queue("ffa").await;
    q.wait_for(|m| matches!(m, Incoming::Msg(ServerMsg::QueueUpdate { .. })).then_some(()))
        .await;
    assert_eq!(queued(&mut conn, prefix, "ffa").await, 1);
    doomed.kill();
    let killed = Instant::now();
    // The ticket was refreshed at most a second before the kill, so it
    // expires a TTL after it, and the next round takes it out of the queue.
    let bound = mm.ticket_ttl() + mm.round_interval() + SLACK;
    while queued(&mut conn, prefix, "ffa").await != 0 {
        assert!(
            killed.elapsed() < bound,
            "the dead node's ticket stayed past {bound:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "the dead node's ticket left the queue after {:?} (bound {bound:?})",
        killed.elapsed()
    );
    // And its player is free to queue again from another node.
    let mut back = Player {
        session: q.session.clone(),
        conn: Connection::connect(&a.url(), &q.session.token)
            .await
            .expect("connect"),
    };
    back.wait_for(|m| matches!(m, Incoming::Msg(ServerMsg::Welcome { .. })).then_some(()))
        .await;
    back.queue("ffa").await;
    back.wait_for(|m| match m {
        Incoming::Msg(ServerMsg::QueueUpdate { .. }) => Some(()),
        Incoming::Msg(ServerMsg::Error { code, .. }) => panic!("refused: {code}"),
        _ => None,
    })
    .await;
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
            stats: Default::default(),
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
        JoinTickets::new(keys.clone(), &host.into()).seal(&JoinClaims {
            player_id,
            match_id,
            host: host.into(),
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
    // Bots are in the snapshots only while within the player's view, so
    // watch for up to 5 s for two of them seen at two places.
    let mut seen: HashMap<u16, (f32, f32)> = HashMap::new();
    let mut movers: HashSet<u16> = HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while movers.len() < 2 && tokio::time::Instant::now() < deadline {
        p.wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Snapshot { tick, .. }) if *tick > 0 => Some(()),
            _ => None,
        })
        .await;
        for b in arena_players(&p.conn).expect("an arena snapshot") {
            if b.id == you {
                continue;
            }
            if seen
                .insert(b.id, (b.x, b.y))
                .is_some_and(|at| at != (b.x, b.y))
            {
                movers.insert(b.id);
            }
        }
    }
    let moved = movers.len();
    assert!(moved >= 2, "the bots move: {moved} of 3");
    a.stop().await;
}

/// The answer to a `queue`: `Ok` for `queue_update`, the error code else.
async fn queue_answer(player: &mut Player) -> Result<(), String> {
    player
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::QueueUpdate { .. }) => Some(Ok(())),
            Incoming::Msg(ServerMsg::Error { code, .. }) => Some(Err(code.to_string())),
            _ => None,
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_quick_queues_make_one_ticket() {
    // Regression: `enqueue` checked for a ticket and recorded the new one
    // only after two awaits, so two `queue`s sent back to back both got
    // through: one player, two tickets, two matches.
    let redis = RedisServer::start();
    let prefix = "mmtwice";
    let mut conn = redis_conn(&redis).await;
    let a = node(&redis, "node-a", prefix).await;
    let mut p = Player::connect(&a, "eager").await;
    p.queue("ffa").await;
    p.queue("ffa").await;
    let mut answers = vec![queue_answer(&mut p).await, queue_answer(&mut p).await];
    answers.sort();
    assert_eq!(answers, [Ok(()), Err("already_queued".to_owned())]);
    assert_eq!(queued(&mut conn, prefix, "ffa").await, 1);
    a.stop().await;
}

/// A player connected at two nodes could once queue at both (each node
/// checked only its own tickets); the store now keeps one live ticket per
/// player (`redis_queue_keeps_one_live_ticket_per_player`), and a player
/// has one connection in the cluster: moving to another node closes the
/// older connection (4003), its ticket goes with it, and the player queues
/// at the new node.
async fn a_player_who_moves_to_another_node_takes_their_place_in_the_queue_there(setup: Setup) {
    let redis = TestRedis::start(setup);
    let prefix = "mmtwonodes";
    let mut conn = redis_conn(&redis).await;
    let a = node(&redis, "node-a", prefix).await;
    let b = node(&redis, "node-b", prefix).await;
    let mut on_a = Player::connect(&a, "everywhere").await;
    on_a.queue("ffa").await;
    assert_eq!(queue_answer(&mut on_a).await, Ok(()));
    assert_eq!(queued(&mut conn, prefix, "ffa").await, 1);
    // Its place is recorded just after `welcome`.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut on_b = on_a.another_connection(&b.url()).await;
    assert_eq!(on_a.closed_with().await, Some(4003));
    let deadline = Instant::now() + Duration::from_secs(5);
    while queued(&mut conn, prefix, "ffa").await != 0 {
        assert!(
            Instant::now() < deadline,
            "the ticket stayed with the closed connection"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    on_b.queue("ffa").await;
    assert_eq!(queue_answer(&mut on_b).await, Ok(()));
    assert_eq!(queued(&mut conn, prefix, "ffa").await, 1);
    a.stop().await;
    b.stop().await;
}

/// Has `leader` invite `member` and `member` accept; returns when the
/// leader sees the party of two.
async fn invite_and_accept(leader: &mut Player, member: &mut Player) {
    party(leader, &mut [member]).await;
}

async fn accepting_a_party_invitation_takes_the_player_out_of_the_queue(setup: Setup) {
    // Regression: a player queued alone who accepted an invitation kept
    // their solo ticket (on another node than the leader's), or had the
    // acceptance dropped without a word (on the leader's node).
    let redis = TestRedis::start(setup);
    let prefix = "mmaccept";
    let mut conn = redis_conn(&redis).await;
    let a = node(&redis, "node-a", prefix).await;
    let b = node(&redis, "node-b", prefix).await;
    for (case, member_node) in [("same node", &a), ("other node", &b)] {
        let mut leader = Player::connect(&a, "leader").await;
        let mut member = Player::connect(member_node, "member").await;
        member.queue("duel").await;
        assert_eq!(queue_answer(&mut member).await, Ok(()), "{case}");
        invite_and_accept(&mut leader, &mut member).await;
        let reason = member
            .wait_for(|m| match m {
                Incoming::Msg(ServerMsg::QueueLeft { reason }) => Some(reason.clone()),
                _ => None,
            })
            .await;
        assert_eq!(reason, "joined_party", "{case}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while queued(&mut conn, prefix, "duel").await != 0 {
            assert!(Instant::now() < deadline, "{case}: the solo ticket stayed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A lone duellist waits; had the member's solo ticket stayed, it
        // would have matched them at once, besides the party's match.
        let mut lone = Player::connect(member_node, "lone").await;
        lone.queue("duel").await;
        assert_eq!(queue_answer(&mut lone).await, Ok(()), "{case}");
        leader.queue("duel").await;
        let (m1, ..) = leader.match_found().await;
        let (m2, ..) = member.match_found().await;
        assert_eq!(m1, m2, "{case}: the party plays together");
        let later = drain(&mut lone.conn, Duration::from_millis(500)).await;
        assert_eq!(
            count_match_found(&later),
            0,
            "{case}: nobody to play the lone one"
        );
        assert_eq!(
            queued(&mut conn, prefix, "duel").await,
            1,
            "{case}: only the lone ticket waits"
        );
        lone.conn.close().await;
        leader.conn.close().await;
        member.conn.close().await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while queued(&mut conn, prefix, "duel").await != 0 {
            assert!(Instant::now() < deadline, "{case}: the lone ticket stayed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_who_cancels_after_the_claim_is_not_sent_to_the_match() {
    // Regression: a player who cancelled after their ticket was claimed got
    // `queue_left`, then a `match_found` anyway, and the browser followed
    // it. To cancel between the claim and the `match_found`, the group is
    // sent to a node that has just died, which leaves about a second (the
    // acknowledgement timeout) before it is hosted elsewhere.
    let redis = RedisServer::start();
    let prefix = "mmcancel";
    let mm = settings();
    let mut conn = redis_conn(&redis).await;
    let mm_file = test_matchmaking();
    let a = node_with(&redis, "node-a", prefix, &mm_file, Some(SHIPPED_NODE_TTL_S)).await;
    wait_for_lease(&mut conn, prefix, "node-a").await;
    let mut doomed = child_node(&redis, "doomed", prefix, SHIPPED_NODE_TTL_S);
    wait_listed(&a.url(), "doomed").await;
    let mut quitter = Player::connect(&a, "quitter").await;
    let stayer = Player::connect(&a, "stayer").await;
    // a's load (2) is in the registry: the dead node has the lowest.
    wait_for_players(&a.url(), "node-a", 2).await;
    doomed.kill();

    quitter.queue("duel").await;
    assert_eq!(queue_answer(&mut quitter).await, Ok(()));
    let play = tokio::spawn(queue_and_play(stayer, "duel", 1));
    // Both tickets claimed (the queue is empty), no match_found yet.
    let deadline = Instant::now() + Duration::from_secs(5);
    while queued(&mut conn, prefix, "duel").await != 0 {
        assert!(Instant::now() < deadline, "never claimed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    quitter
        .conn
        .send(&ClientMsg::CancelQueue)
        .await
        .expect("send");
    let cancelled = Instant::now();
    let got = quitter
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::QueueLeft { reason }) => Some(Ok(reason.clone())),
            Incoming::Msg(ServerMsg::MatchFound { .. }) => Some(Err("match_found first")),
            _ => None,
        })
        .await;
    assert_eq!(got, Ok("cancelled".to_owned()));

    // The other player's match starts without waiting out the join window
    // for the one who cancelled: the seat was given up.
    let seated = tokio::time::timeout(Duration::from_secs(20), play)
        .await
        .expect("in time")
        .expect("played");
    let started = cancelled.elapsed();
    assert_eq!(seated.roster, ["stayer"]);
    assert!(
        started < mm.join_window(),
        "the match waited {started:?} for a player who cancelled"
    );
    // The quitter never hears of it, and may queue again at once.
    let later = drain(
        &mut quitter.conn,
        HOST_ACK_TIMEOUT + mm.round_interval() * 2,
    )
    .await;
    assert_eq!(count_match_found(&later), 0, "match_found after queue_left");
    quitter.queue("duel").await;
    assert_eq!(queue_answer(&mut quitter).await, Ok(()));
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_who_does_not_arrive_loses_the_seat_and_the_match_starts_without_them() {
    let redis = RedisServer::start();
    let prefix = "mmnoshow";
    // A short join window.
    let text = TEST_MATCHMAKING.replace("join_window_s = 10.0", "join_window_s = 1.5");
    let mm = MatchmakingConfig::from_toml(&text, "test", SEATS).expect("settings");
    let window = mm.join_window();
    let dir = TempDir::new("noshow");
    let file = matchmaking_file(&text, &dir);
    let a = node_with(&redis, "node-a", prefix, &file, None).await;
    let b = node_with(&redis, "node-b", prefix, &file, None).await;
    let comer = Player::connect(&a, "comer").await;
    let mut absent = Player::connect(&b, "absent").await;
    let play = tokio::spawn(async move {
        let mut comer = comer;
        comer.queue("duel").await;
        let found = comer.match_found().await;
        let found_at = Instant::now();
        let (mut comer, _) = comer.follow(&found.1, &found.2, found.3).await;
        // The clock does not run while a seat is held.
        let mut roster = Vec::new();
        let tick = comer
            .wait_for(|m| match m {
                Incoming::Msg(ServerMsg::Roster { players }) => {
                    roster = players.iter().map(|p| p.name.clone()).collect();
                    None
                }
                Incoming::Msg(ServerMsg::Snapshot { tick, .. }) if *tick > 0 => Some(*tick),
                _ => None,
            })
            .await;
        (found_at.elapsed(), tick, roster, found.0)
    });
    absent.queue("duel").await;
    let (match_id, host_url, ticket, same_node) = absent.match_found().await;
    let (waited, _, roster, comer_match) = tokio::time::timeout(Duration::from_secs(20), play)
        .await
        .expect("in time")
        .expect("played");
    assert_eq!(comer_match, match_id);
    assert_eq!(
        roster,
        ["comer"],
        "the match started without the absent player"
    );
    // The window runs on the host from before `match_found` reached the
    // player, so allow for the delivery.
    assert!(
        waited >= window.mul_f64(0.5),
        "started {waited:?} after match_found, before the {window:?} join window"
    );
    println!("the match started {waited:?} after match_found (window {window:?})");
    // The seat is gone: the late ticket is refused.
    if !same_node {
        absent = absent.another_connection(&host_url).await;
    }
    absent
        .conn
        .send(&ClientMsg::JoinMatch { ticket })
        .await
        .expect("send");
    assert_eq!(absent.next_error().await, "expired_ticket");
    a.stop().await;
    b.stop().await;
}

// The queue store's contract, run against both implementations.

fn player(id: u64, node: &str) -> TicketPlayer {
    TicketPlayer {
        player_id: PlayerId(id),
        name: format!("p{id}"),
        node: node.into(),
    }
}

fn ticket(id: &str, players: Vec<TicketPlayer>, at: u64) -> Ticket {
    Ticket {
        id: id.into(),
        mode: "ffa".into(),
        node: players[0].node.clone(),
        players,
        rating: 1000,
        enqueued_at_ms: at,
    }
}

async fn one_live_ticket_per_player(store: &dyn QueueStore) {
    let ttl = Duration::from_secs(60);
    let solo = ticket("solo", vec![player(1, "a")], 1);
    store.enqueue(&solo, ttl).await.expect("enqueue");
    // A second ticket with the same player, from any node, is refused and
    // leaves nothing behind.
    let party = ticket("party", vec![player(2, "b"), player(1, "b")], 2);
    match store.enqueue(&party, ttl).await {
        Err(StoreError::AlreadyQueued { player_id, ticket }) => {
            assert_eq!((player_id, ticket.as_str()), (PlayerId(1), "solo"));
        }
        other => panic!("expected already queued, got {other:?}"),
    }
    let waiting = store.waiting(&"ffa".into(), 10).await.expect("waiting");
    assert_eq!(waiting.len(), 1, "the refused ticket was not stored");
    let other = ticket("other", vec![player(2, "b")], 3);
    store
        .enqueue(&other, ttl)
        .await
        .expect("player 2 was not marked by the refused ticket");
    // Queueing a ticket again under its own id (a lost group) is allowed.
    store.enqueue(&solo, ttl).await.expect("again");

    // A claimed ticket's players stay marked while it is refreshed...
    assert!(
        store
            .claim(&"ffa".into(), &["solo".into()])
            .await
            .expect("claim")
    );
    assert_eq!(
        store
            .refresh(std::slice::from_ref(&solo), ttl)
            .await
            .expect("refresh"),
        [false]
    );
    let again = ticket("again", vec![player(1, "c")], 4);
    assert!(matches!(
        store.enqueue(&again, ttl).await,
        Err(StoreError::AlreadyQueued { .. })
    ));
    // ...until their node forgets the ticket (its match was found).
    assert!(!store.cancel(&solo).await.expect("cancel"));
    store.enqueue(&again, ttl).await.expect("free again");

    // A cancel frees the players at once.
    assert!(store.cancel(&again).await.expect("cancel"));
    store
        .enqueue(
            &ticket("third", vec![player(1, "a")], 5),
            Duration::from_millis(200),
        )
        .await
        .expect("free after the cancel");
    // And a ticket nobody refreshes frees its players with it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    store
        .enqueue(&ticket("fourth", vec![player(1, "a")], 6), ttl)
        .await
        .expect("free after the expiry");
}

#[tokio::test]
async fn memory_queue_keeps_one_live_ticket_per_player() {
    one_live_ticket_per_player(&MemoryQueue::default()).await;
}

async fn redis_queue_keeps_one_live_ticket_per_player(setup: Setup) {
    let redis = TestRedis::start(setup);
    let client = skirmish_server::redis_conn::client(&redis.url()).expect("client");
    let commands = skirmish_server::redis_conn::commands(&client)
        .await
        .expect("connect");
    one_live_ticket_per_player(&RedisQueue::new(commands, "contract")).await;
}

/// Sends a message and returns the error code it is refused with.
async fn refused(player: &mut Player, msg: ClientMsg) -> String {
    player.conn.send(&msg).await.expect("send");
    player.next_error().await
}

/// PROTOCOL.md sections 6 and 11: `unknown_mode`, `not_queued`,
/// `player_offline` and every kind of `party_refused`, over the wire, each
/// changing nothing (the party still queues as it was).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_and_party_refusals_have_their_codes_and_change_nothing() {
    let redis = RedisServer::start();
    let prefix = "mmrefusals";
    let mut conn = redis_conn(&redis).await;
    let a = node(&redis, "node-a", prefix).await;
    let b = node(&redis, "node-b", prefix).await;
    let mut leader = Player::connect(&a, "leader").await;
    let mut members = vec![
        Player::connect(&b, "m1").await,
        Player::connect(&a, "m2").await,
        Player::connect(&b, "m3").await,
    ];
    let mut outsider = Player::connect(&a, "outsider").await;

    assert_eq!(
        refused(
            &mut leader,
            ClientMsg::Queue {
                mode: "nope".into()
            }
        )
        .await,
        "unknown_mode"
    );
    assert_eq!(
        refused(&mut leader, ClientMsg::CancelQueue).await,
        "not_queued"
    );
    let nobody = PlayerId(0x0bad_c0de_0bad_c0de);
    assert_eq!(
        refused(&mut leader, ClientMsg::PartyInvite { player_id: nobody }).await,
        "player_offline"
    );
    let me: PlayerId = leader.session.player_id.parse().expect("id");
    assert_eq!(
        refused(&mut leader, ClientMsg::PartyInvite { player_id: me }).await,
        "party_refused",
        "inviting oneself"
    );
    assert_eq!(
        refused(&mut leader, ClientMsg::PartyLeave).await,
        "party_refused",
        "leaving no party"
    );
    assert_eq!(
        refused(
            &mut outsider,
            ClientMsg::PartyAccept {
                party_id: "0123456789abcdef".into()
            }
        )
        .await,
        "party_refused",
        "accepting no invitation"
    );

    // A party of four: full, and only its leader invites or queues.
    party(&mut leader, &mut members.iter_mut().collect::<Vec<_>>()).await;
    let outsider_id: PlayerId = outsider.session.player_id.parse().expect("id");
    assert_eq!(
        refused(
            &mut leader,
            ClientMsg::PartyInvite {
                player_id: outsider_id
            }
        )
        .await,
        "party_refused",
        "a fifth member"
    );
    assert_eq!(
        refused(
            &mut members[1],
            ClientMsg::PartyInvite {
                player_id: outsider_id
            }
        )
        .await,
        "party_refused",
        "a member inviting"
    );
    assert_eq!(
        refused(&mut members[0], ClientMsg::Queue { mode: "ffa".into() }).await,
        "party_refused",
        "a member queueing"
    );
    assert_eq!(queued(&mut conn, prefix, "ffa").await, 0, "nothing queued");
    // A party of four fits no side of a duel (regression: it was queued,
    // and formation skipped it for ever).
    assert_eq!(
        refused(
            &mut leader,
            ClientMsg::Queue {
                mode: "duel".into()
            }
        )
        .await,
        "party_refused",
        "a party bigger than a side"
    );
    assert_eq!(queued(&mut conn, prefix, "duel").await, 0, "nothing queued");

    // Nothing changed: the leader queues the whole party of four.
    leader.queue("ffa").await;
    assert_eq!(queue_answer(&mut leader).await, Ok(()));
    for m in &mut members {
        m.wait_for(|m| matches!(m, Incoming::Msg(ServerMsg::QueueUpdate { .. })).then_some(()))
            .await;
    }
    a.stop().await;
    b.stop().await;
}

/// PROTOCOL.md section 11: a member leaving keeps the party for the others;
/// a member disconnecting takes the queued party out (`queue_left`
/// `party_changed`); the leader leaving with members still in disbands it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_leave_a_party_and_the_leader_leaving_disbands_it() {
    let redis = RedisServer::start();
    let prefix = "mmpartyleave";
    let mut conn = redis_conn(&redis).await;
    let a = node(&redis, "node-a", prefix).await;
    let b = node(&redis, "node-b", prefix).await;
    let mut leader = Player::connect(&a, "leader").await;
    let mut quitter = Player::connect(&b, "quitter").await;
    let mut dropper = Player::connect(&b, "dropper").await;
    let mut stayer = Player::connect(&a, "stayer").await;
    party(&mut leader, &mut [&mut quitter, &mut dropper, &mut stayer]).await;

    // A member leaves: the other three stay together.
    quitter
        .conn
        .send(&ClientMsg::PartyLeave)
        .await
        .expect("send");
    quitter
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Party { members, .. }) if members.is_empty() => Some(()),
            _ => None,
        })
        .await;
    for p in [&mut leader, &mut stayer] {
        let names = p
            .wait_for(|m| match m {
                Incoming::Msg(ServerMsg::Party { members, .. }) if members.len() == 3 => {
                    Some(members.iter().map(|m| m.name.clone()).collect::<Vec<_>>())
                }
                _ => None,
            })
            .await;
        assert_eq!(names, ["leader", "dropper", "stayer"]);
    }

    // Queued, a member disconnects: the party leaves the queue.
    leader.queue("ffa").await;
    assert_eq!(queue_answer(&mut leader).await, Ok(()));
    assert_eq!(queued(&mut conn, prefix, "ffa").await, 1);
    dropper.conn.close().await;
    for p in [&mut leader, &mut stayer] {
        let reason = p
            .wait_for(|m| match m {
                Incoming::Msg(ServerMsg::QueueLeft { reason }) => Some(reason.clone()),
                _ => None,
            })
            .await;
        assert_eq!(reason, "party_changed");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while queued(&mut conn, prefix, "ffa").await != 0 {
        assert!(Instant::now() < deadline, "the party's ticket stayed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The leader leaves with a member still in: the party is gone for
    // both, and the member may queue alone.
    leader
        .conn
        .send(&ClientMsg::PartyLeave)
        .await
        .expect("send");
    for p in [&mut leader, &mut stayer] {
        p.wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Party { members, .. }) if members.is_empty() => Some(()),
            _ => None,
        })
        .await;
    }
    stayer.queue("ffa").await;
    assert_eq!(
        queue_answer(&mut stayer).await,
        Ok(()),
        "no longer a member"
    );
    a.stop().await;
    b.stop().await;
}

/// PROTOCOL.md section 11: "`queue_left` `expired` says a ticket was lost
/// (Redis was unreachable for longer than its lifetime) while the player
/// queued again from elsewhere." A player has one connection in the
/// cluster, but while Redis is down a second one cannot close the first:
/// that is when a player can queue again from elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_lost_with_redis_expires_once_its_player_queued_again_elsewhere() {
    let mut redis = RedisServer::start();
    let prefix = "mmexpired";
    let a = node(&redis, "node-a", prefix).await;
    let b = node(&redis, "node-b", prefix).await;
    let mut on_a = Player::connect(&a, "twice").await;
    on_a.queue("ffa").await;
    assert_eq!(queue_answer(&mut on_a).await, Ok(()));

    // Redis goes down, the player connects at B as well, and Redis comes
    // back empty: the ticket is gone from the queue, though node A still
    // holds it, and the player queues again from B.
    redis.stop();
    let mut on_b = on_a.another_connection(&b.url()).await;
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        on_b.queue("ffa").await;
        match queue_answer(&mut on_b).await {
            Ok(()) => break,
            Err(code) => {
                assert!(
                    code == "unavailable" && Instant::now() < deadline,
                    "queueing again from B: {code}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    // A gives up on its lost ticket once it has looked lost for
    // `LOST_GROUP_AFTER` (10 s), and says why. Nothing else arrives
    // meanwhile, so this waits longer than `recv`'s deadline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
    let reason = loop {
        match tokio::time::timeout_at(deadline, on_a.conn.recv()).await {
            Ok(Ok(Incoming::Msg(ServerMsg::QueueLeft { reason }))) => break reason,
            Ok(Ok(Incoming::Closed(frame))) => panic!("closed: {frame:?}"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("the connection failed: {e}"),
            Err(_) => panic!("no queue_left within 25 s"),
        }
    };
    assert_eq!(reason, "expired");
    a.stop().await;
    b.stop().await;
}

/// What an operator alerts on, as Prometheus reads it: Redis command
/// latency by command, the bus's publish-to-delivery lag by topic and time
/// to match by mode as histograms with buckets, the players queued by mode, and the outbox's oldest result.
async fn the_operators_metrics_are_histograms_with_buckets_by_label(setup: Setup) {
    let redis = TestRedis::start(setup);
    let a = node(&redis, "node-a", "mmmetrics").await;
    let mut p = Player::connect(&a, "measured").await;
    // A line through the bus, which measures its lag.
    p.join_room("gauges").await;
    p.conn
        .send(&ClientMsg::Chat {
            room: "gauges".into(),
            text: "hello".into(),
        })
        .await
        .expect("send");
    p.wait_for(|m| match m {
        Incoming::Msg(ServerMsg::Chat(line)) if line.text == "hello" => Some(()),
        _ => None,
    })
    .await;
    p.queue("bots").await;
    // Waiting past a refresh of its ticket (every second), then found.
    tokio::time::timeout(Duration::from_secs(10), p.match_found())
        .await
        .expect("found");
    let metrics = a.metrics().await;
    let has = |prefix: &str| metrics.lines().any(|l| l.starts_with(prefix));
    // Sharded Pub/Sub on a cluster.
    let publish = match setup {
        Setup::One => "PUBLISH",
        Setup::Cluster => "SPUBLISH",
    };
    let publications =
        format!(r#"skirmish_redis_command_seconds_bucket{{command="pipeline:{publish}",le="1"}}"#);
    for wanted in [
        &publications,
        r#"skirmish_time_to_match_seconds_bucket{mode="bots",le="1"}"#,
        r#"skirmish_time_to_match_seconds_bucket{mode="bots",le="300"}"#,
        r#"skirmish_redis_command_seconds_bucket{command="EVALSHA:mm.enqueue",le="0.001"}"#,
        r#"skirmish_redis_command_seconds_bucket{command="SET",le="1"}"#,
        r#"skirmish_bus_lag_seconds_bucket{topic="room",le="0.1"}"#,
        r#"skirmish_queued_players{mode="bots"}"#,
        r#"skirmish_queued_players{mode="ffa"}"#,
        "skirmish_outbox_oldest_finished_seconds ",
    ] {
        assert!(has(wanted), "no `{wanted}` in /metrics:\n{metrics}");
    }
    assert!(
        !metrics.contains(r#"command="other""#),
        "a command the label list lacks (redis_conn.rs):\n{metrics}"
    );
    a.stop().await;
}

on_each_redis!(
    forty_eight_players_on_three_nodes_make_three_matches_of_sixteen,
    parties_of_two_and_four_land_together,
    another_node_forms_matches_when_the_lease_holder_dies,
    tickets_leave_with_a_disconnected_player_and_a_dead_node,
    a_player_who_moves_to_another_node_takes_their_place_in_the_queue_there,
    redis_queue_keeps_one_live_ticket_per_player,
    the_operators_metrics_are_histograms_with_buckets_by_label,
    accepting_a_party_invitation_takes_the_player_out_of_the_queue,
);
