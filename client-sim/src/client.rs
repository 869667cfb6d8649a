//! A protocol client: guest login over HTTP and one connection, WebSocket
//! or WebTransport (`wt.rs`), speaking the MessagePack protocol, counting
//! the bytes it moves.

use crate::wt::{Got, WtLink};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use skirmish_shared::codec::{decode_server, encode, read_snapshot};
use skirmish_shared::proto::{ClientMsg, ServerMsg};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use crate::error::ClientError;

/// Which transport a connection uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// WebSocket.
    #[default]
    Ws,
    /// WebTransport: inputs and snapshots as datagrams.
    Wt,
}

/// A guest session from `POST /api/session`.
#[derive(Clone, Debug, Deserialize)]
pub struct Session {
    /// Bearer token for the WebSocket.
    pub token: String,
    /// The player's id, 16 hex digits.
    pub player_id: String,
    /// The validated display name.
    pub name: String,
    /// Unix seconds when the token stops working.
    pub expires_at: u64,
}

/// Logs in as a guest at `base_url` (e.g. `http://127.0.0.1:8080`).
pub async fn login(
    http: &reqwest::Client,
    base_url: &str,
    name: &str,
) -> Result<Session, ClientError> {
    let url = format!("{}/api/session", base_url.trim_end_matches('/'));
    let response = http
        .post(url)
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .map_err(|e| ClientError::Login(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(ClientError::Login(format!("{status}: {body}")));
    }
    response
        .json()
        .await
        .map_err(|e| ClientError::Login(e.to_string()))
}

/// What [`Connection::recv`] returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Incoming {
    /// A protocol message.
    Msg(ServerMsg),
    /// The node closed the connection, with its code and reason if it sent one.
    Closed(Option<(u16, String)>),
}

/// What [`Connection::recv_lazy`] returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Lazy {
    /// A snapshot, decoded only as far as its header.
    Snapshot {
        /// Its tick.
        tick: u32,
        /// The last input applied.
        ack: u32,
        /// The whole message, for [`skirmish_shared::codec::decode_server`].
        raw: bytes::Bytes,
    },
    /// Anything else, decoded.
    Other(Incoming),
}

/// The WebSocket URL of a node's base URL.
pub fn ws_url(base_url: &str, token: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let base = base
        .strip_prefix("http://")
        .map(|rest| format!("ws://{rest}"))
        .unwrap_or_else(|| {
            base.strip_prefix("https://")
                .map(|rest| format!("wss://{rest}"))
                .unwrap_or_else(|| base.to_owned())
        });
    format!("{base}/ws?token={token}")
}

/// Buffers sized for small messages, and a frame cap well above the largest
/// snapshot: thousands of bots must fit in one process.
fn socket_config() -> WebSocketConfig {
    // Every read zero-fills the spare part of the read buffer first, so a
    // large one costs a bot (which reads 30 snapshots of ~500 bytes a
    // second) a memset of its whole size per read. 4 KiB holds several
    // snapshots; a larger frame still arrives whole, as the buffer grows to
    // fit the frame it is reading.
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

/// The transport under a [`Connection`].
#[derive(Debug)]
enum Link {
    Ws(Box<WebSocketStream<MaybeTlsStream<TcpStream>>>),
    Wt(Box<WtLink>),
}

/// What a connection read next.
enum Payload {
    Binary(bytes::Bytes),
    Closed(Option<(u16, String)>),
}

/// One open connection to a node.
#[derive(Debug)]
pub struct Connection {
    link: Link,
    /// Payload bytes received (WebSocket message bodies).
    pub bytes_down: u64,
    /// Payload bytes sent.
    pub bytes_up: u64,
    /// The current match's state, from the snapshots [`Connection::recv`]
    /// returned since its `joined`.
    replica: Option<crate::Replica>,
}

impl Connection {
    /// Opens the WebSocket with a session token.
    pub async fn connect(base_url: &str, token: &str) -> Result<Self, ClientError> {
        let url = ws_url(base_url, token);
        let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(
            url,
            Some(socket_config()),
            true,
            Some(tokio_tungstenite::Connector::Rustls(
                crate::tls::client_config(),
            )),
        )
        .await
        .map_err(|e| match e {
            tungstenite::Error::Http(response) => ClientError::Connect(format!(
                "{}: {}",
                response.status(),
                String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
            )),
            other => ClientError::Connect(other.to_string()),
        })?;
        Ok(Self::over(Link::Ws(Box::new(ws))))
    }

    /// Opens a WebTransport session with a session token, at the node's
    /// offer (`GET /api/webtransport`).
    pub async fn connect_wt(
        http: &reqwest::Client,
        base_url: &str,
        token: &str,
    ) -> Result<Self, ClientError> {
        let offer = crate::wt::offer(http, base_url).await?;
        Self::connect_offered(&offer, token).await
    }

    /// Opens a WebTransport session at an offer already read.
    pub async fn connect_offered(
        offer: &crate::wt::Offer,
        token: &str,
    ) -> Result<Self, ClientError> {
        let link = WtLink::connect(offer, token).await?;
        Ok(Self::over(Link::Wt(Box::new(link))))
    }

    /// Opens a connection over `transport`.
    pub async fn open(
        http: &reqwest::Client,
        base_url: &str,
        token: &str,
        transport: Transport,
    ) -> Result<Self, ClientError> {
        match transport {
            Transport::Ws => Self::connect(base_url, token).await,
            Transport::Wt => Self::connect_wt(http, base_url, token).await,
        }
    }

    fn over(link: Link) -> Self {
        Connection {
            replica: None,
            link,
            bytes_down: 0,
            bytes_up: 0,
        }
    }

    /// The transport in use.
    pub fn transport(&self) -> Transport {
        match self.link {
            Link::Ws(_) => Transport::Ws,
            Link::Wt(_) => Transport::Wt,
        }
    }

    /// The certificate the node presented over WebTransport (DER, the
    /// leaf); `None` over a WebSocket.
    pub fn wt_certificate(&self) -> Option<Vec<u8>> {
        match &self.link {
            Link::Ws(_) => None,
            Link::Wt(wt) => wt.certificate(),
        }
    }

    /// Sends one protocol message; over WebTransport, an input goes as a
    /// datagram and anything else on the control stream.
    pub async fn send(&mut self, msg: &ClientMsg) -> Result<(), ClientError> {
        let bytes = encode(msg);
        match &mut self.link {
            Link::Ws(_) => self.send_raw(Message::Binary(bytes.into())).await,
            Link::Wt(wt) => {
                self.bytes_up += bytes.len() as u64;
                match msg {
                    ClientMsg::Input { .. } => wt.send_datagram(&bytes).await,
                    _ => wt.send_stream(&bytes).await,
                }
            }
        }
    }

    /// Sends any WebSocket message, for tests of bad input; over
    /// WebTransport, a binary message goes on the control stream and
    /// anything else is refused.
    pub async fn send_raw(&mut self, msg: Message) -> Result<(), ClientError> {
        self.bytes_up += msg.len() as u64;
        match &mut self.link {
            Link::Ws(ws) => Ok(ws.send(msg).await?),
            Link::Wt(wt) => match msg {
                Message::Binary(bytes) => wt.send_stream(&bytes).await,
                other => Err(ClientError::Transport(format!(
                    "no WebTransport form for {other:?}"
                ))),
            },
        }
    }

    /// Over WebTransport, sends bytes as they are on the control stream
    /// (records of any kind) or as one datagram, for tests of bad input.
    pub async fn send_wt_raw(&mut self, bytes: &[u8], datagram: bool) -> Result<(), ClientError> {
        let Link::Wt(wt) = &mut self.link else {
            return Err(ClientError::Transport(
                "not a WebTransport connection".into(),
            ));
        };
        if datagram {
            wt.send_raw_datagram(bytes)
        } else {
            wt.send_record(bytes).await
        }
    }

    /// The next protocol message's bytes, or the close; pings skipped.
    async fn next_payload(&mut self) -> Result<Payload, ClientError> {
        let ws = match &mut self.link {
            Link::Ws(ws) => ws,
            Link::Wt(wt) => {
                return match wt.next().await {
                    Got::Message(bytes) => {
                        self.bytes_down += bytes.len() as u64;
                        Ok(Payload::Binary(bytes))
                    }
                    Got::Closed(close) => Ok(Payload::Closed(close)),
                    Got::Broken(e) => Err(ClientError::Decode(e)),
                };
            }
        };
        loop {
            let Some(msg) = ws.next().await else {
                return Ok(Payload::Closed(None));
            };
            match msg? {
                Message::Binary(bytes) => {
                    self.bytes_down += bytes.len() as u64;
                    return Ok(Payload::Binary(bytes));
                }
                Message::Close(frame) => {
                    return Ok(Payload::Closed(
                        frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                    ));
                }
                Message::Text(text) => {
                    return Err(ClientError::Decode(format!(
                        "unexpected text frame: {text}"
                    )));
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    /// Like [`Connection::recv`], but a snapshot comes back as its bytes,
    /// with its tick and ack read, for a [`crate::Replica`] to apply.
    pub async fn recv_lazy(&mut self) -> Result<Lazy, ClientError> {
        match self.next_payload().await? {
            Payload::Binary(bytes) => {
                if let Some(view) = read_snapshot(&bytes) {
                    let (tick, ack) = (view.tick, view.ack);
                    return Ok(Lazy::Snapshot {
                        tick,
                        ack,
                        raw: bytes,
                    });
                }
                decode_server(&bytes)
                    .map(|m| Lazy::Other(Incoming::Msg(m)))
                    .map_err(|e| ClientError::Decode(e.to_string()))
            }
            Payload::Closed(close) => Ok(Lazy::Other(Incoming::Closed(close))),
        }
    }

    /// Waits for the next protocol message or the close. Pings are answered
    /// automatically on the next read or write.
    pub async fn recv(&mut self) -> Result<Incoming, ClientError> {
        match self.next_payload().await? {
            Payload::Binary(bytes) => {
                let msg = decode_server(&bytes).map_err(|e| ClientError::Decode(e.to_string()))?;
                self.follow(&msg, &bytes)?;
                Ok(Incoming::Msg(msg))
            }
            Payload::Closed(close) => Ok(Incoming::Closed(close)),
        }
    }

    /// Keeps the match's state: a new replica on `joined`, each snapshot
    /// applied to it.
    fn follow(&mut self, msg: &ServerMsg, bytes: &[u8]) -> Result<(), ClientError> {
        match msg {
            ServerMsg::Joined { .. } => self.replica = crate::Replica::of_joined(msg),
            ServerMsg::Snapshot { .. } => {
                if let (Some(replica), Some(view)) = (self.replica.as_mut(), read_snapshot(bytes)) {
                    match replica.apply(&view) {
                        // Overtaken on the way (a datagram): dropped.
                        Ok(_) | Err(crate::ReplicaError::Stale(_)) => {}
                        Err(e) => return Err(ClientError::Decode(e.to_string())),
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The current match's state as this connection's snapshots built it
    /// (through [`Connection::recv`]); `None` before a `joined`.
    pub fn replica(&self) -> Option<&crate::Replica> {
        self.replica.as_ref()
    }

    /// The snapshot tick to acknowledge in the next input (0 for none).
    pub fn ack(&self) -> u32 {
        self.replica.as_ref().map_or(0, crate::Replica::ack)
    }

    /// Closes the connection normally (1000): the player quits, and the
    /// node frees their seat at once.
    pub async fn close(&mut self) {
        match &mut self.link {
            Link::Ws(ws) => {
                let frame = tungstenite::protocol::CloseFrame {
                    code: tungstenite::protocol::frame::coding::CloseCode::Normal,
                    reason: "bye".into(),
                };
                let _ = (**ws).close(Some(frame)).await;
            }
            Link::Wt(wt) => wt.close(1000, "bye").await,
        }
    }

    /// Drops the connection without a closing handshake, as a network
    /// failure would; the node holds the player's seat for a while.
    pub fn drop_abruptly(self) {
        drop(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_urls_follow_the_http_scheme() {
        assert_eq!(
            ws_url("http://127.0.0.1:8080/", "t"),
            "ws://127.0.0.1:8080/ws?token=t"
        );
        assert_eq!(
            ws_url("https://play.example", "t"),
            "wss://play.example/ws?token=t"
        );
    }
}
