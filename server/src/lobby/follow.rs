//! Which room topics this node is subscribed to, changed by one task so the
//! lobby task never waits on Redis.
//!
//! The lobby says which rooms it wants ([`Follower::follow`],
//! [`Follower::unfollow`]); the task subscribes and unsubscribes one room at
//! a time, in order, retrying with backoff while Redis fails (a subscription
//! Redis never confirmed is not one the connection restores after a
//! reconnect). Once a wanted room is subscribed it reads who is already in
//! it on the other nodes and reports [`Followed`]: from then on the lobby
//! sees every change live, so it can answer the room's joins.

use super::presence::{RedisPresence, StoredMember};
use crate::bus::{Bus, Topic};
use skirmish_shared::proto::{NodeId, RoomId};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// Who was in a room on other nodes, as read from Redis.
#[derive(Debug)]
pub(super) struct Snapshot {
    /// When the read started: anything the bus said after this is newer.
    pub started: Instant,
    /// The nodes whose members were read.
    pub nodes: Vec<NodeId>,
    /// The members found.
    pub members: Vec<StoredMember>,
}

/// A wanted room is subscribed (and, in multi-node mode, who is in it was
/// read after that).
#[derive(Debug)]
pub(super) struct Followed {
    /// The room.
    pub room: RoomId,
    /// Which following of the room this answers (a room left and joined
    /// again is followed anew).
    pub generation: u64,
    /// Its members on other nodes; `None` when there is no shared presence
    /// or it could not be read (the periodic reconciliation fills it in).
    pub snapshot: Option<Snapshot>,
}

#[derive(Debug)]
enum Want {
    Follow {
        room: RoomId,
        generation: u64,
        nodes: Vec<NodeId>,
    },
    Unfollow {
        room: RoomId,
    },
}

/// The handle of the subscription task.
#[derive(Debug)]
pub(super) struct Follower {
    wants: mpsc::UnboundedSender<Want>,
}

/// The first wait after a failed subscription change; it doubles up to
/// [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);

/// The longest wait between attempts while Redis fails.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl Follower {
    /// Starts the task; it reports to `followed` and stops when the handle
    /// is dropped.
    pub fn start(
        bus: Arc<dyn Bus>,
        presence: Option<RedisPresence>,
        followed: mpsc::UnboundedSender<Followed>,
    ) -> Follower {
        let (wants, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(bus, presence, rx, followed));
        Follower { wants }
    }

    /// Asks to follow a room; `nodes` are the other live nodes, whose
    /// members to read once subscribed.
    pub fn follow(&self, room: &RoomId, generation: u64, nodes: Vec<NodeId>) {
        let _ = self.wants.send(Want::Follow {
            room: room.to_owned(),
            generation,
            nodes,
        });
    }

    /// Asks to stop following a room.
    pub fn unfollow(&self, room: &RoomId) {
        let _ = self.wants.send(Want::Unfollow {
            room: room.to_owned(),
        });
    }
}

/// The task's state: what the lobby wants and what Redis has confirmed.
#[derive(Debug, Default)]
struct Subscriptions {
    /// Rooms to follow: generation and the nodes to read members from.
    wanted: HashMap<RoomId, (u64, Vec<NodeId>)>,
    /// Rooms whose subscription Redis confirmed.
    subscribed: HashSet<RoomId>,
    /// The generation reported followed, per subscribed room.
    reported: HashMap<RoomId, u64>,
}

/// The next thing to do.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Subscribe(RoomId),
    Report(RoomId, u64, Vec<NodeId>),
    Unsubscribe(RoomId),
}

impl Subscriptions {
    fn want(&mut self, want: Want) {
        match want {
            Want::Follow {
                room,
                generation,
                nodes,
            } => {
                self.wanted.insert(room, (generation, nodes));
            }
            Want::Unfollow { room } => {
                self.wanted.remove(&room);
            }
        }
    }

    fn next_step(&self) -> Option<Step> {
        for (room, (generation, nodes)) in &self.wanted {
            if !self.subscribed.contains(room) {
                return Some(Step::Subscribe(room.clone()));
            }
            if self.reported.get(room) != Some(generation) {
                return Some(Step::Report(room.clone(), *generation, nodes.clone()));
            }
        }
        self.subscribed
            .iter()
            .find(|room| !self.wanted.contains_key(*room))
            .map(|room| Step::Unsubscribe(room.clone()))
    }
}

async fn run(
    bus: Arc<dyn Bus>,
    presence: Option<RedisPresence>,
    mut wants: mpsc::UnboundedReceiver<Want>,
    followed: mpsc::UnboundedSender<Followed>,
) {
    let mut subs = Subscriptions::default();
    let mut backoff = MIN_BACKOFF;
    let mut failing = false;
    loop {
        while let Ok(want) = wants.try_recv() {
            subs.want(want);
        }
        let Some(step) = subs.next_step() else {
            match wants.recv().await {
                Some(want) => subs.want(want),
                None => return,
            }
            continue;
        };
        let result = match step {
            Step::Subscribe(room) => bus.subscribe(&Topic::Room(room.clone())).await.map(|()| {
                subs.subscribed.insert(room);
            }),
            Step::Unsubscribe(room) => {
                bus.unsubscribe(&Topic::Room(room.clone())).await.map(|()| {
                    subs.subscribed.remove(&room);
                    subs.reported.remove(&room);
                })
            }
            Step::Report(room, generation, nodes) => {
                let snapshot = match &presence {
                    None => None,
                    Some(presence) => {
                        let started = Instant::now();
                        match presence.members(&room, &nodes).await {
                            Ok(members) => Some(Snapshot {
                                started,
                                nodes,
                                members,
                            }),
                            Err(e) => {
                                warn!(%room, error = %e, "could not read who is in a room; reconciling later");
                                None
                            }
                        }
                    }
                };
                subs.reported.insert(room.clone(), generation);
                if followed
                    .send(Followed {
                        room,
                        generation,
                        snapshot,
                    })
                    .is_err()
                {
                    return;
                }
                Ok(())
            }
        };
        match result {
            Ok(()) => {
                if failing {
                    info!("room subscriptions work again");
                    failing = false;
                }
                backoff = MIN_BACKOFF;
            }
            Err(e) => {
                if !failing {
                    warn!(error = %e, "could not change a room subscription; retrying");
                    failing = true;
                }
                // Wait, but take new wishes meanwhile (a room no longer
                // wanted need not be subscribed at all).
                let wait = tokio::time::sleep(backoff);
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        () = &mut wait => break,
                        want = wants.recv() => match want {
                            Some(want) => subs.want(want),
                            None => return,
                        },
                    }
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follow(room: &RoomId, generation: u64) -> Want {
        Want::Follow {
            room: room.clone(),
            generation,
            nodes: vec!["b".into()],
        }
    }

    #[test]
    fn subscribes_then_reports_each_generation_and_drops_what_is_not_wanted() {
        let mut subs = Subscriptions::default();
        assert_eq!(subs.next_step(), None);
        subs.want(follow(&RoomId::from("r"), 1));
        assert_eq!(subs.next_step(), Some(Step::Subscribe("r".into())));
        subs.subscribed.insert("r".into());
        assert_eq!(
            subs.next_step(),
            Some(Step::Report("r".into(), 1, vec!["b".into()]))
        );
        subs.reported.insert("r".into(), 1);
        assert_eq!(subs.next_step(), None);
        // Left and joined again before the unsubscription: still
        // subscribed, but the new following is reported again.
        subs.want(Want::Unfollow { room: "r".into() });
        subs.want(follow(&RoomId::from("r"), 2));
        assert_eq!(
            subs.next_step(),
            Some(Step::Report("r".into(), 2, vec!["b".into()]))
        );
        subs.reported.insert("r".into(), 2);
        subs.want(Want::Unfollow { room: "r".into() });
        assert_eq!(subs.next_step(), Some(Step::Unsubscribe("r".into())));
        // Never subscribed, no longer wanted: nothing to do.
        subs.subscribed.clear();
        subs.want(follow(&RoomId::from("s"), 3));
        subs.want(Want::Unfollow { room: "s".into() });
        assert_eq!(subs.next_step(), None);
    }
}
