//! The node-to-node bus: what one node tells the others, as versioned
//! postcard envelopes on named topics. The bus knows no area's messages:
//! each area (the lobby, matchmaking) owns its message type ([`Message`])
//! and the bus carries it as an opaque, versioned [`Payload`].
//!
//! One trait, two implementations: [`LocalBus`] delivers within the process
//! (the single-node default, and several in-process nodes sharing one
//! [`LocalHub`]); [`RedisBus`] uses Redis Pub/Sub. Delivery is at most once
//! and unordered across topics, like Pub/Sub itself: anything that must not
//! be lost (chat history, leaderboards) is stored before it is announced.
//!
//! Postcard, not bincode: bincode 3.0.0 is an empty tombstone release and
//! RUSTSEC-2025-0141 marks every bincode version unmaintained.

mod local;
mod redis;

pub use local::{LocalBus, LocalHub};
pub use redis::{LAG_BUCKETS_S, LAG_SECONDS, RedisBus};

use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use skirmish_shared::proto::{NodeId, RoomId};

/// The envelope format version; a node drops envelopes of other versions
/// (and says so in its log) rather than misreading them.
pub const ENVELOPE_VERSION: u16 = 4;

/// Where a message is published.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Everything about one chat room: lines, presence, typing.
    Room(RoomId),
    /// Messages for one node only.
    Node(NodeId),
}

impl Topic {
    /// The channel name under a key prefix.
    pub fn channel(&self, prefix: &str) -> String {
        match self {
            Topic::Room(room) => format!("{prefix}:room:{room}"),
            Topic::Node(node) => format!("{prefix}:node:{node}"),
        }
    }

    /// The topic of a channel name, if it is one of ours.
    pub fn from_channel(prefix: &str, channel: &str) -> Option<Topic> {
        let rest = channel.strip_prefix(prefix)?.strip_prefix(':')?;
        if let Some(room) = rest.strip_prefix("room:") {
            Some(Topic::Room(room.into()))
        } else {
            rest.strip_prefix("node:")
                .map(|node| Topic::Node(node.into()))
        }
    }
}

/// An area's node-to-node message: the area (the lobby, matchmaking) owns
/// its type and its format version; the bus carries it encoded, as an
/// opaque [`Payload`], and knows none of them.
pub trait Message: Serialize + DeserializeOwned + std::fmt::Debug {
    /// The area's name in envelopes; a delivery is opened only as its own
    /// area's message.
    const AREA: &'static str;
    /// The area's message format; a node drops another version's messages
    /// (and says so in its log) rather than misreading them.
    const VERSION: u16;
}

/// One area's message as the bus carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// [`Message::AREA`].
    pub area: String,
    /// [`Message::VERSION`].
    pub version: u16,
    /// The message, postcard.
    pub bytes: Vec<u8>,
}

impl Payload {
    /// An area's message, encoded.
    pub fn of<M: Message>(msg: &M) -> Self {
        Payload {
            area: M::AREA.to_owned(),
            version: M::VERSION,
            // Postcard serialises these plain types into a Vec infallibly.
            bytes: postcard::to_stdvec(msg).expect("bus messages always encode"),
        }
    }

    /// The message, if it is `M`'s area's: `None` for another area's,
    /// an error for another version or undecodable bytes.
    pub fn open<M: Message>(&self) -> Option<Result<M, EnvelopeError>> {
        if self.area != M::AREA {
            return None;
        }
        if self.version != M::VERSION {
            return Some(Err(EnvelopeError::AreaVersion {
                area: self.area.clone(),
                version: self.version,
                expected: M::VERSION,
            }));
        }
        Some(postcard::from_bytes(&self.bytes).map_err(EnvelopeError::Decode))
    }
}

/// A message with its version and sender.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// [`ENVELOPE_VERSION`] when sent by this build.
    pub version: u16,
    /// The sending node's id.
    pub from: NodeId,
    /// When it was published, by the sender's clock (Unix ms): a receiver
    /// measures the bus's lag from it (`skirmish_bus_lag_seconds`).
    pub sent_at_ms: u64,
    /// An area's message.
    pub payload: Payload,
}

/// A message received on a topic this node subscribed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The topic it came on.
    pub topic: Topic,
    /// What came.
    pub envelope: Envelope,
}

/// Why an envelope could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Sent by a build with another envelope format.
    #[error("envelope version {0} is not {ENVELOPE_VERSION}")]
    Version(u16),
    /// Not a postcard envelope, or not the message its area says.
    #[error("undecodable envelope: {0}")]
    Decode(#[from] postcard::Error),
    /// An area's message in another version of its format.
    #[error("{area} message version {version} is not {expected}")]
    AreaVersion {
        /// The area.
        area: String,
        /// The version sent.
        version: u16,
        /// The version this build reads.
        expected: u16,
    },
}

impl Envelope {
    /// Encodes with postcard.
    pub fn encode(&self) -> Vec<u8> {
        // Postcard serialises these plain types into a Vec infallibly.
        postcard::to_stdvec(self).expect("envelopes always encode")
    }

    /// Decodes, checking the version before the body so a newer format is
    /// reported as such rather than as garbage.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        let (version, _) = postcard::take_from_bytes::<u16>(bytes)?;
        if version != ENVELOPE_VERSION {
            return Err(EnvelopeError::Version(version));
        }
        Ok(postcard::from_bytes(bytes)?)
    }
}

/// Why a subscription change failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Redis did not answer; the caller may retry.
    #[error("the bus is unavailable: {0}")]
    Unavailable(String),
}

/// Publishes to and subscribes on topics. Incoming deliveries arrive on the
/// receiver handed out when the bus was built.
pub trait Bus: Send + Sync + std::fmt::Debug {
    /// Publishes without waiting. Delivery is at most once; when the bus is
    /// down the message is dropped (and counted).
    fn publish(&self, topic: &Topic, payload: Payload);

    /// Starts receiving a topic (including this node's own publications).
    fn subscribe<'a>(&'a self, topic: &'a Topic) -> BoxFuture<'a, Result<(), BusError>>;

    /// Stops receiving a topic.
    fn unsubscribe<'a>(&'a self, topic: &'a Topic) -> BoxFuture<'a, Result<(), BusError>>;

    /// Whether deliveries can arrive now: `false` while a Redis bus's
    /// subscriber has lost its connection and is reconnecting (what is
    /// published meanwhile is lost to this node). An in-process bus is
    /// always connected.
    fn is_connected(&self) -> bool {
        true
    }
}

impl dyn Bus {
    /// Publishes an area's message.
    pub fn send<M: Message>(&self, topic: &Topic, msg: &M) {
        self.publish(topic, Payload::of(msg));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An area of this test's own.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Note {
        Hello(String),
    }

    impl Message for Note {
        const AREA: &'static str = "note";
        const VERSION: u16 = 1;
    }

    /// Another area.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Other(u8);

    impl Message for Other {
        const AREA: &'static str = "other";
        const VERSION: u16 = 1;
    }

    fn envelope() -> Envelope {
        Envelope {
            version: ENVELOPE_VERSION,
            from: "node-a".into(),
            sent_at_ms: 1_700_000_000_000,
            payload: Payload::of(&Note::Hello("Ada".into())),
        }
    }

    #[test]
    fn payloads_open_only_as_their_own_areas_current_version() {
        let payload = envelope().payload;
        assert_eq!(
            payload.open::<Note>().map(Result::ok),
            Some(Some(Note::Hello("Ada".into())))
        );
        assert!(payload.open::<Other>().is_none(), "another area's");
        let newer = Payload {
            version: 2,
            ..payload.clone()
        };
        assert!(matches!(
            newer.open::<Note>(),
            Some(Err(EnvelopeError::AreaVersion {
                version: 2,
                expected: 1,
                ..
            }))
        ));
        let garbage = Payload {
            bytes: vec![0xff; 3],
            ..payload
        };
        assert!(matches!(
            garbage.open::<Note>(),
            Some(Err(EnvelopeError::Decode(_)))
        ));
    }

    #[test]
    fn envelopes_round_trip_and_other_versions_are_named() {
        let e = envelope();
        assert_eq!(Envelope::decode(&e.encode()).expect("decodes"), e);
        let newer = Envelope {
            version: ENVELOPE_VERSION + 1,
            ..envelope()
        };
        assert!(matches!(
            Envelope::decode(&newer.encode()),
            Err(EnvelopeError::Version(v)) if v == ENVELOPE_VERSION + 1
        ));
        // This version, then garbage.
        let mut garbage = postcard::to_stdvec(&ENVELOPE_VERSION).expect("encodes");
        garbage.push(0xff);
        assert!(matches!(
            Envelope::decode(&garbage),
            Err(EnvelopeError::Decode(_))
        ));
    }

    #[test]
    fn channels_map_back_to_topics() {
        for topic in [Topic::Room("global".into()), Topic::Node("eu-1".into())] {
            assert_eq!(Topic::from_channel("sk", &topic.channel("sk")), Some(topic));
        }
        assert_eq!(Topic::from_channel("sk", "other:room:x"), None);
    }
}
