//! The node's plain TCP listener, each connection tuned as it is accepted
//! (`TCP_NODELAY`, the send buffer), and the peer's address as handlers see
//! it. The TLS listener (`tls.rs`) builds on these.

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};

/// Socket options set on every accepted connection.
pub(crate) type Tune = Box<dyn Fn(&TcpStream) + Send + Sync>;

/// A TCP listener that tunes what it accepts.
pub(crate) struct TunedTcp {
    listener: TcpListener,
    tune: Tune,
}

impl TunedTcp {
    pub(crate) fn new(listener: TcpListener, tune: Tune) -> TunedTcp {
        TunedTcp { listener, tune }
    }
}

impl Listener for TunedTcp {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own loop for a plain listener: an accept error (out of file
        // descriptors, say) waits a moment and tries again.
        let (stream, addr) = Listener::accept(&mut self.listener).await;
        (self.tune)(&stream);
        (stream, addr)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// The address a connection came from, over TCP or TLS alike.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PeerAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, TunedTcp>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, TunedTcp>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}
