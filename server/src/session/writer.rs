//! The writer half of a connection: drains its outbox into the transport,
//! sends heartbeat pings, and gives up on a client too slow to take what it
//! is sent.

use super::Frame;
use crate::outbox::{Outbox, Outgoing};
use futures_util::{Sink, SinkExt};
use skirmish_shared::proto::close;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::info;

/// How long the close frame has to get out, behind what the socket already
/// holds, before the connection is dropped (a client found too slow, or
/// one whose socket is full when the node closes it).
const TOO_SLOW_CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Why the writer stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WriterEnd {
    /// It sent the close it was asked for, or the transport failed.
    Done,
    /// A message waited longer than the backlog time: the writer dropped
    /// what was queued and tried to send 4004; `told` if it got out.
    TooSlow { told: bool },
}

/// Drains the outbox into the transport and pings at the heartbeat
/// interval, until the outbox asks to close, the transport fails, or a
/// message has waited `backlog` without the transport taking it.
///
/// A message's wait starts when it was queued; it ends when the transport
/// has taken it: when the flush after it completes. The writer is the only
/// place that waits on the socket, so a full socket holds back only this
/// connection, never a tick or another player.
pub(super) async fn write_loop<W>(
    mut sink: W,
    outbox: Arc<Outbox>,
    heartbeat: Duration,
    backlog: Duration,
) -> WriterEnd
where
    W: Sink<Frame> + Unpin,
{
    let bytes_sent = metrics::counter!("skirmish_bytes_sent_total");
    let mut ping = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    // Pings missed while a send waited are not made up in a burst.
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // When the oldest message handed to the transport since its last
        // completed flush was queued.
        let mut waiting_since: Option<Instant> = None;
        tokio::select! {
            () = outbox.notified() => {}
            _ = ping.tick() => {
                waiting_since = Some(Instant::now());
                match within(waiting_since, backlog, sink.feed(Frame::Ping)).await {
                    Step::Done => {}
                    Step::Failed => return WriterEnd::Done,
                    Step::Late => return too_slow(&mut sink, &outbox, backlog).await,
                }
            }
        }
        while let Some((item, queued_at)) = outbox.pop_timed() {
            let frame = match item {
                Outgoing::Message(bytes) => Frame::Binary(bytes),
                Outgoing::Snapshot(bytes) => Frame::Snapshot(bytes),
                Outgoing::Close(code, reason) => {
                    // A full socket may never take it: bounded, as a close
                    // for a slow client must be (the session learns of the
                    // end from this task's).
                    let close = async {
                        sink.send(Frame::Close(code, reason)).await?;
                        sink.close().await
                    };
                    let told = matches!(
                        tokio::time::timeout(TOO_SLOW_CLOSE_GRACE, close).await,
                        Ok(Ok(()))
                    );
                    return if code == close::TOO_SLOW {
                        WriterEnd::TooSlow { told }
                    } else {
                        WriterEnd::Done
                    };
                }
            };
            let since = waiting_since.map_or(queued_at, |s| s.min(queued_at));
            waiting_since = Some(since);
            if let Frame::Binary(bytes) | Frame::Snapshot(bytes) = &frame {
                bytes_sent.increment(bytes.len() as u64);
            }
            match within(Some(since), backlog, sink.feed(frame)).await {
                Step::Done => {}
                Step::Failed => return WriterEnd::Done,
                Step::Late => return too_slow(&mut sink, &outbox, backlog).await,
            }
        }
        match within(waiting_since, backlog, sink.flush()).await {
            Step::Done => {}
            Step::Failed => return WriterEnd::Done,
            Step::Late => return too_slow(&mut sink, &outbox, backlog).await,
        }
    }
}

/// How one send or flush went.
enum Step {
    Done,
    Failed,
    /// The backlog time passed first.
    Late,
}

/// Runs a send or flush, giving up at `since + backlog` (never, without a
/// `since`: nothing is waiting).
async fn within<E>(
    since: Option<Instant>,
    backlog: Duration,
    io: impl Future<Output = Result<(), E>>,
) -> Step {
    let Some(since) = since else {
        return match io.await {
            Ok(()) => Step::Done,
            Err(_) => Step::Failed,
        };
    };
    match tokio::time::timeout_at(since + backlog, io).await {
        Ok(Ok(())) => Step::Done,
        Ok(Err(_)) => Step::Failed,
        Err(_) => Step::Late,
    }
}

/// Drops what is queued for a client that has not taken a message for the
/// backlog time, and gives the close frame a short grace to get out behind
/// what the socket holds (a client that reads again in time sees 4004; one
/// that does not loses the connection without it).
async fn too_slow<W>(sink: &mut W, outbox: &Outbox, backlog: Duration) -> WriterEnd
where
    W: Sink<Frame> + Unpin,
{
    outbox.abandon();
    metrics::counter!("skirmish_clients_too_slow_total", "why" => "backlog").increment(1);
    info!(
        backlog_s = backlog.as_secs_f32(),
        "closing a client too slow to take what it is sent"
    );
    let close = async {
        sink.send(Frame::Close(close::TOO_SLOW, "too slow")).await?;
        sink.close().await
    };
    let told = matches!(
        tokio::time::timeout(TOO_SLOW_CLOSE_GRACE, close).await,
        Ok(Ok(()))
    );
    WriterEnd::TooSlow { told }
}
