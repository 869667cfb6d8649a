//! [`Replicator`]: one match's replication, run by the engine. It keeps the
//! frames of the last [`RING`] ticks, the events of those ticks, and per
//! viewer what it acknowledged and what it was sent, and writes each
//! viewer's snapshot as a delta against the newest tick that viewer
//! acknowledged (a full snapshot when it has acknowledged none still kept),
//! with every event since that tick: an event rides until the viewer
//! acknowledges a tick after it (or [`RING`] ticks pass).

use super::delta::{Visible, write_delta};
use super::frame::Frame;
use super::interest::Interest;
use super::schema::{Layout, Schema};
use crate::ids::{EntityId, Tick};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Ticks of frames kept: a viewer whose newest acknowledgement is older gets
/// a full snapshot. Events are kept as long, so a viewer that acknowledges
/// anything within it receives every event.
pub const RING: usize = 32;

/// An event of the last [`RING`] ticks.
#[derive(Clone, Debug)]
struct LoggedEvent {
    born: Tick,
    seq: u32,
    kind: u8,
    fields: Vec<u32>,
}

/// What one viewer was sent, and acknowledged.
#[derive(Debug, Default)]
struct Viewer {
    /// The newest tick it says it decoded.
    acked: Option<Tick>,
    /// The entities it was sent, by tick, oldest first (at most [`RING`]).
    sent: VecDeque<(Tick, Visible)>,
}

/// One match's replication state.
#[derive(Debug)]
pub struct Replicator {
    schema: Arc<Schema>,
    layout: Layout,
    /// Committed frames, oldest first.
    frames: VecDeque<(Tick, Frame)>,
    /// The frame being written for the next commit.
    next: Frame,
    events: VecDeque<LoggedEvent>,
    next_event: u32,
    viewers: HashMap<EntityId, Viewer>,
    /// This tick's snapshots of viewers that see everything, by baseline:
    /// written once, copied to every viewer that shares the baseline.
    shared: Vec<(Option<Tick>, Vec<u8>)>,
}

impl Replicator {
    /// Replication for a match of a game with `schema`.
    pub fn new(schema: Arc<Schema>) -> Self {
        Replicator {
            layout: Layout::of(&schema),
            schema,
            frames: VecDeque::with_capacity(RING),
            next: Frame::default(),
            events: VecDeque::new(),
            next_event: 0,
            viewers: HashMap::new(),
            shared: Vec::new(),
        }
    }

    /// The schema snapshots are written with.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// An empty frame for the game to write the coming tick into.
    pub fn frame_mut(&mut self) -> &mut Frame {
        &mut self.next
    }

    /// Keeps the frame written for `tick`: puts it in key order, and logs
    /// its events with sequence numbers. The oldest frame and events beyond
    /// [`RING`] ticks are dropped (the frame's memory reused).
    pub fn commit(&mut self, tick: Tick) {
        // The same tick again (a match waiting for its players to arrive
        // does not step): the newer frame replaces the older.
        if let Some((last, _)) = self.frames.back()
            && *last == tick
            && let Some((_, old)) = self.frames.pop_back()
        {
            for v in self.viewers.values_mut() {
                v.sent.retain(|(t, _)| *t != tick);
                if v.acked == Some(tick) {
                    v.acked = None;
                }
            }
            drop(old);
        }
        while self
            .events
            .front()
            .is_some_and(|e| tick.wrapping_sub(e.born) >= RING as Tick)
        {
            self.events.pop_front();
        }
        for (kind, fields) in self.next.events() {
            self.events.push_back(LoggedEvent {
                born: tick,
                seq: self.next_event,
                kind,
                fields: fields.to_vec(),
            });
            self.next_event = self.next_event.wrapping_add(1);
        }
        self.next.finish();
        self.shared.clear();
        let recycled = if self.frames.len() >= RING {
            self.frames.pop_front().map(|(_, f)| f)
        } else {
            None
        };
        let mut fresh = recycled.unwrap_or_default();
        fresh.clear();
        let done = std::mem::replace(&mut self.next, fresh);
        self.frames.push_back((tick, done));
    }

    /// The newest committed frame.
    pub fn latest(&self) -> Option<(Tick, &Frame)> {
        self.frames.back().map(|(t, f)| (*t, f))
    }

    /// Records that `viewer` decoded `tick`; an acknowledgement older than
    /// one already recorded, of tick 0 (nothing decoded) or of a tick not
    /// committed yet changes nothing.
    pub fn ack(&mut self, viewer: EntityId, tick: Tick) {
        let newest = self.frames.back().map_or(0, |(t, _)| *t);
        if tick == 0 || tick > newest {
            return;
        }
        let v = self.viewers.entry(viewer).or_default();
        if v.acked.is_none_or(|a| tick > a) {
            v.acked = Some(tick);
        }
    }

    /// Forgets what `viewer` has: its next snapshot is full (a new
    /// connection starts from nothing).
    pub fn reset(&mut self, viewer: EntityId) {
        if let Some(v) = self.viewers.get_mut(&viewer) {
            v.acked = None;
            v.sent.clear();
        }
    }

    /// Forgets `viewer` altogether (it left the match).
    pub fn remove(&mut self, viewer: EntityId) {
        self.viewers.remove(&viewer);
    }

    /// Appends `viewer`'s snapshot of the newest frame to `out`: the
    /// entities its `interest` takes in, as a delta against the newest tick
    /// it acknowledged that is still kept, and the events born after that
    /// tick (every logged one for a full snapshot). Returns that baseline
    /// tick, or `None` for a full snapshot (also when nothing was committed
    /// yet, which writes an empty full snapshot).
    pub fn write(
        &mut self,
        viewer: EntityId,
        interest: Interest,
        out: &mut Vec<u8>,
    ) -> Option<Tick> {
        let Some((tick, frame)) = self.frames.back() else {
            let (frame, visible) = (Frame::default(), Visible::default());
            write_delta(&self.layout, None, &frame, &visible, [], out);
            return None;
        };
        let v = self.viewers.entry(viewer).or_default();
        // The slot for this tick: the oldest one's memory when full.
        let mut visible = if v.sent.len() >= RING {
            v.sent.pop_front().map(|(_, vis)| vis).unwrap_or_default()
        } else {
            Visible::default()
        };
        visible.reset(frame.len());
        for i in 0..frame.len() {
            if interest.sees(frame.place(i)) {
                visible.insert(i);
            }
        }
        let base = v.acked.and_then(|acked| {
            let sent = v.sent.iter().find(|(t, _)| *t == acked)?;
            let (_, base_frame) = self.frames.iter().find(|(t, _)| *t == acked)?;
            Some((acked, base_frame, &sent.1))
        });
        let base_tick = base.map(|(t, _, _)| t);
        // A viewer that sees everything now and saw everything at its
        // baseline gets the same bytes as every other such viewer with that
        // baseline: written once a tick.
        let everything =
            interest == Interest::Everything && base.is_none_or(|(_, f, vis)| vis.is_all(f.len()));
        if everything && let Some((_, bytes)) = self.shared.iter().find(|(b, _)| *b == base_tick) {
            out.extend_from_slice(bytes);
            v.sent.retain(|(t, _)| *t != *tick);
            v.sent.push_back((*tick, visible));
            return base_tick;
        }
        let start = out.len();
        let events = self
            .events
            .iter()
            .filter(|e| base_tick.is_none_or(|b| e.born > b))
            .map(|e| (e.seq, e.kind, e.fields.as_slice()));
        write_delta(
            &self.layout,
            base.map(|(_, f, vis)| (f, vis)),
            frame,
            &visible,
            events,
            out,
        );
        if everything {
            self.shared.push((base_tick, out[start..].to_vec()));
        }
        v.sent.retain(|(t, _)| *t != *tick);
        v.sent.push_back((*tick, visible));
        base_tick
    }
}

#[cfg(test)]
mod tests {
    use super::super::delta::Mirror;
    use super::super::schema::{Field, Kind, Quant};
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashMap};

    fn schema() -> Arc<Schema> {
        let fixed = Quant::Fixed {
            min: 0.0,
            max: 100.0,
            step: 0.5,
        };
        Arc::new(Schema {
            kinds: vec![
                Kind::new(
                    "thing",
                    vec![
                        Field::new("x", fixed),
                        Field::new("y", fixed),
                        Field::new("hp", Quant::Uint { bits: 7 }),
                        Field::new("on", Quant::Uint { bits: 1 }),
                    ],
                ),
                Kind::new("clock", vec![Field::new("left", Quant::Uint { bits: 20 })]),
                Kind::new("boom", vec![Field::new("at", Quant::Uint { bits: 8 })]),
            ],
        })
    }

    /// One tick of a made-up world: which things exist (ids below 12) with
    /// which fields, and how many events happen.
    fn world() -> impl Strategy<Value = (Vec<(u32, [u32; 4])>, u8)> {
        (
            vec(
                (0u32..12, (0u32..=200, 0u32..=200, 0u32..128, 0u32..2)),
                0..10,
            ),
            0u8..3,
        )
            .prop_map(|(things, events)| {
                let unique: BTreeMap<u32, [u32; 4]> = things
                    .into_iter()
                    .map(|(id, (x, y, hp, on))| (id, [x, y, hp, on]))
                    .collect();
                (unique.into_iter().collect(), events)
            })
    }

    /// What a client does with each snapshot: delivered late (`delay`
    /// ticks), lost, and acknowledging what it decoded late or never.
    #[derive(Clone, Debug)]
    struct Net {
        delay: u8,
        lost: bool,
        ack_lost: bool,
    }

    fn net() -> impl Strategy<Value = Net> {
        (0u8..5, prop::bool::weighted(0.2), prop::bool::weighted(0.3)).prop_map(
            |(delay, lost, ack_lost)| Net {
                delay,
                lost,
                ack_lost,
            },
        )
    }

    proptest! {
        /// For any worlds and any pattern of lost, late and reordered
        /// snapshots and acknowledgements, every snapshot a viewer decodes
        /// equals the entities it may see of the tick it names, and carries
        /// exactly the events born after its baseline (all those kept, for
        /// a full snapshot).
        #[test]
        fn every_decoded_snapshot_is_the_quantised_state_of_its_tick(
            ticks in vec((world(), net(), 0u32..12), 1..80),
        ) {
            let schema = schema();
            let layout = Layout::of(&schema);
            let mut rep = Replicator::new(Arc::clone(&schema));
            let viewer = EntityId(1);
            // Snapshots in flight: (arrives at tick, tick, base, bytes).
            let mut in_flight: Vec<(u32, Tick, Option<Tick>, Vec<u8>)> = Vec::new();
            let mut decoded: BTreeMap<Tick, Mirror> = BTreeMap::new();
            let mut expected: BTreeMap<Tick, Mirror> = BTreeMap::new();
            // Every event: (born, seq, payload).
            let mut happened: Vec<(Tick, u32, u32)> = Vec::new();
            for (n, ((things, events), net, sight)) in ticks.into_iter().enumerate() {
                let tick = n as Tick + 1;
                let frame = rep.frame_mut();
                frame.push(1, 0, &[100_000 - tick]);
                for (id, fields) in &things {
                    frame.push_at(0, *id, [*id as f32 * 10.0, 0.0], fields);
                }
                for e in 0..events {
                    let payload = (tick * 3 + u32::from(e)) % 256;
                    frame.event(2, &[payload]);
                    happened.push((tick, happened.len() as u32, payload));
                }
                rep.commit(tick);
                // The viewer sees things with ids below `sight` (placed 10
                // apart from 0), the clock and events.
                let interest = Interest::Around { at: [-5.0, 0.0], radius: sight as f32 * 10.0 };
                let mut bytes = Vec::new();
                let base = rep.write(viewer, interest, &mut bytes);
                let (_, frame) = rep.latest().expect("committed");
                let mut visible = Visible::default();
                visible.reset(frame.len());
                for (i, e) in frame.iter().enumerate() {
                    if e.key.kind() != 0 || e.key.id() < sight {
                        visible.insert(i);
                    }
                }
                expected.insert(tick, Mirror::of_frame(frame, &visible));
                let kept = |born: Tick| tick - born < RING as Tick;
                let due_events: Vec<(u32, u8, Vec<u32>)> = happened
                    .iter()
                    .filter(|(born, _, _)| kept(*born) && base.is_none_or(|b| *born > b))
                    .map(|(_, seq, payload)| (*seq, 2, vec![*payload]))
                    .collect();
                if !net.lost {
                    in_flight.push((tick + u32::from(net.delay), tick, base, bytes));
                }
                // Deliveries due now, in any order they come.
                let (due, later): (Vec<_>, Vec<_>) = in_flight.into_iter().partition(|d| d.0 <= tick);
                in_flight = later;
                for (_, t, base, bytes) in due {
                    let start = match base {
                        None => Mirror::default(),
                        Some(b) => decoded.get(&b).cloned().expect("a baseline the client acknowledged"),
                    };
                    let mut events = Vec::new();
                    let state = start.apply_with_events(&layout, &bytes, &mut events).expect("decodes");
                    prop_assert_eq!(&state, &expected[&t], "tick {}", t);
                    if t == tick {
                        prop_assert_eq!(&events, &due_events, "events of tick {}", t);
                    }
                    decoded.insert(t, state);
                    if !net.ack_lost {
                        rep.ack(viewer, t);
                    }
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(bytes in vec(any::<u8>(), 0..64)) {
            let _ = Mirror::default().apply(&Layout::of(&schema()), &bytes);
        }
    }

    #[test]
    fn unchanged_entities_cost_nothing_and_events_ride_until_acknowledged() {
        let schema = schema();
        let layout = Layout::of(&schema);
        let mut rep = Replicator::new(Arc::clone(&schema));
        let me = EntityId(1);
        let decode = |bytes: &[u8]| {
            let mut events = Vec::new();
            Mirror::default()
                .apply_with_events(&layout, bytes, &mut events)
                .expect("decodes");
            events.len()
        };
        rep.frame_mut().push(0, 3, &[10, 20, 100, 1]);
        rep.frame_mut().event(2, &[7]);
        rep.commit(1);
        let mut first = Vec::new();
        assert_eq!(rep.write(me, Interest::Everything, &mut first), None);
        assert_eq!(decode(&first), 1);
        // Not acknowledged yet: the event rides again.
        rep.frame_mut().push(0, 3, &[10, 20, 100, 1]);
        rep.commit(2);
        let mut again = Vec::new();
        assert_eq!(rep.write(me, Interest::Everything, &mut again), None);
        assert_eq!(decode(&again), 1);
        rep.ack(me, 2);
        rep.frame_mut().push(0, 3, &[10, 20, 100, 1]);
        rep.commit(3);
        let mut delta = Vec::new();
        assert_eq!(rep.write(me, Interest::Everything, &mut delta), Some(2));
        // Nothing changed and no new event: the end code and the end of
        // the events, padded.
        assert_eq!(delta, [0]);
    }

    #[test]
    fn a_tick_committed_again_replaces_its_frame_and_impossible_acks_change_nothing() {
        let schema = schema();
        let layout = Layout::of(&schema);
        let mut rep = Replicator::new(Arc::clone(&schema));
        let me = EntityId(1);
        let mut out = Vec::new();
        // A match waiting for its players: tick 0, again and again.
        rep.frame_mut().push(0, 1, &[1, 1, 1, 1]);
        rep.commit(0);
        assert_eq!(rep.write(me, Interest::Everything, &mut out), None);
        rep.ack(me, 0);
        rep.frame_mut().push(0, 1, &[1, 1, 1, 1]);
        rep.frame_mut().push(0, 2, &[2, 2, 2, 1]);
        rep.commit(0);
        out.clear();
        assert_eq!(
            rep.write(me, Interest::Everything, &mut out),
            None,
            "0 acknowledges nothing"
        );
        let state = Mirror::default().apply(&layout, &out).expect("decodes");
        assert_eq!(state.len(), 2, "the newer tick-0 frame");
        rep.frame_mut().push(0, 1, &[1, 1, 1, 1]);
        rep.commit(1);
        rep.ack(me, 99);
        out.clear();
        assert_eq!(
            rep.write(me, Interest::Everything, &mut out),
            None,
            "a tick never sent"
        );
        rep.ack(me, 1);
        rep.frame_mut().push(0, 1, &[1, 1, 1, 0]);
        rep.commit(2);
        out.clear();
        assert_eq!(rep.write(me, Interest::Everything, &mut out), Some(1));
    }

    #[test]
    fn viewers_who_see_everything_share_one_encoding_per_baseline() {
        let schema = schema();
        let layout = Layout::of(&schema);
        let mut rep = Replicator::new(Arc::clone(&schema));
        let viewers = [EntityId(1), EntityId(2), EntityId(3), EntityId(4)];
        let mut states: HashMap<(EntityId, Tick), Mirror> = HashMap::new();
        for tick in 1..=40u32 {
            for id in 0..6 {
                let moved = if id % 2 == 0 { tick } else { 0 };
                rep.frame_mut()
                    .push_at(0, id, [id as f32, 0.0], &[moved % 200, 5, id, 1]);
            }
            if tick % 5 == 0 {
                rep.frame_mut().event(2, &[tick % 256]);
            }
            rep.commit(tick);
            for (n, &v) in viewers.iter().enumerate() {
                // Viewer 4 sees only a corner: never shared.
                let interest = if n == 3 {
                    Interest::Around {
                        at: [0.0, 0.0],
                        radius: 2.5,
                    }
                } else {
                    Interest::Everything
                };
                let mut bytes = Vec::new();
                let base = rep.write(v, interest, &mut bytes);
                let start = base.map_or_else(Mirror::default, |b| states[&(v, b)].clone());
                let state = start.apply(&layout, &bytes).expect("decodes");
                let (_, frame) = rep.latest().expect("committed");
                let expected = if n == 3 { 3 } else { frame.len() };
                assert_eq!(state.len(), expected, "viewer {n} at tick {tick}");
                states.insert((v, tick), state);
                // Viewers 1 and 2 acknowledge every tick, viewer 3 every
                // third: two baselines among the three who see everything.
                if n != 2 || tick % 3 == 0 {
                    rep.ack(v, tick);
                }
            }
            assert!(
                rep.shared.len() <= 2,
                "one encoding per baseline: {}",
                rep.shared.len()
            );
        }
    }
}
