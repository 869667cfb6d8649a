//! [`Env`]: what matchmaking uses of the node it runs on, as a narrow
//! interface the node implements, so matchmaking depends on the pieces it
//! needs (the bus, the sessions, the matches, the registry) and not on the
//! node that starts it.

use super::Matchmaker;
use crate::bus::Bus;
use crate::matches::Matches;
use crate::registry::{NodeInfo, Registry};
use crate::sessions::Sessions;
use skirmish_shared::proto::NodeId;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The node as matchmaking sees it.
pub trait Env: Send + Sync + 'static {
    /// This node's tickets, parties and formed matches.
    fn matchmaker(&self) -> &Matchmaker;
    /// This node's id.
    fn node_id(&self) -> &NodeId;
    /// Where players reach this node.
    fn public_url(&self) -> &str;
    /// The node-to-node bus.
    fn bus(&self) -> &(dyn Bus + 'static);
    /// The players connected here.
    fn sessions(&self) -> &Sessions;
    /// The matches running here.
    fn matches(&self) -> &Arc<Matches>;
    /// The live nodes.
    fn registry(&self) -> &dyn Registry;
    /// Becomes `true` when the node shuts down.
    fn shutdown(&self) -> watch::Receiver<bool>;
    /// Held by every task, so shutdown can wait for them.
    fn task_guard(&self) -> mpsc::Sender<()>;
    /// How often nodes heartbeat.
    fn heartbeat(&self) -> Duration;
    /// This node as the registry lists it, with its load now.
    fn info(&self) -> NodeInfo;
}
