//! The writer half of a connection: drains its outbox into the transport and
//! sends heartbeat pings.

use super::Frame;
use crate::outbox::{Outbox, Outgoing};
use futures_util::{Sink, SinkExt};
use std::sync::Arc;
use std::time::Duration;

/// Drains the outbox into the transport and pings at the heartbeat
/// interval, until the outbox asks to close or the transport fails.
pub(super) async fn write_loop<W>(mut sink: W, outbox: Arc<Outbox>, heartbeat: Duration)
where
    W: Sink<Frame> + Unpin,
{
    let bytes_sent = metrics::counter!("skirmish_bytes_sent_total");
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    loop {
        tokio::select! {
            () = outbox.notified() => {}
            _ = ping.tick() => {
                if sink.feed(Frame::Ping).await.is_err() {
                    return;
                }
            }
        }
        while let Some(item) = outbox.pop() {
            match item {
                Outgoing::Message(bytes) => {
                    bytes_sent.increment(bytes.len() as u64);
                    if sink.feed(Frame::Binary(bytes)).await.is_err() {
                        return;
                    }
                }
                Outgoing::Close(code, reason) => {
                    let _ = sink.send(Frame::Close(code, reason)).await;
                    let _ = sink.close().await;
                    return;
                }
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}
