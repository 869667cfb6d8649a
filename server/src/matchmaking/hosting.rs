//! Where the match former sends each formed group, and making sure it
//! reaches exactly one live host. Pure: time and the registry's view are
//! passed in, so every rule is tested without nodes.
//!
//! A node's load is the players connected to it plus the players on their
//! way to it (seats its formed matches hold for players connected
//! elsewhere), as its last heartbeat reported, plus the seats this former
//! has placed there since: a placement counts until the host's heartbeat
//! reports a `formed` count at least the one it acknowledged the match with
//! (from then on the heartbeat counts those seats itself). Only nodes whose
//! last heartbeat is recent are candidates: a dead node stays listed until
//! its TTL passes, with the lowest load of all.
//!
//! A dead node can still look recent, so hosting is a handshake: the former
//! sends `HostMatch`; the host opens the match with its seats held and
//! acknowledges; the first host to acknowledge gets `HostCommit` (and tells
//! the players), any other gets `HostAbort`. A host that has not
//! acknowledged within [`HOST_ACK_TIMEOUT`] is suspected dead: the group goes
//! to the next candidate, and the suspect gets no new groups until it
//! heartbeats again.

use super::MatchmakingMessage;
use super::TicketPlayer;
use crate::registry::NodeInfo;
use skirmish_shared::proto::MatchId;
use skirmish_shared::proto::NodeId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a host has to acknowledge a `HostMatch` before the group goes
/// to another node. A live host answers within milliseconds (one bus hop
/// each way); this leaves room for a busy one.
pub const HOST_ACK_TIMEOUT: Duration = Duration::from_secs(1);

/// Hosts tried for one group before the former gives it up (its owners then
/// queue its tickets again, see `LOST_GROUP_AFTER`).
pub const MAX_HOST_ATTEMPTS: usize = 4;

/// Seats placed on one node and not yet counted by its heartbeat.
#[derive(Clone, Debug)]
struct Placement {
    match_id: MatchId,
    seats: usize,
    /// The host's `formed` count with this match, once acknowledged.
    formed: Option<u64>,
    at: Instant,
}

/// A group sent to a host and not yet committed.
#[derive(Clone, Debug)]
struct Dispatch {
    /// The `HostMatch` to send again to another host.
    msg: MatchmakingMessage,
    /// Its players, for counting seats.
    players: Vec<TicketPlayer>,
    /// Hosts asked, the current one last.
    tried: Vec<NodeId>,
    sent_at: Instant,
}

/// What to do with an acknowledgement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AckOutcome {
    /// Send `HostCommit` to this host.
    pub commit: Option<NodeId>,
    /// Send `HostAbort` to these hosts.
    pub abort: Vec<NodeId>,
}

/// A group whose host did not acknowledge in time.
#[derive(Clone, Debug)]
pub struct Overdue {
    /// The match.
    pub match_id: MatchId,
    /// Its `HostMatch`.
    pub msg: MatchmakingMessage,
    /// Its players.
    pub players: Vec<TicketPlayer>,
    /// Hosts asked so far.
    pub tried: Vec<NodeId>,
}

/// What the match former remembers between rounds: seats placed, groups on
/// their way, and hosts that did not answer.
#[derive(Debug)]
pub struct Former {
    /// By host.
    placements: HashMap<NodeId, Vec<Placement>>,
    dispatches: HashMap<MatchId, Dispatch>,
    /// Committed matches and their host, to abort a late second host.
    committed: HashMap<MatchId, (NodeId, Instant)>,
    /// Hosts that did not acknowledge, and when that was noticed.
    suspects: HashMap<NodeId, Instant>,
    /// A node is a candidate if its last heartbeat is at most this old.
    fresh_within: Duration,
    /// How long anything is remembered at most (a host that restarted
    /// never reports the `formed` count a placement waits for).
    max_age: Duration,
}

impl Former {
    /// A former for a cluster whose nodes heartbeat every
    /// `heartbeat_interval`: a node that missed two heartbeats is not a
    /// candidate.
    pub fn new(heartbeat_interval: Duration) -> Self {
        Former {
            placements: HashMap::new(),
            dispatches: HashMap::new(),
            committed: HashMap::new(),
            suspects: HashMap::new(),
            fresh_within: heartbeat_interval * 2,
            max_age: (heartbeat_interval * 6).max(Duration::from_secs(10)),
        }
    }

    /// Forgets what the registry's view makes stale, and returns a chooser
    /// over the candidate hosts in `live`.
    pub fn chooser(&mut self, live: &[NodeInfo], now: Instant) -> HostChooser {
        let by_id: HashMap<&NodeId, &NodeInfo> = live.iter().map(|n| (&n.id, n)).collect();
        let max_age = self.max_age;
        self.placements.retain(|node, placed| {
            let Some(info) = by_id.get(node) else {
                return false;
            };
            placed.retain(|p| {
                now.duration_since(p.at) < max_age && p.formed.is_none_or(|f| f > info.formed)
            });
            !placed.is_empty()
        });
        // A suspect is cleared by a heartbeat after it was suspected.
        self.suspects.retain(|node, since| {
            by_id.get(node).is_some_and(|info| {
                Duration::from_millis(info.age_ms) >= now.duration_since(*since)
            })
        });
        self.committed
            .retain(|_, (_, at)| now.duration_since(*at) < max_age);
        let candidates = live
            .iter()
            .filter(|n| {
                Duration::from_millis(n.age_ms) <= self.fresh_within
                    && !self.suspects.contains_key(&n.id)
            })
            .map(|n| {
                let placed: usize = self
                    .placements
                    .get(&n.id)
                    .map_or(0, |p| p.iter().map(|p| p.seats).sum());
                (
                    n.id.clone(),
                    n.players as usize + n.awaited as usize + placed,
                )
            })
            .collect();
        HostChooser { candidates }
    }

    /// Records a group sent to `host`.
    pub fn dispatched(
        &mut self,
        match_id: MatchId,
        host: &NodeId,
        msg: MatchmakingMessage,
        players: Vec<TicketPlayer>,
        now: Instant,
    ) {
        self.place(host, match_id, &players, now);
        let dispatch = self.dispatches.entry(match_id).or_insert(Dispatch {
            msg,
            players,
            tried: Vec::new(),
            sent_at: now,
        });
        dispatch.tried.push(host.to_owned());
        dispatch.sent_at = now;
    }

    fn place(&mut self, host: &NodeId, match_id: MatchId, players: &[TicketPlayer], now: Instant) {
        self.placements
            .entry(host.to_owned())
            .or_default()
            .push(Placement {
                match_id,
                seats: remote_seats(players, host),
                formed: None,
                at: now,
            });
    }

    fn unplace(&mut self, host: &NodeId, match_id: MatchId) {
        if let Some(placed) = self.placements.get_mut(host) {
            placed.retain(|p| p.match_id != match_id);
        }
    }

    /// A host acknowledged: the first one gets the match, and every other
    /// host asked is told to close theirs.
    pub fn acked(
        &mut self,
        match_id: MatchId,
        host: &NodeId,
        formed: u64,
        now: Instant,
    ) -> AckOutcome {
        if let Some((winner, _)) = self.committed.get(&match_id) {
            return if winner == host {
                // A repeated acknowledgement: the commit may have been lost.
                AckOutcome {
                    commit: Some(host.to_owned()),
                    abort: Vec::new(),
                }
            } else {
                self.unplace(host, match_id);
                AckOutcome {
                    commit: None,
                    abort: vec![host.to_owned()],
                }
            };
        }
        let Some(dispatch) = self.dispatches.remove(&match_id) else {
            // Given up on, or from before this former restarted.
            return AckOutcome {
                commit: None,
                abort: vec![host.to_owned()],
            };
        };
        if !dispatch.tried.iter().any(|h| h == host) {
            self.place(host, match_id, &dispatch.players, now);
        }
        if let Some(placed) = self.placements.get_mut(host)
            && let Some(p) = placed.iter_mut().find(|p| p.match_id == match_id)
        {
            p.formed = Some(formed);
        }
        let mut abort = Vec::new();
        for other in dispatch.tried.iter().filter(|h| *h != host) {
            self.unplace(other, match_id);
            if !abort.contains(other) {
                abort.push(other.clone());
            }
        }
        self.suspects.remove(host);
        self.committed.insert(match_id, (host.to_owned(), now));
        AckOutcome {
            commit: Some(host.to_owned()),
            abort,
        }
    }

    /// `host` declined the group (it runs its maximum number of matches):
    /// the group is overdue at once, so the next [`Former::overdue`] sends
    /// it on without waiting out the acknowledgement timeout.
    pub fn declined(&mut self, match_id: MatchId, host: &NodeId, now: Instant, timeout: Duration) {
        if let Some(d) = self.dispatches.get_mut(&match_id)
            && d.tried.last().is_some_and(|h| h == host)
        {
            d.sent_at = now.checked_sub(timeout).unwrap_or(d.sent_at);
        }
    }

    /// Groups whose current host has not acknowledged within `timeout`;
    /// their hosts become suspects. Each must be sent on with
    /// [`Former::dispatched`] or dropped with [`Former::give_up`].
    pub fn overdue(&mut self, now: Instant, timeout: Duration) -> Vec<Overdue> {
        let mut late = Vec::new();
        for (match_id, d) in &self.dispatches {
            if now.duration_since(d.sent_at) >= timeout {
                if let Some(host) = d.tried.last() {
                    self.suspects.entry(host.clone()).or_insert(now);
                }
                late.push(Overdue {
                    match_id: *match_id,
                    msg: d.msg.clone(),
                    players: d.players.clone(),
                    tried: d.tried.clone(),
                });
            }
        }
        late
    }

    /// Stops trying to host a group (its owners will queue it again).
    pub fn give_up(&mut self, match_id: MatchId) {
        if let Some(d) = self.dispatches.remove(&match_id) {
            for host in &d.tried {
                self.unplace(host, match_id);
            }
        }
    }

    /// Groups waiting for an acknowledgement.
    pub fn in_flight(&self) -> usize {
        self.dispatches.len()
    }
}

/// Players of a group who are connected elsewhere than `host`: the seats
/// that add to its load (the others are connected to it already).
fn remote_seats(players: &[TicketPlayer], host: &NodeId) -> usize {
    players.iter().filter(|p| p.node != *host).count()
}

/// Picks hosts for one round: the candidate with the lowest load, counting
/// the seats already placed this round.
#[derive(Clone, Debug)]
pub struct HostChooser {
    /// Candidate hosts and their loads.
    candidates: Vec<(NodeId, usize)>,
}

impl HostChooser {
    /// The least-loaded candidate not in `exclude` (ties: the one with more
    /// of the group's players already connected, then by id), with the
    /// group's seats added to its load; `None` without candidates.
    pub fn pick(&mut self, players: &[TicketPlayer], exclude: &[NodeId]) -> Option<NodeId> {
        let (id, load) = self
            .candidates
            .iter_mut()
            .filter(|(id, _)| !exclude.contains(id))
            .min_by(|a, b| {
                a.1.cmp(&b.1)
                    .then_with(|| remote_seats(players, &a.0).cmp(&remote_seats(players, &b.0)))
                    .then_with(|| a.0.cmp(&b.0))
            })?;
        *load += remote_seats(players, id);
        Some(id.clone())
    }

    /// The candidates and their loads as this chooser sees them.
    pub fn loads(&self) -> &[(NodeId, usize)] {
        &self.candidates
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skirmish_shared::proto::PlayerId;

    fn node(id: &str, players: u32, age_ms: u64) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            public_url: format!("http://{id}"),
            players,
            matches: 0,
            started_at_ms: 1,
            last_seen_ms: 0,
            age_ms,
            awaited: 0,
            formed: 0,
            stats: None,
        }
    }

    /// Sixteen players, connected to each of `nodes` in turn.
    fn group(first: u64, nodes: &[&str]) -> Vec<TicketPlayer> {
        (0..16)
            .map(|i| TicketPlayer {
                player_id: PlayerId(first + i),
                name: format!("p{}", first + i),
                node: nodes[i as usize % nodes.len()].into(),
            })
            .collect()
    }

    fn host_match(match_id: MatchId) -> MatchmakingMessage {
        MatchmakingMessage::HostMatch {
            match_id,
            mode: "ffa".into(),
            former: "a".into(),
            tickets: Vec::new(),
            bots: 0,
        }
    }

    const BEAT: Duration = Duration::from_secs(2);

    #[test]
    fn a_node_that_missed_two_heartbeats_is_never_chosen() {
        let mut former = Former::new(BEAT);
        let now = Instant::now();
        // "dead" has the lowest load but has not heartbeated for 4.5 s.
        let live = [
            node("a", 10, 100),
            node("b", 12, 1900),
            node("dead", 0, 4500),
        ];
        let mut chooser = former.chooser(&live, now);
        let players = group(0, &["a", "b"]);
        assert_eq!(
            chooser.pick(&players, &[]).as_ref().map(NodeId::as_str),
            Some("a")
        );
        assert_eq!(
            chooser.pick(&players, &[]).as_ref().map(NodeId::as_str),
            Some("b")
        );
        assert!(chooser.loads().iter().all(|(id, _)| id != "dead"));
    }

    #[test]
    fn seats_placed_in_one_round_count_in_the_next_until_the_host_reports_them() {
        let mut former = Former::new(BEAT);
        let t0 = Instant::now();
        let nodes = ["a", "b", "c"];
        let mut live = vec![node("a", 16, 0), node("b", 16, 0), node("c", 16, 0)];
        // Three rounds in a row, one match each, with no heartbeat between.
        let mut hosts = Vec::new();
        for (round, first) in [0u64, 100, 200].into_iter().enumerate() {
            let now = t0 + Duration::from_millis(100 * round as u64);
            let players = group(first, &nodes);
            let host = former
                .chooser(&live, now)
                .pick(&players, &[])
                .expect("a host");
            let match_id = MatchId(round as u64 + 1);
            former.dispatched(match_id, &host, host_match(match_id), players, now);
            former.acked(match_id, &host, 1, now);
            hosts.push(host);
        }
        hosts.sort();
        assert_eq!(hosts, ["a", "b", "c"], "back-to-back rounds spread out");

        // a's heartbeat now counts its match (formed 1) and the players on
        // their way: the placement is not counted twice.
        live[0].formed = 1;
        live[0].awaited = 10;
        let chooser = former.chooser(&live, t0 + Duration::from_secs(1));
        let load = |id: &str| chooser.loads().iter().find(|(n, _)| n == id).map(|l| l.1);
        assert_eq!(load("a"), Some(26));
        // b and c still wait for a heartbeat that counts theirs: 16, plus
        // the group's players connected to the other two nodes.
        let expected = 16 + remote_seats(&group(0, &nodes), &NodeId::from("b"));
        assert_eq!(load("b"), Some(expected));
    }

    #[test]
    fn a_host_that_does_not_acknowledge_loses_the_group_and_new_groups() {
        let mut former = Former::new(BEAT);
        let t0 = Instant::now();
        let live = [node("a", 5, 0), node("b", 5, 0), node("dead", 0, 500)];
        let players = group(0, &["a", "b"]);
        let first = former.chooser(&live, t0).pick(&players, &[]).expect("host");
        assert_eq!(first, "dead", "the lowest load, and it looks recent");
        former.dispatched(
            MatchId(1),
            &first,
            host_match(MatchId(1)),
            players.clone(),
            t0,
        );
        assert!(
            former
                .overdue(t0 + Duration::from_millis(500), HOST_ACK_TIMEOUT)
                .is_empty()
        );

        let t1 = t0 + HOST_ACK_TIMEOUT;
        let late = former.overdue(t1, HOST_ACK_TIMEOUT);
        assert_eq!(late.len(), 1);
        // Still listed, and still recent by its age, but suspected now.
        let live = [node("a", 5, 0), node("b", 5, 0), node("dead", 0, 1500)];
        let mut chooser = former.chooser(&live, t1);
        let next = chooser
            .pick(&late[0].players, &late[0].tried)
            .expect("host");
        assert_ne!(next, "dead");
        former.dispatched(
            MatchId(1),
            &next,
            late[0].msg.clone(),
            late[0].players.clone(),
            t1,
        );
        assert!(
            chooser.pick(&players, &[]).is_some_and(|h| h != "dead"),
            "no new groups for a suspect"
        );
        let outcome = former.acked(MatchId(1), &next, 1, t1);
        assert_eq!(
            outcome.commit.as_ref().map(NodeId::as_str),
            Some(next.as_str())
        );
        assert_eq!(outcome.abort, ["dead"]);
        assert_eq!(former.in_flight(), 0);

        // A suspect that heartbeats again is a candidate again.
        let t2 = t1 + Duration::from_secs(1);
        let live = [node("a", 5, 0), node("b", 5, 0), node("dead", 0, 100)];
        let loads = former.chooser(&live, t2).loads().to_vec();
        assert!(loads.iter().any(|(id, _)| id == "dead"));
    }

    #[test]
    fn only_the_first_host_to_acknowledge_gets_the_match() {
        let mut former = Former::new(BEAT);
        let t0 = Instant::now();
        let players = group(0, &["a", "b"]);
        former.dispatched(
            MatchId(7),
            &NodeId::from("slow"),
            host_match(MatchId(7)),
            players.clone(),
            t0,
        );
        let t1 = t0 + HOST_ACK_TIMEOUT;
        assert_eq!(former.overdue(t1, HOST_ACK_TIMEOUT).len(), 1);
        former.dispatched(
            MatchId(7),
            &NodeId::from("b"),
            host_match(MatchId(7)),
            players,
            t1,
        );
        // The slow host answers first after all.
        let first = former.acked(MatchId(7), &NodeId::from("slow"), 3, t1);
        assert_eq!(first.commit.as_ref().map(NodeId::as_str), Some("slow"));
        assert_eq!(first.abort, ["b"]);
        let second = former.acked(MatchId(7), &NodeId::from("b"), 1, t1);
        assert_eq!(
            second,
            AckOutcome {
                commit: None,
                abort: vec!["b".into()]
            }
        );
        let again = former.acked(MatchId(7), &NodeId::from("slow"), 3, t1);
        assert_eq!(
            again.commit.as_ref().map(NodeId::as_str),
            Some("slow"),
            "a repeat is committed again"
        );
        // Nothing is placed on b any more.
        let live = [node("slow", 0, 0), node("b", 0, 0)];
        let chooser = former.chooser(&live, t1);
        let load = |id: &str| chooser.loads().iter().find(|(n, _)| n == id).map(|l| l.1);
        assert_eq!(load("b"), Some(0));
        assert_eq!(load("slow"), Some(16), "all sixteen connect elsewhere");
    }

    #[test]
    fn placements_are_forgotten_with_their_node_or_after_a_while() {
        let t0 = Instant::now();
        let live = [node("a", 0, 0)];
        let load = |former: &mut Former, live: &[NodeInfo], now| {
            former
                .chooser(live, now)
                .loads()
                .iter()
                .find(|(n, _)| n == "a")
                .map(|l| l.1)
        };
        let placed = || {
            let mut former = Former::new(BEAT);
            former.dispatched(
                MatchId(1),
                &NodeId::from("a"),
                host_match(MatchId(1)),
                group(0, &["x"]),
                t0,
            );
            former.acked(MatchId(1), &NodeId::from("a"), 5, t0);
            former
        };

        // A host that restarted reports a lower count; the placement still
        // goes in the end.
        let mut former = placed();
        assert_eq!(load(&mut former, &live, t0), Some(16));
        assert_eq!(load(&mut former, &live, t0 + BEAT * 6), Some(0));

        // A host that leaves the registry takes its placements with it: back
        // (restarted, say), it starts from its own heartbeat's load.
        let mut former = placed();
        assert_eq!(load(&mut former, &[], t0 + BEAT), None);
        assert_eq!(load(&mut former, &live, t0 + BEAT), Some(0));
    }

    #[test]
    fn a_declined_group_is_overdue_at_once_and_its_host_left_out() {
        let mut former = Former::new(BEAT);
        let t0 = Instant::now();
        let players = group(0, &["x"]);
        former.dispatched(
            MatchId(3),
            &NodeId::from("full"),
            host_match(MatchId(3)),
            players,
            t0,
        );
        assert!(former.overdue(t0, HOST_ACK_TIMEOUT).is_empty());
        // A decline from another host changes nothing.
        former.declined(MatchId(3), &NodeId::from("other"), t0, HOST_ACK_TIMEOUT);
        assert!(former.overdue(t0, HOST_ACK_TIMEOUT).is_empty());
        former.declined(MatchId(3), &NodeId::from("full"), t0, HOST_ACK_TIMEOUT);
        let late = former.overdue(t0, HOST_ACK_TIMEOUT);
        assert_eq!(late.len(), 1, "sent on without waiting out the timeout");
        assert_eq!(late[0].tried, ["full"]);
        let live = [node("full", 0, 0), node("b", 5, 0)];
        let mut chooser = former.chooser(&live, t0);
        assert_eq!(
            chooser
                .pick(&late[0].players, &late[0].tried)
                .as_ref()
                .map(NodeId::as_str),
            Some("b")
        );
    }
}
