//! The bus over Redis Pub/Sub: one subscriber connection per node (RESP3
//! pushes, resubscribed automatically after a reconnect) and publishing over
//! the command connection from a background task, so `publish` never waits.
//! On a Redis Cluster the channels are sharded (`SSUBSCRIBE`, `SPUBLISH`):
//! a room's messages reach only the shard that owns its channel's slot,
//! instead of every node of the cluster.

use super::local::DELIVERY_QUEUE;
use super::{Bus, BusError, Delivery, ENVELOPE_VERSION, Envelope, Payload, Topic};
use crate::redis_conn::{self, Subscriber};
use futures_util::future::BoxFuture;
use redis::{PushInfo, PushKind, Value};
use skirmish_shared::proto::NodeId;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{info, warn};

/// Publications queued before new ones are dropped.
const PUBLISH_QUEUE: usize = 65_536;

/// Publications sent in one pipeline.
const PUBLISH_BATCH: usize = 128;

/// A node's bus over Redis Pub/Sub.
#[derive(Debug)]
pub struct RedisBus {
    prefix: String,
    node_id: NodeId,
    subscriber: Subscriber,
    publications: mpsc::Sender<(String, Vec<u8>)>,
    /// Cleared while the subscriber reconnects.
    connected: Arc<AtomicBool>,
}

impl RedisBus {
    /// Connects the subscriber and starts the publisher and push-reader
    /// tasks; returns the bus and the receiver of its deliveries.
    pub async fn connect(
        client: &redis_conn::Client,
        prefix: &str,
        node_id: &NodeId,
    ) -> redis::RedisResult<(RedisBus, mpsc::Receiver<Delivery>)> {
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let subscriber = redis_conn::subscriber(client, push_tx).await?;
        let commands = redis_conn::commands(client).await?;
        let (deliveries_tx, deliveries) = mpsc::channel(DELIVERY_QUEUE);
        let connected = Arc::new(AtomicBool::new(true));
        tokio::spawn(read_pushes(
            push_rx,
            deliveries_tx,
            subscriber.clone(),
            prefix.to_owned(),
            Arc::clone(&connected),
        ));
        let (publications, queue) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(publish_loop(queue, commands, subscriber.publish_command()));
        let bus = RedisBus {
            prefix: prefix.to_owned(),
            node_id: node_id.to_owned(),
            subscriber,
            publications,
            connected,
        };
        Ok((bus, deliveries))
    }
}

impl Bus for RedisBus {
    fn publish(&self, topic: &Topic, payload: Payload) {
        let envelope = Envelope {
            version: ENVELOPE_VERSION,
            from: self.node_id.clone(),
            sent_at_ms: crate::clock::unix_ms(),
            payload,
        };
        if self
            .publications
            .try_send((topic.channel(&self.prefix), envelope.encode()))
            .is_err()
        {
            metrics::counter!("skirmish_bus_dropped_total").increment(1);
        }
    }

    fn subscribe<'a>(&'a self, topic: &'a Topic) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            self.subscriber
                .subscribe(topic.channel(&self.prefix))
                .await
                .map_err(|e| BusError::Unavailable(e.to_string()))
        })
    }

    fn unsubscribe<'a>(&'a self, topic: &'a Topic) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            self.subscriber
                .unsubscribe(topic.channel(&self.prefix))
                .await
                .map_err(|e| BusError::Unavailable(e.to_string()))
        })
    }

    fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}

/// Sends queued publications with `publish` (`PUBLISH`, or `SPUBLISH` on
/// a cluster), a pipeline at a time (on a cluster, one per slot). A failed
/// batch is dropped: Pub/Sub is at-most-once, and what must survive is
/// stored first.
async fn publish_loop(
    mut queue: mpsc::Receiver<(String, Vec<u8>)>,
    mut commands: redis_conn::Commands,
    publish: &'static str,
) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    while queue.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        let mut pipe = redis::pipe();
        for (channel, payload) in batch.drain(..) {
            pipe.cmd(publish).arg(channel).arg(payload).ignore();
        }
        if let Err(e) = pipe.query_async::<()>(&mut commands).await {
            metrics::counter!("skirmish_bus_dropped_total").increment(1);
            warn!(error = %e, "bus publish failed; messages dropped");
        }
    }
}

/// Turns pushed messages into deliveries. After a `Disconnection` push it
/// pings until Redis answers again: the ping makes the manager reconnect,
/// and reconnecting resubscribes every channel. A sharded channel whose
/// slot moved is subscribed again at its new owner
/// ([`Subscriber::follow`]).
async fn read_pushes(
    mut pushes: mpsc::UnboundedReceiver<PushInfo>,
    deliveries: mpsc::Sender<Delivery>,
    subscriber: Subscriber,
    prefix: String,
    connected: Arc<AtomicBool>,
) {
    while let Some(push) = pushes.recv().await {
        match push.kind {
            kind if Subscriber::is_message(&kind) => {
                let mut data = push.data.into_iter();
                let (Some(channel), Some(payload)) = (data.next(), data.next()) else {
                    continue;
                };
                let (Some(channel), Some(payload)) = (bytes_of(channel), bytes_of(payload)) else {
                    continue;
                };
                let Some(topic) = Topic::from_channel(&prefix, &String::from_utf8_lossy(&channel))
                else {
                    continue;
                };
                match Envelope::decode(&payload) {
                    Ok(envelope) => {
                        record_lag(&topic, envelope.sent_at_ms);
                        if deliveries.try_send(Delivery { topic, envelope }).is_err() {
                            metrics::counter!("skirmish_bus_dropped_total").increment(1);
                        }
                    }
                    Err(e) => warn!(error = %e, "dropping an unreadable bus envelope"),
                }
            }
            PushKind::SUnsubscribe => subscriber.follow(&push),
            PushKind::Disconnection => {
                warn!("bus subscriber lost its Redis connection; reconnecting");
                connected.store(false, Ordering::Relaxed);
                reconnect(subscriber.clone()).await;
                connected.store(true, Ordering::Relaxed);
                info!("bus subscriber reconnected and resubscribed");
            }
            _ => {}
        }
    }
}

/// The name of the histogram of publish-to-delivery times (seconds), by
/// topic kind (`room`, `node`).
pub const LAG_SECONDS: &str = "skirmish_bus_lag_seconds";

/// Its buckets, from half a millisecond to 5 s.
pub const LAG_BUCKETS_S: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Records how long a delivery took from its publication. Across nodes
/// this includes the difference between their clocks; one that reads as
/// negative counts as no lag at all.
fn record_lag(topic: &Topic, sent_at_ms: u64) {
    let kind = match topic {
        Topic::Room(_) => "room",
        Topic::Node(_) => "node",
    };
    let lag_s = crate::clock::unix_ms().saturating_sub(sent_at_ms) as f64 / 1000.0;
    metrics::histogram!(LAG_SECONDS, "topic" => kind).record(lag_s);
}

async fn reconnect(subscriber: Subscriber) {
    let mut delay = Duration::from_millis(50);
    loop {
        if subscriber.ping().await.is_ok() {
            return;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

fn bytes_of(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}
