//! The in-process bus: the single-node default, and what several nodes in
//! one process (tests) share through one [`LocalHub`].

use super::{Bus, BusError, Delivery, ENVELOPE_VERSION, Envelope, Payload, Topic};
use futures_util::future::BoxFuture;
use skirmish_shared::proto::NodeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Deliveries a node may have waiting before new ones are dropped.
pub(super) const DELIVERY_QUEUE: usize = 65_536;

type Subscribers = HashMap<Topic, Vec<(NodeId, mpsc::Sender<Delivery>)>>;

/// The meeting point of the local buses of one process.
#[derive(Clone, Debug, Default)]
pub struct LocalHub {
    subscribers: Arc<Mutex<Subscribers>>,
}

impl LocalHub {
    /// A bus for `node_id`, and the receiver of its deliveries.
    pub fn connect(&self, node_id: &NodeId) -> (LocalBus, mpsc::Receiver<Delivery>) {
        let (tx, rx) = mpsc::channel(DELIVERY_QUEUE);
        (
            LocalBus {
                hub: self.clone(),
                node_id: node_id.to_owned(),
                tx,
            },
            rx,
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Subscribers> {
        self.subscribers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One node's handle on a [`LocalHub`].
#[derive(Debug)]
pub struct LocalBus {
    hub: LocalHub,
    node_id: NodeId,
    tx: mpsc::Sender<Delivery>,
}

impl Bus for LocalBus {
    fn publish(&self, topic: &Topic, payload: Payload) {
        let envelope = Envelope {
            version: ENVELOPE_VERSION,
            from: self.node_id.clone(),
            sent_at_ms: crate::clock::unix_ms(),
            payload,
        };
        let subscribers = self.hub.lock();
        for (_, tx) in subscribers.get(topic).into_iter().flatten() {
            if tx
                .try_send(Delivery {
                    topic: topic.clone(),
                    envelope: envelope.clone(),
                })
                .is_err()
            {
                metrics::counter!("skirmish_bus_dropped_total").increment(1);
            }
        }
    }

    fn subscribe<'a>(&'a self, topic: &'a Topic) -> BoxFuture<'a, Result<(), BusError>> {
        let mut subscribers = self.hub.lock();
        let list = subscribers.entry(topic.clone()).or_default();
        if !list.iter().any(|(node, _)| *node == self.node_id) {
            list.push((self.node_id.clone(), self.tx.clone()));
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn unsubscribe<'a>(&'a self, topic: &'a Topic) -> BoxFuture<'a, Result<(), BusError>> {
        let mut subscribers = self.hub.lock();
        if let Some(list) = subscribers.get_mut(topic) {
            list.retain(|(node, _)| *node != self.node_id);
            if list.is_empty() {
                subscribers.remove(topic);
            }
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any payload: the bus does not read it.
    fn typing() -> Payload {
        Payload {
            area: "test".into(),
            version: 1,
            bytes: vec![1, 2, 3],
        }
    }

    #[tokio::test]
    async fn only_subscribers_of_a_topic_receive_it_including_the_sender() {
        let hub = LocalHub::default();
        let (a, mut a_rx) = hub.connect(&NodeId::from("a"));
        let (b, mut b_rx) = hub.connect(&NodeId::from("b"));
        let room = Topic::Room("r".into());
        a.subscribe(&room).await.expect("subscribe");
        b.subscribe(&room).await.expect("subscribe");
        b.subscribe(&room)
            .await
            .expect("subscribing twice is harmless");
        a.publish(&room, typing());
        for rx in [&mut a_rx, &mut b_rx] {
            let got = rx.recv().await.expect("delivered");
            assert_eq!(
                (got.topic.clone(), got.envelope.from.as_str()),
                (room.clone(), "a")
            );
        }
        assert!(b_rx.try_recv().is_err(), "exactly once");
        b.unsubscribe(&room).await.expect("unsubscribe");
        a.publish(&room, typing());
        assert!(a_rx.recv().await.is_some());
        assert!(b_rx.try_recv().is_err(), "unsubscribed");
        a.publish(&Topic::Room("other".into()), typing());
        assert!(a_rx.try_recv().is_err(), "not subscribed to that room");
    }
}
