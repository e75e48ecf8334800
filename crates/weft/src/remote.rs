//! [`ConnectionHandle`]: write to or close a connection from any thread.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use mio::Token;

use crate::conn::ConnectionId;
use crate::reactor::{Command, Inbox, SendError};

/// A `Send + Clone` handle to one connection, usable from any thread: another connection's
/// handler, a pool job, a thread of your own.
///
/// Operations are posted to the reactor that owns the connection and run there, in the
/// order they were posted from one thread. From a handler running on that same reactor they
/// take no cross-thread trip at all (a thread-local queue, drained in the same loop turn).
/// A handle is two words and an `Arc` clone: no lock, no thread.
///
/// A handle does not keep its connection alive: once the connection closed, operations
/// through it are accepted and quietly dropped by the reactor.
#[derive(Clone)]
pub struct ConnectionHandle {
    inbox: Arc<Inbox>,
    token: Token,
    id: ConnectionId,
}

impl fmt::Debug for ConnectionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionHandle")
            .field("id", &self.id)
            .field("reactor", &self.inbox.index())
            .finish()
    }
}

/// Why bytes could not be posted to a connection; the bytes are handed back.
///
/// `Debug` does not print the payload.
pub enum WriteError {
    /// The reactor's inbox is at its capacity (see
    /// [`ServerBuilder::inbox_capacity`](crate::ServerBuilder::inbox_capacity)).
    Full(Bytes),
    /// The reactor has stopped (the server shut down).
    Closed(Bytes),
}

impl WriteError {
    /// The bytes that were not posted.
    pub fn into_inner(self) -> Bytes {
        match self {
            WriteError::Full(b) | WriteError::Closed(b) => b,
        }
    }

    /// True when the inbox was full (a retry later may succeed).
    pub fn is_full(&self) -> bool {
        matches!(self, WriteError::Full(_))
    }
}

impl fmt::Debug for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Full(b) => write!(f, "Full({} bytes)", b.len()),
            WriteError::Closed(b) => write!(f, "Closed({} bytes)", b.len()),
        }
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Full(_) => f.write_str("reactor inbox is full"),
            WriteError::Closed(_) => f.write_str("reactor has stopped"),
        }
    }
}

impl std::error::Error for WriteError {}

impl ConnectionHandle {
    pub(crate) fn new(inbox: Arc<Inbox>, token: Token, id: ConnectionId) -> Self {
        ConnectionHandle { inbox, token, id }
    }

    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// The index of the reactor that owns the connection.
    pub fn reactor_index(&self) -> usize {
        self.inbox.index()
    }

    pub(crate) fn inbox(&self) -> &Arc<Inbox> {
        &self.inbox
    }

    pub(crate) fn token(&self) -> Token {
        self.token
    }

    /// Queues pre-encoded bytes for the connection (not copied; a `Bytes` shared by many
    /// connections stays one allocation).
    pub fn write(&self, bytes: Bytes) -> Result<(), WriteError> {
        let token = self.token;
        self.inbox
            .send(Command::Write { token, bytes })
            .map_err(|e| match e {
                SendError::Full(Command::Write { bytes, .. }) => WriteError::Full(bytes),
                SendError::Closed(Command::Write { bytes, .. }) => WriteError::Closed(bytes),
                _ => unreachable!("a write command comes back as itself"),
            })
    }

    /// Closes the connection after its queued output is flushed.
    pub fn close(&self) -> bool {
        self.inbox
            .send(Command::Close {
                token: self.token,
                abort: false,
            })
            .is_ok()
    }

    /// Closes the connection now, discarding queued output.
    pub fn abort(&self) -> bool {
        self.inbox
            .send(Command::Close {
                token: self.token,
                abort: true,
            })
            .is_ok()
    }
}
