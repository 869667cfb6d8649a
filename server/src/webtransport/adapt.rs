//! One WebTransport session as the transport-neutral halves a session runs
//! on ([`Inbound`] in, [`Frame`] out), as `http.rs` adapts a WebSocket.
//!
//! - The control stream (the bidirectional stream the node opens) carries
//!   records (`skirmish_shared::stream_frame`): messages both ways, and the
//!   close with its code and reason, which WebTransport has no frame for.
//! - Everything a client sends is `Inbound::Unordered`: its inputs may
//!   come on either path, so a newer one may overtake an older one.
//! - Datagrams carry one message each: a client's inputs, and the node's
//!   snapshots when they fit the connection's datagram size (else they go
//!   on the stream, and `skirmish_wt_snapshots_on_stream_total` counts them).
//! - Liveness: QUIC keeps the connection alive (the node sends keep-alives
//!   at the heartbeat interval), so a heartbeat [`Frame::Ping`] sends
//!   nothing; instead, each heartbeat interval in which packets arrived from
//!   the client is [`Inbound::Control`], as a pong is on a WebSocket.

use crate::session::{Frame, Inbound};
use bytes::Bytes;
use futures_util::{Sink, Stream, StreamExt, stream};
use skirmish_shared::stream_frame::{self, FrameError, Reader, Record};
use std::time::Duration;
use wtransport::error::SendDatagramError;
use wtransport::{Connection, RecvStream, SendStream, VarInt};

/// How long the node waits for a client to close the session after the
/// node's close record, before closing it itself.
const CLOSE_ANSWER: Duration = Duration::from_millis(500);

/// Why sending failed: the connection is gone.
#[derive(Debug)]
pub(super) struct Gone;

/// Splits a WebTransport session and its control stream into the session's
/// halves. `max` is the largest message a client may send.
pub(super) fn adapt(
    conn: Connection,
    send: SendStream,
    recv: RecvStream,
    max: usize,
    heartbeat: Duration,
) -> (
    impl Sink<Frame, Error = Gone> + Unpin + Send + 'static,
    impl Stream<Item = Inbound> + Unpin + Send,
) {
    let sink = Box::pin(futures_util::sink::unfold(
        Out {
            conn: conn.clone(),
            send,
            on_stream: metrics::counter!("skirmish_wt_snapshots_on_stream_total"),
        },
        |mut out, frame: Frame| async move {
            out.send(frame).await?;
            Ok::<_, Gone>(out)
        },
    ));
    let inbound = stream::select_all([
        records(recv, max).boxed(),
        datagrams(conn.clone(), max).boxed(),
        liveness(conn, heartbeat).boxed(),
    ]);
    // The first `Closed` (or broken stream) ends the whole stream.
    let inbound = inbound
        .scan(false, |ended, item| {
            if *ended {
                return futures_util::future::ready(None);
            }
            *ended = matches!(
                item,
                Inbound::Closed(_) | Inbound::TooLarge | Inbound::Malformed
            );
            futures_util::future::ready(Some(item))
        })
        .boxed();
    (sink, inbound)
}

/// The sending half.
struct Out {
    conn: Connection,
    send: SendStream,
    on_stream: metrics::Counter,
}

impl Out {
    async fn send(&mut self, frame: Frame) -> Result<(), Gone> {
        match frame {
            Frame::Binary(bytes) => self.record(&stream_frame::message(&bytes)).await,
            Frame::Snapshot(bytes) => self.snapshot(bytes).await,
            Frame::Ping => Ok(()),
            Frame::Close(code, reason) => {
                self.record(&stream_frame::close(code, reason)).await?;
                // Completes when the client has acknowledged the close
                // record: closing the connection before would discard it.
                // The writer bounds how long all this may take.
                let _ = self.send.finish().await;
                // Then the client closes, once it has read the record (a
                // browser drops what it has not read when the session
                // ends), as a WebSocket client answers a close frame.
                let _ = tokio::time::timeout(CLOSE_ANSWER, self.conn.closed()).await;
                self.conn
                    .close(VarInt::from_u32(code.into()), reason.as_bytes());
                Ok(())
            }
        }
    }

    async fn record(&mut self, bytes: &[u8]) -> Result<(), Gone> {
        self.send.write_all(bytes).await.map_err(|_| Gone)
    }

    async fn snapshot(&mut self, bytes: Bytes) -> Result<(), Gone> {
        let fits = self
            .conn
            .max_datagram_size()
            .is_some_and(|max| bytes.len() <= max);
        if fits {
            match self.conn.send_datagram(&bytes) {
                Ok(()) => return Ok(()),
                Err(SendDatagramError::NotConnected) => return Err(Gone),
                // The path's datagram size shrank since it was read: the
                // stream takes it.
                Err(SendDatagramError::TooLarge | SendDatagramError::UnsupportedByPeer) => {}
            }
        }
        self.on_stream.increment(1);
        self.record(&stream_frame::message(&bytes)).await
    }
}

/// The control stream's records from the client.
fn records(recv: RecvStream, max: usize) -> impl Stream<Item = Inbound> + Send {
    let state = (recv, Reader::new(max), vec![0u8; 4096]);
    stream::unfold(Some(state), |state| async move {
        let (mut recv, mut reader, mut buf) = state?;
        loop {
            match reader.next_record() {
                // Unordered too: an input that went on the stream may be
                // overtaken by a newer one sent as a datagram.
                Ok(Some(Record::Message(bytes))) => {
                    return Some((Inbound::Unordered(bytes.into()), Some((recv, reader, buf))));
                }
                Ok(Some(Record::Close(code, _))) => {
                    return Some((Inbound::Closed(Some(code)), None));
                }
                Err(FrameError::TooLarge { .. }) => return Some((Inbound::TooLarge, None)),
                Err(FrameError::UnknownKind(_) | FrameError::BadClose) => {
                    return Some((Inbound::Malformed, None));
                }
                Ok(None) => {}
            }
            match recv.read(&mut buf).await {
                Ok(Some(n)) => reader.push(&buf[..n]),
                // The client finished its side, or the connection went.
                Ok(None) | Err(_) => return Some((Inbound::Closed(None), None)),
            }
        }
    })
}

/// The client's datagrams, one message each; they end quietly with the
/// connection.
fn datagrams(conn: Connection, max: usize) -> impl Stream<Item = Inbound> + Send {
    stream::unfold(Some(conn), move |conn| async move {
        let conn = conn?;
        match conn.receive_datagram().await {
            Ok(datagram) if datagram.payload().len() > max => Some((Inbound::TooLarge, None)),
            Ok(datagram) => {
                let payload = Bytes::copy_from_slice(&datagram.payload());
                Some((Inbound::Unordered(payload), Some(conn)))
            }
            // The connection is gone: the control stream says so (after
            // the client's close record, if it sent one).
            Err(_) => None,
        }
    })
}

/// One [`Inbound::Control`] per heartbeat interval in which packets came
/// from the client; nothing while none do (the session's idle timeout then
/// closes it, or QUIC's idle timeout ends the connection first).
fn liveness(conn: Connection, heartbeat: Duration) -> impl Stream<Item = Inbound> + Send {
    let received = |conn: &Connection| conn.quic_connection().stats().udp_rx.datagrams;
    let seen = received(&conn);
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    stream::unfold(
        (conn, seen, interval),
        move |(conn, mut seen, mut interval)| async move {
            loop {
                interval.tick().await;
                let now = received(&conn);
                if now > seen {
                    seen = now;
                    return Some((Inbound::Control, (conn, seen, interval)));
                }
            }
        },
    )
}
