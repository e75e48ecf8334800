//! [`ConnectionHandle`]: write to or close a connection from any thread.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use mio::Token;

use crate::id::ConnectionId;
use crate::inbox::{note_post, CloseHow, Command, Inbox};
use crate::shared::{posted_cost, Admission, ConnShared};

/// A `Send + Clone` handle to one connection, usable from any thread: another connection's
/// handler, a pool job, a thread of your own.
///
/// Operations are posted to the reactor that owns the connection and run there, in the
/// order they were posted from one thread. From a handler running on that same reactor they
/// take no cross-thread trip at all (a thread-local queue, drained in the same loop turn).
/// A handle is two words and an `Arc` clone: no lock, no thread.
///
/// # Limits
///
/// Bytes written through a handle count against the connection's output limit from the
/// moment they are posted (see `docs/flow-control.md`): a write that would pass it is
/// refused with [`WriteError::Full`], which hands the bytes back, so the sender decides
/// whether to retry later, drop the connection ([`abort`](ConnectionHandle::abort)) or
/// slow down. Nothing posted is ever dropped on the way.
///
/// A handle does not keep its connection alive: once the connection has closed, writes
/// through it fail with [`WriteError::Closed`].
///
/// # Example
///
/// Each connection hands its handle to the program, which writes to it from its own
/// thread:
///
/// ```
/// use std::io::{BufRead, BufReader};
/// use std::net::TcpStream;
/// use std::sync::mpsc;
/// use std::time::Duration;
/// use weft::codec::LineCodec;
/// use weft::{Bytes, ConnectionHandle, Context, Handler, Pipeline, Server};
///
/// struct Register(mpsc::Sender<ConnectionHandle>);
///
/// impl Handler for Register {
///     type In<'a> = &'a [u8];
///     type Out<'a> = &'a [u8];
///     fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
///         let _ = self.0.send(ctx.handle());
///     }
///     fn on_message(&mut self, _ctx: &mut Context<'_, Self>, _line: &[u8]) {}
/// }
///
/// let (handles, registered) = mpsc::channel();
/// let server = Server::builder()
///     .addr("127.0.0.1:0")
///     .pipeline(move || Pipeline::new(LineCodec::new(1024), Register(handles.clone())))
///     .bind()?;
///
/// let client = TcpStream::connect(server.local_addr())?;
/// client.set_read_timeout(Some(Duration::from_secs(5)))?;
/// let handle = registered.recv_timeout(Duration::from_secs(5))?;
///
/// // This thread is not a reactor: the write is posted to the connection's reactor.
/// handle.write(Bytes::from_static(b"pushed\n")).expect("open, and under its limit");
/// let mut line = String::new();
/// BufReader::new(&client).read_line(&mut line)?;
/// assert_eq!(line, "pushed\n");
///
/// assert!(handle.close()); // graceful: after what was queued
/// server.shutdown(Duration::from_secs(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ConnectionHandle {
    inbox: Arc<Inbox>,
    token: Token,
    id: ConnectionId,
    shared: Arc<ConnShared>,
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
    /// The bytes would take the connection's queued output past its output limit (see
    /// [`ServerBuilder::output_limit`](crate::ServerBuilder::output_limit)): its peer is not
    /// reading fast enough. A retry once it has drained may succeed.
    Full(Bytes),
    /// The connection has closed, or its reactor has stopped.
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
            WriteError::Full(_) => f.write_str("connection output limit reached"),
            WriteError::Closed(_) => f.write_str("connection closed"),
        }
    }
}

impl std::error::Error for WriteError {}

impl ConnectionHandle {
    pub(crate) fn new(
        inbox: Arc<Inbox>,
        token: Token,
        id: ConnectionId,
        shared: Arc<ConnShared>,
    ) -> Self {
        ConnectionHandle {
            inbox,
            token,
            id,
            shared,
        }
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

    pub(crate) fn shared(&self) -> &ConnShared {
        &self.shared
    }

    /// Queues pre-encoded bytes for the connection (not copied; a `Bytes` shared by many
    /// connections stays one allocation). Fails, handing the bytes back, when they would
    /// pass the connection's output limit or the connection has closed.
    pub fn write(&self, bytes: Bytes) -> Result<(), WriteError> {
        match self.shared.admit(posted_cost(bytes.len())) {
            Admission::Admitted => {}
            Admission::Full => return Err(WriteError::Full(bytes)),
            Admission::Closed => return Err(WriteError::Closed(bytes)),
        }
        let token = self.token;
        self.inbox
            .send(Command::Write { token, bytes })
            .map_err(|stopped| match stopped.0 {
                Command::Write { bytes, .. } => WriteError::Closed(bytes),
                _ => unreachable!("a write command comes back as itself"),
            })?;
        note_post(&self.inbox);
        Ok(())
    }

    /// True while the connection is open (it may close at any moment after).
    pub fn is_open(&self) -> bool {
        !self.shared.is_closed()
    }

    /// Closes the connection after its queued output is flushed. False if it had closed
    /// already.
    pub fn close(&self) -> bool {
        self.send_close(CloseHow::Graceful)
    }

    /// Closes the connection now, discarding queued output. False if it had closed already.
    pub fn abort(&self) -> bool {
        self.send_close(CloseHow::Abort)
    }

    pub(crate) fn send_close(&self, how: CloseHow) -> bool {
        !self.shared.is_closed()
            && self
                .inbox
                .send(Command::Close {
                    token: self.token,
                    how,
                })
                .is_ok()
    }
}
