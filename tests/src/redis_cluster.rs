//! A real three-master Redis Cluster for one test: three `redis-server`s
//! with `--cluster-enabled yes` on free ports, joined by `redis-cli
//! --cluster create`, which the test can reshape (move a slot with its
//! keys from one master to another) while nodes use it.

use crate::TempDir;
use crate::redis::{FREE_PORT, RedisServer};
use std::process::Command;
use std::time::{Duration, Instant};

/// Masters in a test cluster.
const MASTERS: usize = 3;

/// A running cluster; every server is killed on drop.
#[derive(Debug)]
pub struct RedisCluster {
    masters: Vec<RedisServer>,
    /// The servers' `nodes.conf` files.
    _dir: TempDir,
}

impl RedisCluster {
    /// Starts three masters, assigns them the 16,384 slots evenly and waits
    /// until every master says the cluster is `ok`.
    pub fn start() -> RedisCluster {
        let dir = TempDir::new("redis-cluster");
        let masters: Vec<RedisServer> = (0..MASTERS)
            .map(|i| {
                let conf = dir.path().join(format!("nodes-{i}.conf"));
                RedisServer::start_with(vec![
                    "--cluster-enabled".into(),
                    "yes".into(),
                    "--cluster-config-file".into(),
                    conf.display().to_string(),
                    // The bus port would otherwise be the port + 10,000,
                    // which need not be free (or exist).
                    "--cluster-port".into(),
                    FREE_PORT.into(),
                    "--cluster-node-timeout".into(),
                    "2000".into(),
                ])
            })
            .collect();
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for master in &masters {
            create.arg(format!("127.0.0.1:{}", master.port()));
        }
        let out = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli runs (scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = RedisCluster { masters, _dir: dir };
        cluster.wait_until_ok();
        cluster
    }

    fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = (0..MASTERS).all(|i| {
                self.cli(i, &["CLUSTER", "INFO"])
                    .contains("cluster_state:ok")
            });
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster never came up ok");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `redis+cluster://` with every master as a seed.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .masters
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.port()))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    /// Runs one command on a master through `redis-cli`; its raw output.
    pub fn cli(&self, master: usize, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.masters[master].port().to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        assert!(out.status.success(), "redis-cli {args:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The slot `key` hashes to.
    pub fn slot_of(&self, key: &str) -> u16 {
        let answer = self.cli(0, &["CLUSTER", "KEYSLOT", key]);
        answer
            .trim()
            .parse()
            .expect("CLUSTER KEYSLOT answers a number")
    }

    /// Which master serves `slot`.
    pub fn owner_of(&self, slot: u16) -> usize {
        let nodes = self.cli(0, &["CLUSTER", "NODES"]);
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let serves = fields.iter().skip(8).any(|range| {
                let (from, to) = range.split_once('-').unwrap_or((range, range));
                match (from.parse::<u16>(), to.parse::<u16>()) {
                    (Ok(from), Ok(to)) => (from..=to).contains(&slot),
                    _ => false,
                }
            });
            if serves {
                let port = fields[1]
                    .split(['@', ':'])
                    .nth(1)
                    .and_then(|p| p.parse::<u16>().ok());
                if let Some(i) = self.masters.iter().position(|m| Some(m.port()) == port) {
                    return i;
                }
            }
        }
        panic!("no master serves slot {slot}:\n{nodes}");
    }

    fn id_of(&self, master: usize) -> String {
        self.cli(master, &["CLUSTER", "MYID"]).trim().to_owned()
    }

    /// Moves `slot`, keys and all, to master `to`, as `redis-cli --cluster
    /// reshard` does (see [`SlotMove`]).
    pub fn move_slot(&self, slot: u16, to: usize) {
        let moving = self.begin_move(slot, to);
        while moving.migrate(100) > 0 {}
        moving.finish();
    }

    /// Starts moving `slot` to master `to`: marks it importing there and
    /// migrating at its owner. Until [`SlotMove::finish`], clients get
    /// `ASK` for keys already moved and `TRYAGAIN` for a multi-key command
    /// whose keys are split between the two.
    pub fn begin_move(&self, slot: u16, to: usize) -> SlotMove<'_> {
        let from = self.owner_of(slot);
        assert_ne!(from, to, "slot {slot} is on master {to} already");
        let moving = SlotMove {
            cluster: self,
            slot: slot.to_string(),
            from,
            to,
            to_id: self.id_of(to),
        };
        moving.set(to, &["IMPORTING", &self.id_of(from)]);
        moving.set(from, &["MIGRATING", &moving.to_id]);
        moving
    }
}

/// A slot on its way from one master to another.
#[derive(Debug)]
pub struct SlotMove<'a> {
    cluster: &'a RedisCluster,
    slot: String,
    from: usize,
    to: usize,
    to_id: String,
}

impl SlotMove<'_> {
    fn set(&self, master: usize, args: &[&str]) {
        let mut full = vec!["CLUSTER", "SETSLOT", self.slot.as_str()];
        full.extend_from_slice(args);
        let answer = self.cluster.cli(master, &full);
        assert!(answer.trim() == "OK", "SETSLOT {args:?}: {answer}");
    }

    /// `MIGRATE`s up to `limit` of the slot's keys; how many it moved.
    pub fn migrate(&self, limit: usize) -> usize {
        let limit = limit.to_string();
        let keys = self
            .cluster
            .cli(self.from, &["CLUSTER", "GETKEYSINSLOT", &self.slot, &limit]);
        let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
        if keys.is_empty() {
            return 0;
        }
        let port = self.cluster.masters[self.to].port().to_string();
        let mut migrate = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
        migrate.extend(&keys);
        let answer = self.cluster.cli(self.from, &migrate);
        assert!(answer.trim() == "OK", "MIGRATE: {answer}");
        keys.len()
    }

    /// Moves the keys left and gives the slot to its new master on every
    /// master (the new one first, as `redis-cli` does).
    pub fn finish(self) {
        while self.migrate(100) > 0 {}
        self.set(self.to, &["NODE", &self.to_id]);
        self.set(self.from, &["NODE", &self.to_id]);
        for other in (0..MASTERS).filter(|m| *m != self.from && *m != self.to) {
            self.set(other, &["NODE", &self.to_id]);
        }
        let slot: u16 = self.slot.parse().expect("a slot number");
        assert_eq!(self.cluster.owner_of(slot), self.to, "slot {slot} moved");
    }
}

/// Which Redis a multi-node test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    /// One `redis-server`.
    One,
    /// A three-master Redis Cluster.
    Cluster,
}

/// One Redis or a cluster, as a test asked.
#[derive(Debug)]
pub enum TestRedis {
    /// One `redis-server`.
    One(RedisServer),
    /// A three-master cluster.
    Cluster(RedisCluster),
}

impl TestRedis {
    /// Starts what `setup` names.
    pub fn start(setup: Setup) -> TestRedis {
        match setup {
            Setup::One => TestRedis::One(RedisServer::start()),
            Setup::Cluster => TestRedis::Cluster(RedisCluster::start()),
        }
    }

    /// The URL nodes are given (`--redis`).
    pub fn url(&self) -> String {
        match self {
            TestRedis::One(server) => server.url(),
            TestRedis::Cluster(cluster) => cluster.url(),
        }
    }
}

/// Anything nodes can be pointed at with `--redis`.
pub trait RedisAt {
    /// The URL for `--redis`.
    fn url(&self) -> String;
}

impl RedisAt for RedisServer {
    fn url(&self) -> String {
        RedisServer::url(self)
    }
}

impl RedisAt for RedisCluster {
    fn url(&self) -> String {
        RedisCluster::url(self)
    }
}

impl RedisAt for TestRedis {
    fn url(&self) -> String {
        TestRedis::url(self)
    }
}
