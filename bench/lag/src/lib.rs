//! The delay proxy behind `skirmish-lag` (see its `main.rs`), as a library
//! the test harness uses too: a TCP stream or UDP datagrams forwarded on
//! loopback, each chunk or datagram held for a delay plus a uniform jitter
//! in each direction, and a share of the datagrams dropped.

use rand::RngExt as _;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

/// How long one packet or chunk is held.
#[derive(Clone, Copy, Debug)]
pub struct Lag {
    /// Held at least this long.
    pub delay: Duration,
    /// Then up to this much more, uniformly.
    pub jitter: Duration,
    /// The share of datagrams dropped each way, 0 to 1 (a TCP stream loses
    /// nothing here: see `bench/loss.sh` for loss TCP recovers from).
    pub loss: f64,
}

impl Lag {
    /// How long to hold the next chunk or datagram.
    pub fn hold(&self) -> Duration {
        self.delay + self.jitter.mul_f64(rand::rng().random::<f64>())
    }

    /// Whether to drop the next datagram.
    pub fn drops(&self) -> bool {
        self.loss > 0.0 && rand::rng().random::<f64>() < self.loss
    }
}

/// Forwards every connection `listener` accepts to `target`, both ways
/// held by `lag`, until the listener fails.
pub async fn tcp_proxy(listener: TcpListener, target: SocketAddr, lag: Lag) -> anyhow::Result<()> {
    loop {
        let (client, _) = listener.accept().await?;
        tokio::spawn(async move {
            let Ok(upstream) = TcpStream::connect(target).await else {
                return;
            };
            let _ = (client.set_nodelay(true), upstream.set_nodelay(true));
            let (client_read, client_write) = client.into_split();
            let (up_read, up_write) = upstream.into_split();
            tokio::join!(
                pipe(client_read, up_write, lag),
                pipe(up_read, client_write, lag)
            );
        });
    }
}

/// Copies one direction of a stream, each chunk released in order no
/// sooner than its hold time after it was read.
async fn pipe(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin + Send + 'static,
    lag: Lag,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut last = Instant::now();
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        // In order: never before the chunk read before it.
        last = last.max(Instant::now() + lag.hold());
        if tx.send((last, buf[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Forwards datagrams from `socket` to `target` and the answers back, both
/// ways held by `lag`.
pub async fn udp_proxy(socket: Arc<UdpSocket>, target: SocketAddr, lag: Lag) -> anyhow::Result<()> {
    // One upstream socket per client address, so replies find their way.
    let upstreams: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let (n, client) = socket.recv_from(&mut buf).await?;
        let datagram = buf[..n].to_vec();
        let upstream = {
            let mut map = upstreams.lock().await;
            match map.get(&client) {
                Some(up) => Arc::clone(up),
                None => {
                    let up = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
                    up.connect(target).await?;
                    map.insert(client, Arc::clone(&up));
                    tokio::spawn(replies(Arc::clone(&up), Arc::clone(&socket), client, lag));
                    up
                }
            }
        };
        if lag.drops() {
            continue;
        }
        let hold = lag.hold();
        tokio::spawn(async move {
            tokio::time::sleep(hold).await;
            let _ = upstream.send(&datagram).await;
        });
    }
}

/// Carries the target's datagrams back to one client.
async fn replies(up: Arc<UdpSocket>, socket: Arc<UdpSocket>, client: SocketAddr, lag: Lag) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = up.recv(&mut buf).await {
        if lag.drops() {
            continue;
        }
        let datagram = buf[..n].to_vec();
        let socket = Arc::clone(&socket);
        let hold = lag.hold();
        tokio::spawn(async move {
            tokio::time::sleep(hold).await;
            let _ = socket.send_to(&datagram, client).await;
        });
    }
}
