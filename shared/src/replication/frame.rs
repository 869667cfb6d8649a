//! [`Frame`]: every replicated entity of one tick, quantised, as a game
//! writes it; and the events of that tick.

/// An entity's place in a frame and on the wire: its kind in the top 8 bits,
/// its id within the kind in the low 24. Frames and deltas list entities in
/// key order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(pub u32);

impl Key {
    /// Ids within a kind are below this.
    pub const MAX_ID: u32 = 1 << 24;

    /// The key of entity `id` (taken modulo [`Key::MAX_ID`]) of `kind`.
    #[inline]
    pub fn new(kind: u8, id: u32) -> Key {
        Key(u32::from(kind) << 24 | (id % Self::MAX_ID))
    }

    /// The entity's kind.
    #[inline]
    pub fn kind(self) -> u8 {
        (self.0 >> 24) as u8
    }

    /// The entity's id within its kind.
    #[inline]
    pub fn id(self) -> u32 {
        self.0 % Self::MAX_ID
    }
}

/// One entity as a game wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntityRef<'a> {
    /// Its kind and id.
    pub key: Key,
    /// Its fields in wire form, in the schema's order.
    pub fields: &'a [u32],
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Row {
    key: Key,
    start: u32,
    len: u8,
    /// Where it is, for interest; `None` for what every viewer receives.
    at: Option<[f32; 2]>,
}

/// One tick's entities in wire form, in key order once finished. Reused
/// from tick to tick: [`Frame::clear`] keeps the memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frame {
    rows: Vec<Row>,
    values: Vec<u32>,
    /// Events of the tick: kind and where their fields start in `values`.
    events: Vec<Row>,
}

impl Frame {
    /// Empties the frame, keeping its memory.
    pub fn clear(&mut self) {
        self.rows.clear();
        self.values.clear();
        self.events.clear();
    }

    /// Adds entity `id` of `kind` with its fields in wire form (each below
    /// its field's [`super::Quant::max_wire`]), which every viewer receives
    /// (match-wide state: a clock, a score). One entity per key: a second
    /// push of the same key is a bug, caught by [`Frame::finish`] in debug
    /// builds.
    pub fn push(&mut self, kind: u8, id: u32, fields: &[u32]) {
        self.add(kind, id, fields, None);
    }

    /// [`Frame::push`] for an entity at `at` (in the game's units), which a
    /// viewer whose [`super::Interest`] is an area receives only while it is
    /// inside.
    pub fn push_at(&mut self, kind: u8, id: u32, at: [f32; 2], fields: &[u32]) {
        self.add(kind, id, fields, Some(at));
    }

    fn add(&mut self, kind: u8, id: u32, fields: &[u32], at: Option<[f32; 2]>) {
        let start = self.values.len() as u32;
        self.values.extend_from_slice(fields);
        self.rows.push(Row {
            key: Key::new(kind, id),
            start,
            len: fields.len() as u8,
            at,
        });
    }

    /// Records something that happened this tick as an entity of `kind`
    /// (the engine gives it an id and keeps it in the frames of the ticks
    /// that follow until every viewer has had the chance to receive it).
    pub fn event(&mut self, kind: u8, fields: &[u32]) {
        let start = self.values.len() as u32;
        self.values.extend_from_slice(fields);
        self.events.push(Row {
            key: Key::new(kind, 0),
            start,
            len: fields.len() as u8,
            at: None,
        });
    }

    /// Puts the entities in key order.
    pub fn finish(&mut self) {
        self.rows.sort_unstable_by_key(|r| r.key);
        debug_assert!(
            self.rows.windows(2).all(|w| w[0].key != w[1].key),
            "two entities with one key"
        );
    }

    /// How many entities.
    #[inline]
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The `i`th entity in key order.
    #[inline]
    pub fn at(&self, i: usize) -> EntityRef<'_> {
        let row = self.rows[i];
        EntityRef {
            key: row.key,
            fields: &self.values[row.start as usize..row.start as usize + usize::from(row.len)],
        }
    }

    /// Where the `i`th entity is, if it has a place.
    #[inline]
    pub fn place(&self, i: usize) -> Option<[f32; 2]> {
        self.rows[i].at
    }

    /// Every entity, in key order (once finished).
    pub fn iter(&self) -> impl Iterator<Item = EntityRef<'_>> + '_ {
        (0..self.rows.len()).map(|i| self.at(i))
    }

    /// The entity with `key`, if present.
    pub fn get(&self, key: Key) -> Option<EntityRef<'_>> {
        let i = self.rows.binary_search_by_key(&key, |r| r.key).ok()?;
        Some(self.at(i))
    }

    /// This tick's events as `(kind, fields)`, in the order they happened.
    pub fn events(&self) -> impl Iterator<Item = (u8, &[u32])> + '_ {
        self.events.iter().map(|r| {
            (
                r.key.kind(),
                &self.values[r.start as usize..r.start as usize + usize::from(r.len)],
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_come_out_in_key_order() {
        let mut f = Frame::default();
        f.push_at(1, 7, [5.0, 6.0], &[1, 2]);
        f.push(0, 9, &[3]);
        f.push(1, 2, &[4, 5]);
        f.event(2, &[6]);
        f.finish();
        let keys: Vec<(u8, u32)> = f.iter().map(|e| (e.key.kind(), e.key.id())).collect();
        assert_eq!(keys, [(0, 9), (1, 2), (1, 7)]);
        assert_eq!(
            f.get(Key::new(1, 7)).map(|e| e.fields),
            Some(&[1u32, 2][..])
        );
        assert_eq!(f.events().collect::<Vec<_>>(), [(2, &[6u32][..])]);
        f.clear();
        assert!(f.is_empty() && f.events().next().is_none());
    }
}
