//! Bit-packed reading and writing: values of 1 to 32 bits, least
//! significant bit first, filling each byte from its lowest bit.

/// Appends values of any width to a byte buffer.
#[derive(Debug)]
pub struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Bits not yet in `out`, lowest first.
    acc: u64,
    /// How many bits of `acc` are in use (below 32 between writes).
    n: u32,
}

impl<'a> BitWriter<'a> {
    /// Writes after whatever `out` holds.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter { out, acc: 0, n: 0 }
    }

    /// Writes the low `bits` bits of `value` (`bits` at most 32).
    #[inline]
    pub fn write(&mut self, value: u32, bits: u8) {
        debug_assert!(bits <= 32);
        let value = u64::from(value) & ((1u64 << bits) - 1);
        self.acc |= value << self.n;
        self.n += u32::from(bits);
        // Four bytes at a time: the low 32 bits, least significant first.
        if self.n >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.n -= 32;
        }
    }

    /// Writes one bit.
    #[inline]
    pub fn flag(&mut self, on: bool) {
        self.write(u32::from(on), 1);
    }

    /// Writes `value` in a variable number of bits: groups of `group` bits,
    /// each followed by a bit saying whether another group follows. Small
    /// values cost `group + 1` bits.
    pub fn varint(&mut self, mut value: u32, group: u8) {
        loop {
            let low = value & ((1u32 << group) - 1);
            value >>= group;
            self.write(low, group);
            self.flag(value != 0);
            if value == 0 {
                return;
            }
        }
    }

    /// Writes what is left, padding the last byte with zero bits.
    pub fn finish(mut self) {
        while self.n > 0 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n = self.n.saturating_sub(8);
        }
    }
}

/// Reads what a [`BitWriter`] wrote; reading past the end is an error,
/// never a panic.
#[derive(Debug)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    /// The next bit to read, from the start.
    pos: usize,
}

/// The bytes ended before a value did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the data ended early")]
pub struct Truncated;

impl<'a> BitReader<'a> {
    /// Reads `bytes` from their first bit.
    pub fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, pos: 0 }
    }

    /// Reads a value of `bits` bits (at most 32).
    pub fn read(&mut self, bits: u8) -> Result<u32, Truncated> {
        debug_assert!(bits <= 32);
        let end = self.pos + usize::from(bits);
        if end > self.bytes.len() * 8 {
            return Err(Truncated);
        }
        let mut value: u64 = 0;
        let mut got = 0;
        while got < usize::from(bits) {
            let byte = self.bytes[self.pos / 8];
            let offset = self.pos % 8;
            let take = (8 - offset).min(usize::from(bits) - got);
            let chunk = (u64::from(byte) >> offset) & ((1u64 << take) - 1);
            value |= chunk << got;
            got += take;
            self.pos += take;
        }
        Ok(value as u32)
    }

    /// Reads one bit.
    pub fn flag(&mut self) -> Result<bool, Truncated> {
        Ok(self.read(1)? == 1)
    }

    /// Reads a [`BitWriter::varint`] written with the same `group`; a value
    /// that does not fit in 32 bits is refused as [`Truncated`] input.
    pub fn varint(&mut self, group: u8) -> Result<u32, Truncated> {
        let mut value: u64 = 0;
        let mut shift = 0u32;
        loop {
            let low = u64::from(self.read(group)?);
            value |= low << shift;
            shift += u32::from(group);
            if !self.flag()? {
                return u32::try_from(value).map_err(|_| Truncated);
            }
            if shift >= 32 {
                return Err(Truncated);
            }
        }
    }

    /// Bits not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() * 8 - self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn what_is_written_reads_back(values in vec((any::<u32>(), 0u8..=32, any::<bool>()), 0..64)) {
            let mut bytes = Vec::new();
            let mut w = BitWriter::new(&mut bytes);
            for &(v, bits, var) in &values {
                if var { w.varint(v, 4) } else { w.write(v, bits) }
            }
            w.finish();
            let mut r = BitReader::new(&bytes);
            for &(v, bits, var) in &values {
                if var {
                    prop_assert_eq!(r.varint(4), Ok(v));
                } else {
                    let want = if bits == 32 { v } else { v & ((1u32 << bits) - 1) };
                    prop_assert_eq!(r.read(bits), Ok(want));
                }
            }
            prop_assert!(r.remaining() < 8);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..32), widths in vec(0u8..=32, 0..40)) {
            let mut r = BitReader::new(&bytes);
            for bits in widths {
                let _ = r.read(bits);
                let _ = r.varint(3);
            }
        }
    }

    #[test]
    fn reading_past_the_end_is_an_error() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.read(6), Ok(0x3f));
        assert_eq!(r.read(3), Err(Truncated));
        assert_eq!(r.read(2), Ok(3));
    }
}
