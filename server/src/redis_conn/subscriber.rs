//! The bus's subscriber connection: plain Pub/Sub on one Redis, sharded
//! Pub/Sub (`SSUBSCRIBE`, `SPUBLISH`) on a cluster, where a plain
//! `PUBLISH` would be broadcast to every node of the cluster and a sharded
//! one goes only to the shard that owns the channel's slot.
//!
//! When a slot moves to another master, Redis unsubscribes the slot's
//! sharded channels itself (a `sunsubscribe` push), and the client's own
//! record of subscriptions forgets them; [`Subscriber::follow`] subscribes
//! again, at the slot's new owner, to every channel still wanted.

use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, PushKind, RedisResult, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{info, warn};

/// A connection that receives the channels it subscribes to as pushes.
#[derive(Clone)]
pub struct Subscriber {
    link: Link,
    /// The channels subscribed to and not unsubscribed from since.
    wanted: Arc<Mutex<HashSet<String>>>,
}

#[derive(Clone)]
enum Link {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.link {
            Link::Single(_) => "Subscriber(single)",
            Link::Cluster(_) => "Subscriber(cluster)",
        })
    }
}

impl From<ConnectionManager> for Subscriber {
    fn from(conn: ConnectionManager) -> Self {
        Subscriber::new(Link::Single(conn))
    }
}

impl From<ClusterConnection> for Subscriber {
    fn from(conn: ClusterConnection) -> Self {
        Subscriber::new(Link::Cluster(conn))
    }
}

impl Subscriber {
    fn new(link: Link) -> Self {
        Subscriber {
            link,
            wanted: Arc::default(),
        }
    }

    fn wanted(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.wanted.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribes to `channel` (sharded on a cluster).
    pub async fn subscribe(&self, channel: String) -> RedisResult<()> {
        self.wanted().insert(channel.clone());
        self.send_subscribe(channel).await
    }

    async fn send_subscribe(&self, channel: String) -> RedisResult<()> {
        match self.link.clone() {
            Link::Single(mut conn) => conn.subscribe(channel).await,
            Link::Cluster(mut conn) => conn.ssubscribe(channel).await,
        }
    }

    /// Unsubscribes from `channel`.
    pub async fn unsubscribe(&self, channel: String) -> RedisResult<()> {
        self.wanted().remove(&channel);
        match self.link.clone() {
            Link::Single(mut conn) => conn.unsubscribe(channel).await,
            Link::Cluster(mut conn) => conn.sunsubscribe(channel).await,
        }
    }

    /// Asks for an answer; on one Redis this is what makes the manager
    /// reconnect (and resubscribe) after its link dropped.
    pub async fn ping(&self) -> RedisResult<()> {
        match self.link.clone() {
            Link::Single(mut conn) => redis::cmd("PING").query_async(&mut conn).await,
            Link::Cluster(mut conn) => redis::cmd("PING").query_async(&mut conn).await,
        }
    }

    /// The command that publishes to the channels it subscribes to.
    pub fn publish_command(&self) -> &'static str {
        match self.link {
            Link::Single(_) => "PUBLISH",
            Link::Cluster(_) => "SPUBLISH",
        }
    }

    /// Whether a push of this kind carries a message of a subscribed
    /// channel.
    pub fn is_message(kind: &PushKind) -> bool {
        matches!(kind, PushKind::Message | PushKind::SMessage)
    }

    /// Acts on a push about subscriptions: a sharded channel that Redis
    /// unsubscribed (its slot moved) and that is still wanted is subscribed
    /// again in the background, retrying until it is or is no longer
    /// wanted. Messages published in between are lost, as Pub/Sub loses
    /// them during any reconnect.
    pub fn follow(&self, push: &PushInfo) {
        if push.kind != PushKind::SUnsubscribe {
            return;
        }
        let Some(channel) = push.data.first().and_then(text_of) else {
            return;
        };
        if !self.wanted().contains(&channel) {
            return;
        }
        let subscriber = self.clone();
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(50);
            while subscriber.wanted().contains(&channel) {
                match subscriber.send_subscribe(channel.clone()).await {
                    Ok(()) => {
                        info!(%channel, "resubscribed after the channel's slot moved");
                        return;
                    }
                    Err(e) => warn!(%channel, error = %e, "resubscribing failed; retrying"),
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
        });
    }
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}
