//! The snapshot format: one viewer's entities as a delta against a state it
//! has (or against nothing: a full snapshot), and the decoder that applies
//! one to get the next state ([`Mirror`]).
//!
//! A delta is a bit stream (see `bits.rs`) of operations in key order, each
//! a 2-bit code, then the key: a 1 bit and the id as a gap from the
//! previous operation's id when the kind is the same (the first operation
//! counts as following kind 0, id 0), else a 0 bit, the kind as a gap from
//! the previous kind (a varint of 2-bit groups) and the id (a varint of
//! 4-bit groups):
//! - `1` appear: every field of the kind, each in its bits;
//! - `2` update: which fields changed, then each changed field. Which
//!   changed is a change mask (one bit per field of the kind, first field
//!   lowest), written as a 1 bit alone when it equals the previous update's
//!   in this snapshot and that update was of the same kind, else as a 0 bit
//!   and the mask; a kind of one field has no mask (its field changed). A
//!   changed field is in its bits if it has fewer than 8; otherwise a flag,
//!   then, if set, the change from the baseline's value (modulo 2^bits,
//!   zigzag-coded) in [`small_bits`] bits, else the value in its bits;
//! - `3` remove;
//! - `0` ends the entities (no key follows).
//!
//! Entities the stream does not name are unchanged. Events follow, each as
//! a 1 bit, its sequence number as a gap from the previous event's (a
//! varint of 4-bit groups; the first from 0), its kind in 8 bits and its
//! fields in their bits; a 0 bit ends them, and the last byte is padded
//! with zeros. PROTOCOL.md documents the same with byte dumps.

use super::bits::{BitReader, BitWriter, Truncated};
use super::frame::{EntityRef, Frame, Key};
use super::schema::Layout;
use std::cmp::Ordering;

const END: u32 = 0;
const APPEAR: u32 = 1;
const UPDATE: u32 = 2;
const REMOVE: u32 = 3;
const KEY_GROUP: u8 = 4;
const KIND_GROUP: u8 = 2;

/// Fields of at least this many bits may travel as a change from their
/// baseline value.
const DIFF_FROM_BITS: u8 = 8;

/// The bits of a small change to a field of `bits` bits (8 or more): half
/// its width and one more, so a 14-bit position moving up to 127 steps
/// takes 9 bits instead of 14.
pub fn small_bits(bits: u8) -> u8 {
    bits / 2 + 1
}

/// Writes one changed field of an update.
fn write_change(w: &mut BitWriter<'_>, old: u32, new: u32, bits: u8) {
    if bits < DIFF_FROM_BITS {
        w.write(new, bits);
        return;
    }
    let small = small_bits(bits);
    let diff = zigzag(new.wrapping_sub(old), bits);
    let fits = diff < (1u32 << small);
    w.flag(fits);
    if fits {
        w.write(diff, small);
    } else {
        w.write(new, bits);
    }
}

/// Reads one changed field of an update.
fn read_change(r: &mut BitReader<'_>, old: u32, bits: u8) -> Result<u32, Truncated> {
    if bits < DIFF_FROM_BITS {
        return r.read(bits);
    }
    if r.flag()? {
        let diff = unzigzag(r.read(small_bits(bits))?);
        Ok(old.wrapping_add(diff) & super::schema::mask(bits))
    } else {
        r.read(bits)
    }
}

/// A difference modulo 2^bits, as a signed number, zigzag-coded: 0, -1, 1,
/// -2, 2 ... become 0, 1, 2, 3, 4 ...
fn zigzag(diff: u32, bits: u8) -> u32 {
    // Sign-extend the `bits`-bit difference.
    let shift = 32 - u32::from(bits);
    let signed = ((diff << shift) as i32) >> shift;
    ((signed << 1) ^ (signed >> 31)) as u32
}

/// The inverse of [`zigzag`], as a difference to add modulo 2^bits.
fn unzigzag(z: u32) -> u32 {
    ((z >> 1) as i32 ^ -((z & 1) as i32)) as u32
}

/// Which of a frame's entities one viewer receives: one bit per entity, in
/// the frame's key order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Visible {
    words: Vec<u64>,
}

impl Visible {
    /// Empties the set for a frame of `n` entities, keeping the memory.
    pub fn reset(&mut self, n: usize) {
        self.words.clear();
        self.words.resize(n.div_ceil(64), 0);
    }

    /// Every one of `n` entities.
    pub fn all(n: usize) -> Visible {
        let mut v = Visible::default();
        v.reset(n);
        for i in 0..n {
            v.insert(i);
        }
        v
    }

    /// Adds the `i`th entity.
    #[inline]
    pub fn insert(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }

    /// Whether all `n` entities are in.
    pub fn is_all(&self, n: usize) -> bool {
        (0..n / 64).all(|w| self.words.get(w) == Some(&u64::MAX))
            && (n.is_multiple_of(64)
                || self
                    .words
                    .get(n / 64)
                    .is_some_and(|w| w.trailing_ones() as usize >= n % 64))
    }

    /// Whether the `i`th entity is in.
    #[inline]
    pub fn contains(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

/// The next visible entity at or after `*i`.
fn next<'a>(frame: &'a Frame, visible: &Visible, i: &mut usize) -> Option<EntityRef<'a>> {
    while *i < frame.len() {
        let at = *i;
        *i += 1;
        if visible.contains(at) {
            return Some(frame.at(at));
        }
    }
    None
}

/// One event as a snapshot carries it: its sequence number (increasing
/// within a match), kind and fields.
pub type EventRef<'a> = (u32, u8, &'a [u32]);

/// Writes what one viewer needs to go from `base` (a frame it decoded,
/// with the entities it received then) to `frame` (with the entities it
/// receives now), or from nothing when `base` is `None`, and then
/// `events` (in sequence order). Appends to `out`.
pub fn write_delta<'e>(
    layout: &Layout,
    base: Option<(&Frame, &Visible)>,
    frame: &Frame,
    visible: &Visible,
    events: impl IntoIterator<Item = EventRef<'e>>,
    out: &mut Vec<u8>,
) {
    let empty_frame = Frame::default();
    let empty = Visible::default();
    let (base, base_visible) = base.unwrap_or((&empty_frame, &empty));
    let mut w = BitWriter::new(out);
    let mut prev = 0u32;
    let mut last_mask = LastMask::default();
    let (mut i, mut j) = (0, 0);
    let mut old = next(base, base_visible, &mut i);
    let mut new = next(frame, visible, &mut j);
    loop {
        // Which side comes first in key order: only-old, only-new, or both.
        let order = match (old, new) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(o), Some(n)) => o.key.cmp(&n.key),
        };
        match (order, old, new) {
            (Ordering::Less, Some(o), _) => {
                op(&mut w, &mut prev, REMOVE, o.key);
                old = next(base, base_visible, &mut i);
            }
            (Ordering::Greater, _, Some(n)) => {
                op(&mut w, &mut prev, APPEAR, n.key);
                for (value, bits) in n.fields.iter().zip(fields(layout, n.key)) {
                    w.write(*value, *bits);
                }
                new = next(frame, visible, &mut j);
            }
            (_, Some(o), Some(n)) => {
                write_update(&mut w, &mut prev, &mut last_mask, layout, o, n);
                old = next(base, base_visible, &mut i);
                new = next(frame, visible, &mut j);
            }
            _ => unreachable!("the order comes from which sides are present"),
        }
    }
    w.write(END, 2);
    let mut prev = 0u32;
    for (seq, kind, fields) in events {
        w.flag(true);
        w.varint(seq.wrapping_sub(prev), KEY_GROUP);
        prev = seq;
        w.write(u32::from(kind), 8);
        for (value, bits) in fields.iter().zip(layout.kind(kind).unwrap_or_default()) {
            w.write(*value, *bits);
        }
    }
    w.flag(false);
    w.finish();
}

/// The change mask of the previous update in a snapshot, and its kind.
#[derive(Clone, Copy, Debug, Default)]
struct LastMask(Option<(u8, u32)>);

impl LastMask {
    fn write(&mut self, w: &mut BitWriter<'_>, kind: u8, fields: usize, mask: u32) {
        if fields > 1 {
            let repeat = self.0 == Some((kind, mask));
            w.flag(repeat);
            if !repeat {
                w.write(mask, fields as u8);
            }
        }
        self.0 = Some((kind, mask));
    }

    fn read(&mut self, r: &mut BitReader<'_>, key: Key, fields: usize) -> Result<u32, DecodeError> {
        let kind = key.kind();
        let mask = if fields <= 1 {
            1
        } else if r.flag()? {
            match self.0 {
                Some((k, mask)) if k == kind => mask,
                _ => return Err(DecodeError::Mismatch(key.0)),
            }
        } else {
            r.read(fields as u8)?
        };
        self.0 = Some((kind, mask));
        Ok(mask)
    }
}

/// An update of an entity both sides have, if any field changed.
fn write_update(
    w: &mut BitWriter<'_>,
    prev: &mut u32,
    last_mask: &mut LastMask,
    layout: &Layout,
    o: EntityRef<'_>,
    n: EntityRef<'_>,
) {
    let mut mask = 0u32;
    for (k, (a, b)) in o.fields.iter().zip(n.fields).enumerate() {
        if a != b {
            mask |= 1 << k;
        }
    }
    if mask == 0 {
        return;
    }
    op(w, prev, UPDATE, n.key);
    last_mask.write(w, n.key.kind(), n.fields.len(), mask);
    let changes = o.fields.iter().zip(n.fields).zip(fields(layout, n.key));
    for (k, ((old, new), bits)) in changes.enumerate() {
        if mask & (1 << k) != 0 {
            write_change(w, *old, *new, *bits);
        }
    }
}

fn op(w: &mut BitWriter<'_>, prev: &mut u32, code: u32, key: Key) {
    w.write(code, 2);
    let last = Key(*prev);
    if key.kind() == last.kind() {
        w.flag(true);
        w.varint(key.id() - last.id(), KEY_GROUP);
    } else {
        w.flag(false);
        w.varint(u32::from(key.kind() - last.kind()), KIND_GROUP);
        w.varint(key.id(), KEY_GROUP);
    }
    *prev = key.0;
}

/// Reads the key of an operation following `prev` (see [`op`]).
fn read_key(r: &mut BitReader<'_>, prev: Key, first: bool) -> Result<Key, DecodeError> {
    if r.flag()? {
        let gap = r.varint(KEY_GROUP)?;
        let id = prev.id().checked_add(gap).filter(|id| *id < Key::MAX_ID);
        match id {
            Some(id) if gap > 0 || first => Ok(Key::new(prev.kind(), id)),
            _ => Err(DecodeError::OutOfOrder),
        }
    } else {
        let gap = r.varint(KIND_GROUP)?;
        let kind = u32::from(prev.kind())
            .checked_add(gap)
            .and_then(|k| u8::try_from(k).ok());
        let id = r.varint(KEY_GROUP)?;
        match kind {
            Some(kind) if gap > 0 && id < Key::MAX_ID => Ok(Key::new(kind, id)),
            _ => Err(DecodeError::OutOfOrder),
        }
    }
}

/// The bits of each field of a key's kind (none for an unknown kind).
#[inline]
fn fields(layout: &Layout, key: Key) -> &[u8] {
    layout.kind(key.kind()).unwrap_or_default()
}

/// Why a snapshot could not be decoded; the state it was applied to is
/// unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The data ended early.
    #[error("the snapshot ended early")]
    Truncated,
    /// An entity of a kind the schema lacks.
    #[error("an entity of unknown kind {0}")]
    UnknownKind(u8),
    /// An update or removal of an entity the state lacks, or an appearance
    /// of one it has.
    #[error("the snapshot does not fit its baseline at entity {0:#x}")]
    Mismatch(u32),
    /// Keys out of order, or one beyond 32 bits.
    #[error("the snapshot's entities are out of order")]
    OutOfOrder,
}

impl From<Truncated> for DecodeError {
    fn from(_: Truncated) -> Self {
        DecodeError::Truncated
    }
}

/// What one viewer knows: the entities it received, in key order, each with
/// its fields in wire form. The fields of all entities are kept in one
/// vector, so applying a snapshot copies numbers, not an allocation per
/// entity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mirror {
    /// Each entity's key and where its fields start in `values`; they end
    /// where the next entity's start.
    keys: Vec<(Key, u32)>,
    values: Vec<u32>,
}

impl Mirror {
    /// What a viewer receiving `visible` of `frame` knows.
    pub fn of_frame(frame: &Frame, visible: &Visible) -> Mirror {
        let mut mirror = Mirror::default();
        for (_, e) in frame
            .iter()
            .enumerate()
            .filter(|(i, _)| visible.contains(*i))
        {
            mirror.push(e.key, e.fields);
        }
        mirror
    }

    fn push(&mut self, key: Key, fields: &[u32]) {
        self.keys.push((key, self.values.len() as u32));
        self.values.extend_from_slice(fields);
    }

    fn at(&self, i: usize) -> EntityRef<'_> {
        let (key, start) = self.keys[i];
        let end = self
            .keys
            .get(i + 1)
            .map_or(self.values.len(), |(_, s)| *s as usize);
        EntityRef {
            key,
            fields: &self.values[start as usize..end],
        }
    }

    /// The state after applying `bytes` (from [`write_delta`]) to this one
    /// (or to nothing, for a full snapshot: apply it to an empty mirror),
    /// ignoring its events.
    pub fn apply(&self, layout: &Layout, bytes: &[u8]) -> Result<Mirror, DecodeError> {
        self.apply_with_events(layout, bytes, &mut Vec::new())
    }

    /// [`Mirror::apply`], also appending the snapshot's events to `events`
    /// as `(sequence number, kind, fields)`.
    pub fn apply_with_events(
        &self,
        layout: &Layout,
        bytes: &[u8],
        events: &mut Vec<(u32, u8, Vec<u32>)>,
    ) -> Result<Mirror, DecodeError> {
        let mut r = BitReader::new(bytes);
        let mut out = Mirror {
            keys: Vec::with_capacity(self.keys.len() + 8),
            values: Vec::with_capacity(self.values.len() + 64),
        };
        let mut old = self.iter().peekable();
        let mut key = 0u32;
        let mut first = true;
        let mut last_mask = LastMask::default();
        loop {
            let code = r.read(2)?;
            if code == END {
                break;
            }
            let k = read_key(&mut r, Key(key), first)?;
            first = false;
            key = k.0;
            // Entities before this one are unchanged.
            while let Some(e) = old.next_if(|e| e.key < k) {
                out.push(e.key, e.fields);
            }
            let existing = old.next_if(|e| e.key == k);
            let kind = layout
                .kind(k.kind())
                .ok_or(DecodeError::UnknownKind(k.kind()))?;
            match (code, existing) {
                (APPEAR, None) => {
                    out.keys.push((k, out.values.len() as u32));
                    for bits in kind {
                        out.values.push(r.read(*bits)?);
                    }
                }
                (UPDATE, Some(e)) => {
                    let start = out.values.len();
                    out.push(k, e.fields);
                    let mask = last_mask.read(&mut r, k, kind.len())?;
                    for (n, bits) in kind.iter().enumerate() {
                        if mask & (1 << n) != 0 {
                            let v = &mut out.values[start + n];
                            *v = read_change(&mut r, *v, *bits)?;
                        }
                    }
                }
                (REMOVE, Some(_)) => {}
                _ => return Err(DecodeError::Mismatch(key)),
            }
        }
        for e in old {
            out.push(e.key, e.fields);
        }
        let mut seq = 0u32;
        while r.flag()? {
            seq = seq.wrapping_add(r.varint(KEY_GROUP)?);
            let kind = r.read(8)? as u8;
            let fields = layout.kind(kind).ok_or(DecodeError::UnknownKind(kind))?;
            let mut values = Vec::with_capacity(fields.len());
            for bits in fields {
                values.push(r.read(*bits)?);
            }
            events.push((seq, kind, values));
        }
        Ok(out)
    }

    /// How many entities.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Every entity, in key order.
    pub fn iter(&self) -> impl Iterator<Item = EntityRef<'_>> + '_ {
        (0..self.keys.len()).map(|i| self.at(i))
    }

    /// The entities of one kind, in id order.
    pub fn of_kind(&self, kind: u8) -> impl Iterator<Item = EntityRef<'_>> + '_ {
        self.iter().filter(move |e| e.key.kind() == kind)
    }

    /// The entity with `key`, if known.
    pub fn get(&self, key: Key) -> Option<EntityRef<'_>> {
        let i = self.keys.binary_search_by_key(&key, |(k, _)| *k).ok()?;
        Some(self.at(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_change_reads_back_from_its_baseline(old in any::<u32>(), new in any::<u32>(), bits in 1u8..=32) {
            let m = super::super::schema::mask(bits);
            let (old, new) = (old & m, new & m);
            let mut bytes = Vec::new();
            let mut w = BitWriter::new(&mut bytes);
            write_change(&mut w, old, new, bits);
            w.finish();
            prop_assert_eq!(read_change(&mut BitReader::new(&bytes), old, bits), Ok(new));
        }
    }

    #[test]
    fn small_moves_take_the_short_form() {
        // Eight changes of a 14-bit field: 8 × 9 bits short, 8 × 15 long.
        for (old, new, len) in [
            (100, 90, 9),
            (16_000, 15_873, 9),
            (0, 16_000, 15),
            (0, 128, 15),
        ] {
            let mut bytes = Vec::new();
            let mut w = BitWriter::new(&mut bytes);
            for _ in 0..8 {
                write_change(&mut w, old, new, 14);
            }
            w.finish();
            assert_eq!(bytes.len(), len, "{old} -> {new}");
        }
        assert_eq!(zigzag(u32::MAX, 14), 1, "-1 modulo 2^14");
        assert_eq!(unzigzag(zigzag(5, 14)), 5);
    }

    use super::super::schema::{Field, Kind, Quant, Schema};

    /// Kind 0 with three 4-bit fields, kind 1 with one.
    fn layout() -> Layout {
        let field = |name| Field::new(name, Quant::Uint { bits: 4 });
        Layout::of(&Schema {
            kinds: vec![
                Kind::new("three", vec![field("a"), field("b"), field("c")]),
                Kind::new("one", vec![field("a")]),
            ],
        })
    }

    fn frame(entities: &[(u8, u32, &[u32])]) -> Frame {
        let mut frame = Frame::default();
        for (kind, id, fields) in entities {
            frame.push(*kind, *id, fields);
        }
        frame.finish();
        frame
    }

    /// The data taking `base` to `next`, and that it decodes to `next`.
    fn delta(base: &Frame, next: &Frame) -> Vec<u8> {
        let layout = layout();
        let (all_base, all_next) = (Visible::all(base.len()), Visible::all(next.len()));
        let mut bytes = Vec::new();
        write_delta(
            &layout,
            Some((base, &all_base)),
            next,
            &all_next,
            [],
            &mut bytes,
        );
        let decoded = Mirror::of_frame(base, &all_base).apply(&layout, &bytes);
        assert_eq!(decoded, Ok(Mirror::of_frame(next, &all_next)));
        bytes
    }

    #[test]
    fn an_update_changing_the_fields_the_one_before_changed_names_them_in_one_bit() {
        let base = frame(&[(0, 1, &[0, 0, 0]), (0, 2, &[0, 0, 0]), (1, 1, &[0])]);
        // An update: 2 bits of code, 1 + 5 of key, which fields changed,
        // and 4 bits for each.
        let same = delta(
            &base,
            &frame(&[(0, 1, &[1, 1, 0]), (0, 2, &[2, 2, 0]), (1, 1, &[0])]),
        );
        let differ = delta(
            &base,
            &frame(&[(0, 1, &[1, 1, 0]), (0, 2, &[0, 2, 2]), (1, 1, &[0])]),
        );
        let one_field = delta(
            &base,
            &frame(&[(0, 1, &[0, 0, 0]), (0, 2, &[0, 0, 0]), (1, 1, &[3])]),
        );
        // 8 + (1 + 3) + 8 and 8 + 1 + 8, then the end (2) and no events
        // (1): 39 bits.
        assert_eq!(same.len(), 5);
        // The second mask in full: 42 bits.
        assert_eq!(differ.len(), 6);
        // An update of a one-field kind has no mask: 2 + 1 + 2 + 1 + 5 + 4,
        // the end and no events: 18 bits.
        assert_eq!(one_field.len(), 3);
    }

    /// Found by `fuzz/` (the `snapshot` target): a kind gap near 2^32
    /// overflowed the addition (a panic where overflow is checked, a
    /// wrapped kind where it is not).
    #[test]
    fn a_kind_gap_past_the_last_kind_is_refused_not_wrapped() {
        let layout = layout();
        let mut bytes = Vec::new();
        let mut w = BitWriter::new(&mut bytes);
        w.write(APPEAR, 2);
        w.flag(false);
        w.varint(u32::MAX, KIND_GROUP);
        w.varint(1, KEY_GROUP);
        w.finish();
        assert_eq!(
            Mirror::default().apply(&layout, &bytes),
            Err(DecodeError::OutOfOrder)
        );
        let crash = [
            0x09, 0xb4, 0x7d, 0x6e, 0x73, 0xfc, 0xff, 0x92, 0x9e, 0x74, 0x63, 0xff, 0xfe, 0xff,
            0xff, 0xff, 0xff, 0xff, 0x00,
        ];
        assert!(Mirror::default().apply(&layout, &crash).is_err());
    }

    #[test]
    fn a_repeated_mask_with_no_update_of_its_kind_before_it_is_refused() {
        let layout = layout();
        let base = frame(&[(0, 1, &[0, 0, 0]), (1, 1, &[0]), (1, 2, &[0])]);
        let state = Mirror::of_frame(&base, &Visible::all(base.len()));
        let mut bytes = Vec::new();
        let mut w = BitWriter::new(&mut bytes);
        // Update (kind 0, id 1), "the same fields as before": none came before.
        w.write(UPDATE, 2);
        w.flag(true);
        w.varint(1, KEY_GROUP);
        w.flag(true);
        w.write(END, 2);
        w.flag(false);
        w.finish();
        assert_eq!(state.apply(&layout, &bytes), Err(DecodeError::Mismatch(1)));
    }
}
