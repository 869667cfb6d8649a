//! `skirmish-lag`: a loopback delay proxy, for measuring the transports
//! under latency where the kernel has no `netem` (this machine's has none).
//! Each byte or datagram is held for `--delay-ms` plus a uniform jitter of
//! up to `--jitter-ms` in each direction. A TCP stream keeps its order (a
//! chunk never leaves before the one read before it); datagrams may be
//! reordered by the jitter, as on a network. Loss is not made here but by
//! the kernel (`bench/loss.sh` drops packets with iptables in a network
//! namespace), so TCP recovers from it as it really does.
//!
//! ```text
//! skirmish-lag --tcp 127.0.0.1:9000=127.0.0.1:8080 --udp 127.0.0.1:9001=127.0.0.1:8080 \
//!   --delay-ms 25 --jitter-ms 5
//! ```

use anyhow::Context;
use clap::Parser;
use rand::RngExt as _;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

#[derive(Debug, Parser)]
#[command(name = "skirmish-lag", about)]
struct Args {
    /// `LISTEN=TARGET`: accept TCP on LISTEN and forward to TARGET.
    #[arg(long, value_parser = pair)]
    tcp: Vec<(SocketAddr, SocketAddr)>,
    /// `LISTEN=TARGET`: forward UDP from LISTEN to TARGET and back.
    #[arg(long, value_parser = pair)]
    udp: Vec<(SocketAddr, SocketAddr)>,
    /// Delay each way, in milliseconds.
    #[arg(long, default_value_t = 25.0)]
    delay_ms: f64,
    /// Up to this much more each way, uniformly, in milliseconds.
    #[arg(long, default_value_t = 0.0)]
    jitter_ms: f64,
}

fn pair(text: &str) -> Result<(SocketAddr, SocketAddr), String> {
    let (listen, target) = text.split_once('=').ok_or("expected LISTEN=TARGET")?;
    let parse = |s: &str| s.parse::<SocketAddr>().map_err(|e| format!("{s}: {e}"));
    Ok((parse(listen)?, parse(target)?))
}

/// How long one packet or chunk is held.
#[derive(Clone, Copy, Debug)]
struct Lag {
    delay: Duration,
    jitter: Duration,
}

impl Lag {
    fn hold(&self) -> Duration {
        self.delay + self.jitter.mul_f64(rand::rng().random::<f64>())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.delay_ms >= 0.0 && args.jitter_ms >= 0.0,
        "delays are not negative"
    );
    let lag = Lag {
        delay: Duration::from_secs_f64(args.delay_ms / 1000.0),
        jitter: Duration::from_secs_f64(args.jitter_ms / 1000.0),
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (listen, target) in args.tcp {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding TCP {listen}"))?;
        tasks.spawn(tcp_proxy(listener, target, lag));
    }
    for (listen, target) in args.udp {
        let socket = UdpSocket::bind(listen)
            .await
            .with_context(|| format!("binding UDP {listen}"))?;
        tasks.spawn(udp_proxy(Arc::new(socket), target, lag));
    }
    println!("ready");
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

async fn tcp_proxy(listener: TcpListener, target: SocketAddr, lag: Lag) -> anyhow::Result<()> {
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

async fn udp_proxy(socket: Arc<UdpSocket>, target: SocketAddr, lag: Lag) -> anyhow::Result<()> {
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
        let datagram = buf[..n].to_vec();
        let socket = Arc::clone(&socket);
        let hold = lag.hold();
        tokio::spawn(async move {
            tokio::time::sleep(hold).await;
            let _ = socket.send_to(&datagram, client).await;
        });
    }
}
