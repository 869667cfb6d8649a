//! What can go wrong talking to a node, over either transport, and which
//! failures a bot counts as errors rather than disconnects.

use tokio_tungstenite::tungstenite;

/// What can go wrong talking to a node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The HTTP request failed or was refused.
    #[error("login failed: {0}")]
    Login(String),
    /// The WebSocket could not be opened (refused upgrade, network).
    #[error("connect failed: {0}")]
    Connect(String),
    /// The connection failed after opening.
    #[error("connection failed: {0}")]
    Socket(#[from] tungstenite::Error),
    /// The node sent something that is not a protocol message.
    #[error("undecodable message from the node: {0}")]
    Decode(String),
    /// A WebTransport send failed: the connection is gone.
    #[error("WebTransport: {0}")]
    Transport(String),
}

impl ClientError {
    /// The error kind a bot counts for this failure of an open connection,
    /// or `None` when the connection just went away (a reset, or a close
    /// without the handshake): that is a disconnect, counted as such.
    pub fn error_kind(&self) -> Option<&'static str> {
        use tungstenite::error::ProtocolError;
        match self {
            ClientError::Login(_) => Some("login"),
            ClientError::Connect(_) => Some("connect"),
            ClientError::Decode(_) => Some("decode"),
            ClientError::Transport(_)
            | ClientError::Socket(
                tungstenite::Error::ConnectionClosed
                | tungstenite::Error::AlreadyClosed
                | tungstenite::Error::Io(_)
                | tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake),
            ) => None,
            ClientError::Socket(_) => Some("socket"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_connections_are_disconnects_and_broken_ones_errors() {
        use tungstenite::error::{CapacityError, ProtocolError};
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        for dropped in [
            tungstenite::Error::ConnectionClosed,
            tungstenite::Error::Io(reset),
            tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake),
        ] {
            assert_eq!(ClientError::Socket(dropped).error_kind(), None);
        }
        let broken = tungstenite::Error::Capacity(CapacityError::MessageTooLong {
            size: 2,
            max_size: 1,
        });
        assert_eq!(ClientError::Socket(broken).error_kind(), Some("socket"));
        assert_eq!(ClientError::Decode("x".into()).error_kind(), Some("decode"));
    }
}
