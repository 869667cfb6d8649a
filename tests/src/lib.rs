//! Helpers shared by the integration tests: real nodes on port 0 with the
//! shipped or a test arena, real WebSocket players, real `redis-server`s on
//! free ports, and waiting with deadlines instead of sleeps.

pub mod proxy;
pub mod redis;
pub mod redis_cluster;
pub mod scripted;
pub mod tls;

use skirmish_arena::ArenaMatch;
use skirmish_client_sim::{Connection, Incoming, Session, login};
use skirmish_server::games::Games;
use skirmish_server::node::Node;
use skirmish_server::{Config, Server};
use skirmish_shared::proto::{ClientMsg, ServerMsg};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The repository's `assets/` directory.
pub fn assets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets")
}

/// The repository root.
pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where tests leave files worth looking at (screenshots).
pub fn artifacts_dir() -> PathBuf {
    let dir = repo_dir().join("target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("create the artifacts directory");
    dir
}

/// A 1000 x 1000 arena without obstacles, with spawns in the upper-left
/// quarter so players can always move right and down, for tests that
/// reason about positions.
pub const OPEN_MAP: &str = include_str!("../fixtures/open-map.toml");

/// The absolute path of [`OPEN_MAP`]'s file, for [`TestNode::start_on`].
pub fn open_map() -> PathBuf {
    fixture("open-map.toml")
}

/// A file of `tests/fixtures/`, for [`TestNode::start_on`] and the like.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// The games a test node serves, as the shipped binary does, those
/// `config` names: the arena (quick play's), with the shipped rules on the
/// map in `map`, the hill, and variants with their own files; all at
/// `config`'s tick rate and match length. The arena's view
/// radius is off: tests that reason about where others are see the whole
/// arena (the arena's own tests, `games/arena/tests/replication.rs`, cover
/// interest).
pub fn test_games(config: &Config, map: &Path) -> Games {
    let mut games = Games::default();
    for name in &config.games {
        let (game, mut files) = config.game_files(name);
        games = match game {
            "arena" => {
                if name == "arena" {
                    files.insert("map".into(), map.to_owned());
                }
                let mut spec = skirmish_arena::load_variant(
                    &config.assets,
                    &files,
                    config.tick_rate,
                    config.match_seconds,
                )
                .expect("the arena's files are valid");
                spec.rules.interest.view_radius = 0.0;
                games.with_name::<ArenaMatch>(name.as_str(), spec)
            }
            "hill" => {
                let spec = skirmish_hill::load_variant(
                    &config.assets,
                    &files,
                    config.tick_rate,
                    config.match_seconds,
                )
                .expect("the hill's rules are valid");
                games.with_name::<skirmish_hill::HillMatch>(name.as_str(), spec)
            }
            other => panic!("tests serve the arena and the hill, not {other}"),
        };
    }
    games
}

/// Who is in the newest snapshot a connection received, in either shipped
/// game, with their team (the hill's; none in the arena); `None` before a
/// snapshot.
pub fn snapshot_teams(conn: &Connection) -> Option<Vec<(u16, Option<u8>)>> {
    let replica = conn.replica()?;
    let (_, state) = replica.latest()?;
    match replica.game() {
        "hill" => Some(
            skirmish_hill::entities::players(state, replica.schema())
                .iter()
                .map(|p| (p.id, Some(p.team)))
                .collect(),
        ),
        _ => arena_players(conn).map(|players| players.iter().map(|p| (p.id, None)).collect()),
    }
}

/// The players of the newest arena snapshot a connection received; `None`
/// before one, or in another game.
pub fn arena_players(conn: &Connection) -> Option<Vec<skirmish_arena::entities::PlayerState>> {
    let replica = conn.replica().filter(|r| r.game() == "arena")?;
    let (_, state) = replica.latest()?;
    Some(skirmish_arena::entities::players(state, replica.schema()))
}

/// An HTTP client for tests: plain HTTP, and HTTPS trusting the system's
/// roots and any added with `skirmish_client_sim::tls::trust_pem` (the
/// test certificate authority of a TLS test).
pub fn http() -> reqwest::Client {
    http_builder().build().expect("an HTTP client")
}

/// [`http`], to configure further.
pub fn http_builder() -> reqwest::ClientBuilder {
    skirmish_client_sim::tls::http_client()
}

/// The defaults used by tests: the shipped assets, port 0.
pub fn test_config() -> Config {
    Config::for_tests(assets_dir())
}

/// [`test_config`] with WebTransport on, on any free UDP port.
pub fn wt_config() -> Config {
    let mut config = test_config();
    config.webtransport.enabled = true;
    config.webtransport.port = Some(0);
    config
}

/// A directory of its own under the system's temp directory, removed with
/// everything in it when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `skirmish-LABEL-PID-N` in the temp directory.
    pub fn new(label: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "skirmish-{label}-{}-{}",
            std::process::id(),
            rand_id()
        ));
        std::fs::create_dir_all(&path).expect("create a temp directory");
        TempDir(path)
    }

    /// Takes charge of removing `path` (which need not exist yet).
    fn adopt(path: PathBuf) -> TempDir {
        TempDir(path)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A node running in this process.
#[derive(Debug)]
pub struct TestNode {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `https` when it serves TLS, else `http`.
    scheme: &'static str,
    /// The node itself, for tests that act on it from the server's side.
    /// Weak: a strong handle would keep the node's task guard alive and make
    /// every shutdown wait out its grace period.
    node: Weak<Node>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    /// The node's data directory, removed when the node is dropped, if the
    /// node made it (it did not exist before). A test that starts several
    /// nodes on one data directory makes it itself, with a [`TempDir`].
    _data_dir: Option<TempDir>,
}

impl TestNode {
    /// Starts a node with `config` (its `listen` should use port 0),
    /// serving the arena on its shipped map.
    pub async fn start(config: Config) -> TestNode {
        let map = config.assets.join("maps/arena.toml");
        TestNode::start_on(config, &map).await
    }

    /// Starts a node with `config` serving the arena on the map in `map`.
    pub async fn start_on(config: Config, map: &Path) -> TestNode {
        let data_dir = (!config.data_dir.exists()).then(|| TempDir::adopt(config.data_dir.clone()));
        let scheme = if config.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let games = test_games(&config, map);
        let server = Server::bind(config, games).await.expect("the node starts");
        let addr = server.local_addr();
        let node = Arc::downgrade(&server.node());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            server.serve(shutdown).await.expect("the node serves");
        });
        TestNode {
            addr,
            scheme,
            node,
            stop: Some(stop),
            task,
            _data_dir: data_dir,
        }
    }

    /// The running node's shared state.
    pub fn node(&self) -> Arc<Node> {
        self.node.upgrade().expect("the node runs until stopped")
    }

    /// `http://addr`, or `https://addr` for a node serving TLS.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Its WebTransport offer (`GET /api/webtransport`) and the address
    /// the offer's URL points at.
    pub async fn wt_offer(&self) -> (skirmish_client_sim::wt::Offer, std::net::SocketAddr) {
        let offer = skirmish_client_sim::wt::offer(&http(), &self.url())
            .await
            .expect("the WebTransport offer");
        let url = offer.url.as_deref().expect("the node offers WebTransport");
        let addr = url
            .trim_start_matches("https://")
            .split('/')
            .next()
            .and_then(|host| host.parse().ok())
            .unwrap_or_else(|| panic!("an address in {url}"));
        (offer, addr)
    }

    /// One counter or gauge from its `/metrics` page (0 when it has none).
    pub async fn metric(&self, name: &str) -> f64 {
        self.metrics()
            .await
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    /// Its `/metrics` page.
    pub async fn metrics(&self) -> String {
        http()
            .get(format!("{}/metrics", self.url()))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("the metrics page")
    }

    /// Shuts the node down and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
    }
}

/// A generous deadline for anything a test waits on.
pub const WAIT: Duration = Duration::from_secs(10);

/// A logged-in, connected player that has read its welcome.
#[derive(Debug)]
pub struct Player {
    /// The session it logged in with.
    pub session: Session,
    /// Its connection.
    pub conn: Connection,
}

impl Player {
    /// Logs in as `name` and connects.
    pub async fn connect(node: &TestNode, name: &str) -> Player {
        Player::connect_to(&node.url(), name).await
    }

    /// Logs in as `name` at a node's base URL and connects.
    pub async fn connect_to(url: &str, name: &str) -> Player {
        let http = http();
        let session = login(&http, url, name).await.expect("login");
        let conn = open(url, &session.token).await;
        Player { session, conn }
    }

    /// Logs in as `name` and connects over WebTransport, past its
    /// `welcome`.
    pub async fn connect_wt(node: &TestNode, name: &str) -> Player {
        let (http, url) = (http(), node.url());
        let session = login(&http, &url, name).await.expect("login");
        let mut conn = Connection::connect_wt(&http, &url, &session.token)
            .await
            .expect("WebTransport connects");
        match recv(&mut conn).await {
            Incoming::Msg(ServerMsg::Welcome { .. }) => {}
            other => panic!("expected welcome over WebTransport, got {other:?}"),
        }
        Player { session, conn }
    }

    /// Another connection of this player, to `url`, past its `welcome`.
    pub async fn another_connection(&self, url: &str) -> Player {
        Player {
            session: self.session.clone(),
            conn: open(url, &self.session.token).await,
        }
    }

    /// Asks to play and waits until seated; returns the id in snapshots.
    pub async fn play(&mut self) -> u16 {
        self.play_in().await.1
    }

    /// Asks to play and waits until seated; returns the match and the id in
    /// snapshots.
    pub async fn play_in(&mut self) -> (skirmish_shared::proto::MatchId, u16) {
        self.conn.send(&ClientMsg::Play).await.expect("send play");
        loop {
            if let Incoming::Msg(ServerMsg::Joined { match_id, you, .. }) =
                recv(&mut self.conn).await
            {
                return (match_id, you);
            }
        }
    }

    /// Waits for the first message matching `pick`, skipping others.
    pub async fn wait_for<T>(&mut self, mut pick: impl FnMut(&Incoming) -> Option<T>) -> T {
        loop {
            let incoming = recv(&mut self.conn).await;
            if let Some(found) = pick(&incoming) {
                return found;
            }
            if let Incoming::Closed(frame) = incoming {
                panic!("closed while waiting: {frame:?}");
            }
        }
    }

    /// Waits for an error message and returns its code.
    pub async fn next_error(&mut self) -> String {
        self.wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Error { code, .. }) => Some(code.to_string()),
            _ => None,
        })
        .await
    }

    /// Waits for the close and returns its code.
    pub async fn closed_with(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(WAIT, self.conn.recv())
                .await
                .expect("closed in time")
            {
                Ok(Incoming::Closed(frame)) => return frame.map(|(code, _)| code),
                Ok(_) => {}
                Err(e) => panic!("connection failed instead of closing: {e}"),
            }
        }
    }
}

/// The next message, failing the test after [`WAIT`].
pub async fn recv(conn: &mut Connection) -> Incoming {
    tokio::time::timeout(WAIT, conn.recv())
        .await
        .expect("a message in time")
        .expect("a readable message")
}

/// A node configured for multi-node tests: Redis at `redis_url`, a fixed
/// id, a short registry TTL, and keys under `prefix`.
pub fn cluster_config(redis_url: &str, node_id: &str, prefix: &str) -> Config {
    let mut config = test_config();
    config.redis_url = Some(redis_url.into());
    config.node_id = Some(node_id.to_owned());
    config.key_prefix = prefix.to_owned();
    config.node_ttl_s = 1.5;
    config.session_secret = Some(CLUSTER_SECRET.into());
    config
}

/// The session secret the nodes of a test cluster share.
pub const CLUSTER_SECRET: &str = "the test cluster's secret";

/// A node in a child process (`skirmish-test-node`), so a test can kill it
/// without a shutdown.
#[derive(Debug)]
pub struct ChildNode {
    /// Where it listens.
    pub addr: SocketAddr,
    child: std::process::Child,
    /// How it was started, to start it again.
    exe: String,
    config: PathBuf,
    map: Option<PathBuf>,
    /// Its config file and data directory; removed once it is dropped.
    _dir: TempDir,
}

impl ChildNode {
    /// Starts a node process with the given settings; `exe` is the
    /// `skirmish-test-node` binary (`env!("CARGO_BIN_EXE_skirmish-test-node")`
    /// in an integration test).
    pub fn start(
        exe: &str,
        redis_url: &str,
        node_id: &str,
        prefix: &str,
        node_ttl_s: f32,
    ) -> ChildNode {
        ChildNode::start_with(exe, redis_url, node_id, prefix, node_ttl_s, &[])
    }

    /// Like [`ChildNode::start`], with more top-level config settings
    /// (strings) such as `("matchmaking", path)`.
    pub fn start_with(
        exe: &str,
        redis_url: &str,
        node_id: &str,
        prefix: &str,
        node_ttl_s: f32,
        extra: &[(&str, String)],
    ) -> ChildNode {
        let raw: String = extra
            .iter()
            .map(|(key, value)| format!("{key} = {value:?}\n"))
            .collect();
        ChildNode::start_raw(exe, redis_url, node_id, prefix, node_ttl_s, &raw, None)
    }

    /// Like [`ChildNode::start`], with more top-level config settings as
    /// TOML lines (`match_seconds = 6`, `limits = { drain_timeout_s = 20.0 }`)
    /// and, if given, the arena played on `map`.
    pub fn start_raw(
        exe: &str,
        redis_url: &str,
        node_id: &str,
        prefix: &str,
        node_ttl_s: f32,
        raw: &str,
        map: Option<&Path>,
    ) -> ChildNode {
        let temp = TempDir::new(&format!("child-{node_id}"));
        let dir = temp.path();
        let config = dir.join("node.toml");
        let text = format!(
            "listen = \"127.0.0.1:0\"\nassets = {assets:?}\nredis_url = {redis_url:?}\nnode_id = {node_id:?}\n\
             key_prefix = {prefix:?}\nnode_ttl_s = {node_ttl_s}\ndata_dir = {data:?}\n\
             session_secret = {CLUSTER_SECRET:?}\n",
            assets = assets_dir().display().to_string(),
            data = dir.join("data").display().to_string(),
        );
        std::fs::write(&config, format!("{raw}{text}")).expect("write the node config");
        let map = map.map(Path::to_path_buf);
        let (child, addr) = ChildNode::spawn(exe, &config, map.as_deref());
        ChildNode {
            addr,
            child,
            exe: exe.to_owned(),
            config,
            map,
            _dir: temp,
        }
    }

    fn spawn(exe: &str, config: &Path, map: Option<&Path>) -> (std::process::Child, SocketAddr) {
        use std::io::BufRead;
        let mut child = std::process::Command::new(exe)
            .arg(config)
            .args(map)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start skirmish-test-node");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the node's first line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("the node did not start: {line:?}"));
        (child, addr)
    }

    /// Starts a killed node again with the same config and data directory
    /// (its results outbox among it), on a new port.
    pub fn restart(&mut self) {
        self.kill();
        let (child, addr) = ChildNode::spawn(&self.exe, &self.config, self.map.as_deref());
        self.child = child;
        self.addr = addr;
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kills the process at once: no shutdown, no goodbye to the registry.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process id, for a test that signals it from elsewhere.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the process SIGTERM, as an orchestrator stopping it would.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits up to `limit` for the process to exit; its exit status, or
    /// `None` if it is still running.
    pub async fn exited_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the node") {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ChildNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The ids of the nodes `GET /api/nodes` lists.
pub async fn live_nodes(base_url: &str) -> Vec<String> {
    let body: serde_json::Value = http()
        .get(format!("{base_url}/api/nodes"))
        .send()
        .await
        .expect("GET /api/nodes")
        .json()
        .await
        .expect("a JSON body");
    body["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .filter_map(|n| n["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Player {
    /// Joins a chat room and waits for the answer: members and history.
    pub async fn join_room(
        &mut self,
        room: &str,
    ) -> (
        Vec<skirmish_shared::proto::MemberView>,
        Vec<skirmish_shared::proto::ChatView>,
    ) {
        self.conn
            .send(&ClientMsg::JoinRoom { room: room.into() })
            .await
            .expect("send join_room");
        self.wait_for(|m| match m {
            Incoming::Msg(ServerMsg::RoomJoined {
                room: r,
                members,
                history,
            }) if r == room => Some((members.clone(), history.clone())),
            _ => None,
        })
        .await
    }
}

/// Posts 50 lines of 200 characters into `room` as a new player "poster",
/// so every `room_joined` for it carries about 12 KB of history; the node
/// needs `limits.chat_burst` of 50 or more. Returns the poster.
pub async fn room_with_history(node: &TestNode, room: &str) -> Player {
    let mut poster = Player::connect(node, "poster").await;
    poster.join_room(room).await;
    let line = "x".repeat(200);
    for _ in 0..50 {
        poster
            .conn
            .send(&ClientMsg::Chat {
                room: room.into(),
                text: line.clone(),
            })
            .await
            .expect("send chat");
    }
    for _ in 0..50 {
        poster
            .wait_for(|m| match m {
                Incoming::Msg(ServerMsg::Chat(_)) => Some(()),
                Incoming::Msg(ServerMsg::Error { code, .. }) => panic!("refused: {code}"),
                _ => None,
            })
            .await;
    }
    poster
}

/// Opens a connection with `token` and reads its `welcome`.
pub async fn open(url: &str, token: &str) -> Connection {
    let mut conn = Connection::connect(url, token).await.expect("connect");
    match recv(&mut conn).await {
        Incoming::Msg(ServerMsg::Welcome { .. }) => {}
        other => panic!("expected welcome from {url}, got {other:?}"),
    }
    conn
}

/// Reads whatever arrives on `conn` for `window` (up to its close). A read
/// error fails the test: a check that something did *not* arrive must not
/// pass on a connection that could not have received it.
pub async fn drain(conn: &mut Connection, window: Duration) -> Vec<Incoming> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(read) = tokio::time::timeout_at(deadline, conn.recv()).await {
        let m = read.unwrap_or_else(|e| {
            panic!("the connection failed while draining (after {seen:?}): {e}")
        });
        let closed = matches!(m, Incoming::Closed(_));
        seen.push(m);
        if closed {
            break;
        }
    }
    seen
}

/// Matchmaking settings for tests: quick rounds and short lifetimes, an
/// `ffa` mode of 16 and a `duel` mode of 2 whose rating window widens fast.
pub const TEST_MATCHMAKING: &str = include_str!("../fixtures/matchmaking.toml");

/// The path of [`TEST_MATCHMAKING`]'s file.
pub fn test_matchmaking() -> PathBuf {
    fixture("matchmaking.toml")
}

/// Writes matchmaking settings to a file in `dir` and returns its path.
pub fn matchmaking_file(text: &str, dir: &TempDir) -> PathBuf {
    let path = dir.path().join("matchmaking.toml");
    std::fs::write(&path, text).expect("write the matchmaking settings");
    path
}

/// A process-unique number for file names.
fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Player {
    /// Reads whatever arrives for `window` and returns it.
    pub async fn drain(&mut self, window: Duration) -> Vec<Incoming> {
        drain(&mut self.conn, window).await
    }

    /// Asks to queue for a mode.
    pub async fn queue(&mut self, mode: &str) {
        self.conn
            .send(&ClientMsg::Queue { mode: mode.into() })
            .await
            .expect("send queue");
    }

    /// Waits for `match_found`: `(match_id, host_url, ticket, same_node)`.
    pub async fn match_found(&mut self) -> (skirmish_shared::proto::MatchId, String, String, bool) {
        self.wait_for(|m| match m {
            Incoming::Msg(ServerMsg::MatchFound {
                match_id,
                host_url,
                ticket,
                same_node,
            }) => Some((*match_id, host_url.clone(), ticket.clone(), *same_node)),
            _ => None,
        })
        .await
    }

    /// Follows a `match_found`: connects to the host unless it is this node,
    /// sends the join ticket, and waits to be seated. Returns the player on
    /// the host (the same connection when the host is this node) and their
    /// id in the match.
    pub async fn follow(mut self, host_url: &str, ticket: &str, same_node: bool) -> (Player, u16) {
        if !same_node {
            let conn = open(host_url, &self.session.token).await;
            self.conn.close().await;
            self.conn = conn;
        }
        self.conn
            .send(&ClientMsg::JoinMatch {
                ticket: ticket.to_owned(),
            })
            .await
            .expect("send join_match");
        let you = self
            .wait_for(|m| match m {
                Incoming::Msg(ServerMsg::Joined { you, .. }) => Some(*you),
                Incoming::Msg(ServerMsg::Error { code, message }) => {
                    panic!("join refused: {code}: {message}")
                }
                _ => None,
            })
            .await;
        (self, you)
    }
}

/// A player that reads everything and plays, noting when each snapshot
/// arrives; any error or close fails the test.
#[derive(Debug)]
pub struct Reader {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Vec<tokio::time::Instant>>,
}

impl Reader {
    /// Starts reading and playing (standing still) on a task.
    pub fn start(mut player: Player) -> Reader {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut arrivals = Vec::new();
            let mut ticker = tokio::time::interval(Duration::from_millis(33));
            for seq in 1.. {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = ticker.tick() => {
                        let input = ClientMsg::Input { shown: None, earlier: Vec::new(), seq, tick: player.conn.ack(), input: skirmish_arena::wire::input_data(0.0, 0.0, 0.0, false) };
                        player.conn.send(&input).await.expect("a reader sends");
                    }
                    incoming = player.conn.recv() => match incoming.expect("a reader reads") {
                        Incoming::Msg(ServerMsg::Snapshot { .. }) => arrivals.push(tokio::time::Instant::now()),
                        Incoming::Msg(ServerMsg::Error { code, .. }) => panic!("a reader got an error: {code}"),
                        Incoming::Closed(frame) => panic!("a reader was closed: {frame:?}"),
                        Incoming::Msg(_) => {}
                    }
                }
            }
            arrivals
        });
        Reader { stop, task }
    }

    /// Stops it; when each snapshot arrived.
    pub async fn stop(self) -> Vec<tokio::time::Instant> {
        let _ = self.stop.send(());
        self.task.await.expect("a reader played")
    }
}

/// Asserts that snapshots kept coming to a [`Reader`] from `from` to `to`:
/// at least 60% of those due at 30 Hz, and no gap of a second. The bounds
/// leave room for a busy machine; a node held up by what a test throws at
/// it misses them by far.
pub fn assert_snapshots_kept_coming(
    arrivals: &[tokio::time::Instant],
    from: tokio::time::Instant,
    to: tokio::time::Instant,
) {
    let within: Vec<_> = arrivals
        .iter()
        .copied()
        .filter(|t| *t >= from && *t <= to)
        .collect();
    let expected = (to - from).as_secs_f64() * 30.0;
    let max_gap = within
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    println!(
        "a reader got {} snapshots of {expected:.0} at 30 Hz, largest gap {max_gap:?}",
        within.len()
    );
    assert!(within.len() as f64 >= 0.6 * expected, "snapshots slowed");
    assert!(
        max_gap < Duration::from_secs(1),
        "snapshots stalled for {max_gap:?}"
    );
}
