//! Records on a byte stream: how protocol messages and the close travel on
//! WebTransport's control stream, which (unlike a WebSocket) has no message
//! boundaries and no close frame of its own (PROTOCOL.md section 3).
//!
//! A record is a 5-byte header, kind (1 byte) and payload length (`u32`,
//! big-endian), then the payload:
//!
//! - kind 0, [`MESSAGE`]: one MessagePack protocol message.
//! - kind 1, [`CLOSE`]: the sender closes: a close code (`u16`, big-endian)
//!   and a UTF-8 reason, as in a WebSocket close frame. Nothing follows it.
//!
//! [`Reader`] takes bytes as they arrive, in pieces of any size, and gives
//! back whole records, refusing a payload over its limit before buffering it.

/// A protocol message.
pub const MESSAGE: u8 = 0;
/// A close: code and reason.
pub const CLOSE: u8 = 1;
/// Header bytes before each payload.
pub const HEADER: usize = 5;

/// One record read from a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A protocol message's bytes.
    Message(Vec<u8>),
    /// The peer closed with this code and reason.
    Close(u16, String),
}

/// Why a stream's bytes are not records.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A payload longer than the reader's limit.
    #[error("a record of {len} bytes is over the limit of {max}")]
    TooLarge {
        /// The length its header gave.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A kind other than [`MESSAGE`] or [`CLOSE`].
    #[error("unknown record kind {0}")]
    UnknownKind(u8),
    /// A close payload shorter than its code, or a reason not UTF-8.
    #[error("malformed close record")]
    BadClose,
}

/// A message record.
pub fn message(payload: &[u8]) -> Vec<u8> {
    record(MESSAGE, payload)
}

/// A close record.
pub fn close(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    record(CLOSE, &payload)
}

fn record(kind: u8, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("a record payload fits in u32");
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.push(kind);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reassembles records from a stream's bytes.
#[derive(Debug)]
pub struct Reader {
    buf: Vec<u8>,
    max: usize,
}

impl Reader {
    /// A reader refusing payloads over `max` bytes.
    pub fn new(max: usize) -> Self {
        Reader {
            buf: Vec::new(),
            max,
        }
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that are not yet a whole record.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole record, if the bytes so far hold one. After an error
    /// the stream cannot be read on: its boundaries are lost.
    pub fn next_record(&mut self) -> Result<Option<Record>, FrameError> {
        let Some(header) = self.buf.get(..HEADER) else {
            return Ok(None);
        };
        let kind = header[0];
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if kind != MESSAGE && kind != CLOSE {
            return Err(FrameError::UnknownKind(kind));
        }
        if len > self.max {
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        if self.buf.len() < HEADER + len {
            return Ok(None);
        }
        let payload = self.buf[HEADER..HEADER + len].to_vec();
        self.buf.drain(..HEADER + len);
        match kind {
            MESSAGE => Ok(Some(Record::Message(payload))),
            _ => {
                let (code, reason) = payload.split_at_checked(2).ok_or(FrameError::BadClose)?;
                let code = u16::from_be_bytes([code[0], code[1]]);
                let reason =
                    String::from_utf8(reason.to_vec()).map_err(|_| FrameError::BadClose)?;
                Ok(Some(Record::Close(code, reason)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn records_have_a_kind_and_a_big_endian_length() {
        assert_eq!(message(&[0x81, 0xa1]), [0, 0, 0, 0, 2, 0x81, 0xa1]);
        assert_eq!(close(4003, "x"), [1, 0, 0, 0, 3, 0x0f, 0xa3, b'x']);
    }

    #[test]
    fn a_payload_over_the_limit_is_refused_from_its_header() {
        let mut reader = Reader::new(4);
        reader.push(&[0, 0, 0, 0, 5]);
        assert_eq!(
            reader.next_record(),
            Err(FrameError::TooLarge { len: 5, max: 4 })
        );
    }

    #[test]
    fn unknown_kinds_and_short_closes_are_errors() {
        let mut reader = Reader::new(64);
        reader.push(&[7, 0, 0, 0, 0]);
        assert_eq!(reader.next_record(), Err(FrameError::UnknownKind(7)));
        let mut reader = Reader::new(64);
        reader.push(&[1, 0, 0, 0, 1, 9]);
        assert_eq!(reader.next_record(), Err(FrameError::BadClose));
    }

    proptest! {
        /// Records cut into pieces anywhere come back whole and in order.
        #[test]
        fn records_survive_any_split(
            payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..8),
            cuts in prop::collection::vec(1usize..9, 1..64),
        ) {
            let mut bytes: Vec<u8> = payloads.iter().flat_map(|p| message(p)).collect();
            bytes.extend(close(1000, "bye"));
            let mut reader = Reader::new(64);
            let mut got = Vec::new();
            let mut rest = bytes.as_slice();
            let mut cut = cuts.iter().cycle();
            while !rest.is_empty() {
                let n = (*cut.next().expect("cycles")).min(rest.len());
                reader.push(&rest[..n]);
                rest = &rest[n..];
                while let Some(record) = reader.next_record().expect("valid") {
                    got.push(record);
                }
            }
            let mut want: Vec<Record> = payloads.into_iter().map(Record::Message).collect();
            want.push(Record::Close(1000, "bye".into()));
            prop_assert_eq!(got, want);
            prop_assert_eq!(reader.buffered(), 0);
        }
    }
}
