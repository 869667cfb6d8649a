//! A WebTransport connection to a node, as PROTOCOL.md section 3 lays it
//! out: `GET /api/webtransport` for the URL and certificate hashes, the
//! session at `/wt?token=…`, the control stream the node opens (records of
//! `skirmish_shared::stream_frame`), and datagrams for inputs and snapshots.

use crate::error::ClientError;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};
use serde::Deserialize;
use skirmish_shared::stream_frame::{self, Reader, Record};
use std::time::Duration;
use wtransport::endpoint::endpoint_side;
use wtransport::tls::Sha256Digest;
use wtransport::{ClientConfig, Connection, Endpoint, RecvStream, SendStream, VarInt};

/// The largest record the node may send on the control stream: well above
/// any message it sends (a room's members, a page of a board).
const MAX_RECORD: usize = 1 << 20;

/// How long opening the connection and its control stream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET /api/webtransport`'s answer.
#[derive(Debug, Deserialize)]
pub struct Offer {
    /// Where to open the session (add `?token=`); `None` when the node
    /// does not serve WebTransport.
    pub url: Option<String>,
    /// Hashes of the certificates to accept, when they are self-signed.
    pub certificate_hashes: Vec<OfferedHash>,
}

/// One certificate hash.
#[derive(Debug, Deserialize)]
pub struct OfferedHash {
    /// `sha-256`.
    pub algorithm: String,
    /// The hash, base64.
    pub value: String,
}

/// What the link delivers.
#[derive(Debug)]
pub(crate) enum Got {
    /// One protocol message, from the stream or a datagram.
    Message(Bytes),
    /// The node closed, with a code and reason if it sent its close record.
    Closed(Option<(u16, String)>),
    /// The stream broke (a record the protocol does not have).
    Broken(String),
}

/// An open WebTransport session and its control stream.
pub(crate) struct WtLink {
    conn: Connection,
    send: SendStream,
    inbound: BoxStream<'static, Got>,
    /// Keeps the client's UDP socket open.
    _endpoint: Endpoint<endpoint_side::Client>,
}

impl std::fmt::Debug for WtLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WtLink")
            .field("remote", &self.conn.remote_address())
            .finish_non_exhaustive()
    }
}

/// Asks a node where its WebTransport is.
pub async fn offer(http: &reqwest::Client, base_url: &str) -> Result<Offer, ClientError> {
    let url = format!("{}/api/webtransport", base_url.trim_end_matches('/'));
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| ClientError::Connect(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(ClientError::Connect(format!("{status}: {body}")));
    }
    response
        .json()
        .await
        .map_err(|e| ClientError::Connect(e.to_string()))
}

impl WtLink {
    /// The leaf certificate the node presented, DER.
    pub(crate) fn certificate(&self) -> Option<Vec<u8>> {
        let chain = self.conn.peer_identity()?;
        Some(chain.as_slice().first()?.der().to_vec())
    }

    /// Opens a session at `offer` with a session token, and waits for the
    /// control stream (it opens with `welcome`).
    pub(crate) async fn connect(offer: &Offer, token: &str) -> Result<Self, ClientError> {
        let connect = |e: &dyn std::fmt::Display| ClientError::Connect(e.to_string());
        let config = client_config(offer)?;
        let endpoint = Endpoint::client(config).map_err(|e| connect(&e))?;
        let Some(url) = &offer.url else {
            return Err(ClientError::Connect(
                "the node does not offer WebTransport".into(),
            ));
        };
        let url = format!("{url}?token={token}");
        let opening = async {
            let conn = endpoint.connect(url).await.map_err(|e| connect(&e))?;
            let (send, recv) = conn.accept_bi().await.map_err(|e| connect(&e))?;
            Ok::<_, ClientError>((conn, send, recv))
        };
        let (conn, send, recv) = tokio::time::timeout(CONNECT_TIMEOUT, opening)
            .await
            .map_err(|_| ClientError::Connect("WebTransport connect timed out".into()))??;
        let inbound = stream::select(records(recv), datagrams(conn.clone())).boxed();
        Ok(WtLink {
            conn,
            send,
            inbound,
            _endpoint: endpoint,
        })
    }

    /// Sends a message on the control stream.
    pub(crate) async fn send_stream(&mut self, msg: &[u8]) -> Result<(), ClientError> {
        self.send_record(&stream_frame::message(msg)).await
    }

    /// Sends raw bytes on the control stream, for tests of bad input.
    pub(crate) async fn send_record(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.send
            .write_all(bytes)
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))
    }

    /// Sends a message as a datagram, or on the stream when it does not fit.
    pub(crate) async fn send_datagram(&mut self, msg: &[u8]) -> Result<(), ClientError> {
        let fits = self
            .conn
            .max_datagram_size()
            .is_some_and(|max| msg.len() <= max);
        if fits && self.conn.send_datagram(msg).is_ok() {
            return Ok(());
        }
        self.send_stream(msg).await
    }

    /// Sends bytes as one datagram, whatever they are, for tests.
    pub(crate) fn send_raw_datagram(&self, bytes: &[u8]) -> Result<(), ClientError> {
        self.conn
            .send_datagram(bytes)
            .map_err(|e| ClientError::Transport(e.to_string()))
    }

    /// The next message, or the end.
    pub(crate) async fn next(&mut self) -> Got {
        let got = self.inbound.next().await.unwrap_or(Got::Closed(None));
        if !matches!(got, Got::Message(_)) {
            // Done reading: the node waits for this before it closes.
            self.conn.close(VarInt::from_u32(0), b"");
        }
        got
    }

    /// Closes with a code: the close record, then the connection once the
    /// node has it.
    pub(crate) async fn close(&mut self, code: u16, reason: &str) {
        let _ = self.send_record(&stream_frame::close(code, reason)).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.send.finish()).await;
        self.conn
            .close(VarInt::from_u32(code.into()), reason.as_bytes());
    }
}

/// Accepts the offered hashes, or (none offered) a certificate the system
/// or `--ca-cert` trusts.
fn client_config(offer: &Offer) -> Result<ClientConfig, ClientError> {
    let builder = ClientConfig::builder().with_bind_default();
    if offer.certificate_hashes.is_empty() {
        let mut tls = (*crate::tls::client_config()).clone();
        tls.alpn_protocols = vec![wtransport::tls::WEBTRANSPORT_ALPN.to_vec()];
        return Ok(builder.with_custom_tls(tls).build());
    }
    let hashes = offer
        .certificate_hashes
        .iter()
        .map(|hash| {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&hash.value)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .filter(|_| hash.algorithm == "sha-256")
                .ok_or_else(|| ClientError::Connect(format!("bad certificate hash {hash:?}")))?;
            Ok(Sha256Digest::new(bytes))
        })
        .collect::<Result<Vec<_>, ClientError>>()?;
    Ok(builder.with_server_certificate_hashes(hashes).build())
}

/// The control stream's records.
fn records(recv: RecvStream) -> BoxStream<'static, Got> {
    let state = (recv, Reader::new(MAX_RECORD), vec![0u8; 16 * 1024]);
    stream::unfold(Some(state), |state| async move {
        let (mut recv, mut reader, mut buf) = state?;
        loop {
            match reader.next_record() {
                Ok(Some(Record::Message(bytes))) => {
                    return Some((Got::Message(bytes.into()), Some((recv, reader, buf))));
                }
                Ok(Some(Record::Close(code, reason))) => {
                    return Some((Got::Closed(Some((code, reason))), None));
                }
                Err(e) => return Some((Got::Broken(e.to_string()), None)),
                Ok(None) => {}
            }
            match recv.read(&mut buf).await {
                Ok(Some(n)) => reader.push(&buf[..n]),
                Ok(None) | Err(_) => return Some((Got::Closed(None), None)),
            }
        }
    })
    .boxed()
}

/// The node's datagrams. They end quietly with the connection: the stream
/// says how it ended.
fn datagrams(conn: Connection) -> BoxStream<'static, Got> {
    stream::unfold(conn, |conn| async move {
        let datagram = conn.receive_datagram().await.ok()?;
        let payload = Bytes::copy_from_slice(&datagram.payload());
        Some((Got::Message(payload), conn))
    })
    .boxed()
}
