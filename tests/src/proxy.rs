//! A TCP proxy in front of a node whose connections a test can cut at
//! once, as a network failure would: the bot on one side and the node on
//! the other both see their connection drop without a WebSocket close.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// A proxy forwarding every connection to one target.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    cut: broadcast::Sender<()>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on an ephemeral port and forwards to `target`.
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (cut, _) = broadcast::channel(4);
        let cuts = cut.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.recv() => {}
                    }
                    // Dropping both sockets here is the cut.
                });
            }
        });
        TcpProxy { addr, cut, task }
    }

    /// `http://addr` of the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drops every connection open through the proxy now.
    pub fn cut_all(&self) {
        let _ = self.cut.send(());
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `skirmish-lag`'s delay proxy in front of a node, in this process: over
/// TCP ([`LagProxy::start`]) every chunk is held for a delay plus a jitter
/// each way, as a long network path would (loss it cannot make: TCP would
/// resend it as a delay anyway, and `bench/loss.sh` drops packets in the
/// kernel); over UDP ([`LagProxy::start_udp`], in front of WebTransport)
/// every datagram is, QUIC's stream packets too, and a share is dropped.
#[derive(Debug)]
pub struct LagProxy {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl LagProxy {
    /// Listens on an ephemeral TCP port and forwards to `target`, holding
    /// each chunk `one_way` plus up to `jitter` in each direction: a round
    /// trip of twice `one_way` and more.
    pub async fn start(target: SocketAddr, one_way: Duration, jitter: Duration) -> LagProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let lag = skirmish_lag::Lag {
            delay: one_way,
            jitter,
            loss: 0.0,
        };
        let task = tokio::spawn(async move {
            let _ = skirmish_lag::tcp_proxy(listener, target, lag).await;
        });
        LagProxy { addr, task }
    }

    /// Listens on an ephemeral UDP port and forwards to `target`, holding
    /// each datagram as [`LagProxy::start`] does a chunk and dropping
    /// `loss` of them (0 to 1) each way.
    pub async fn start_udp(
        target: SocketAddr,
        one_way: Duration,
        jitter: Duration,
        loss: f64,
    ) -> LagProxy {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = socket.local_addr().expect("proxy address");
        let lag = skirmish_lag::Lag {
            delay: one_way,
            jitter,
            loss,
        };
        let task = tokio::spawn(async move {
            let _ = skirmish_lag::udp_proxy(std::sync::Arc::new(socket), target, lag).await;
        });
        LagProxy { addr, task }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr` of the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for LagProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
