//! [`EmbeddedPipeline`]: drive a pipeline without a socket, for tests (feature `test-util`).
//!
//! ```
//! use std::time::Duration;
//! use weft::codec::LineCodec;
//! use weft::testing::EmbeddedPipeline;
//! use weft::{CloseReason, Context, Handler, Idle, IdleTimeouts, Pipeline, Server};
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     type In<'a> = &'a [u8];
//!     type Out<'a> = &'a [u8];
//!     fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
//!         ctx.write(line);
//!     }
//!     fn on_idle(&mut self, ctx: &mut Context<'_, Self>, _idle: Idle) {
//!         ctx.close();
//!     }
//! }
//!
//! let config = Server::builder().idle_timeouts(IdleTimeouts {
//!     read: Some(Duration::from_secs(30)),
//!     ..IdleTimeouts::default()
//! });
//! let mut pipe = EmbeddedPipeline::with_config(config, Pipeline::new(LineCodec::new(64), Echo));
//! pipe.push(b"hel");
//! pipe.push(b"lo\nworld\n");
//! assert_eq!(pipe.take_written(), &b"hello\nworld\n"[..]);
//!
//! pipe.advance(Duration::from_secs(31)); // the idle timer fires: the handler closes
//! pipe.push_eof(); // the peer answers our FIN with its own
//! assert_eq!(pipe.close_reason(), Some(CloseReason::Closed));
//! ```
//!
//! Everything runs on the calling thread, through the same connection code as a real
//! server: decoding, dispatch, panics, watermarks, half-close, lingering close, timers
//! (on a virtual clock) and offload continuations (the jobs run when you call
//! [`run_offloaded`](EmbeddedPipeline::run_offloaded)). Use one embedded pipeline (or
//! reactor) per thread at a time.
//!
//! For logic that spans connections (groups, broadcasts, writes through another
//! connection's handle), [`EmbeddedReactor`] holds several embedded connections with
//! distinct [`ConnectionId`]s on one virtual reactor, and routes what they send each other
//! through the same dispatcher as a real reactor.

mod ca;

pub use ca::TestCa;

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use crossbeam_channel::Receiver;
use mio::{Poll, Token, Waker};
use weft_codec::{Decoder, Encoder};

use crate::admission::Admission;
use crate::clock::Moment;
use crate::conn::{Connection, Io, MemoryIo};
use crate::error::CloseReason;
use crate::id::ConnectionId;
use crate::inbox::{install_local, take_local, uninstall_local, Command, Inbox};
use crate::metrics::Metrics;
use crate::pipeline::{Handler, Pipeline, Stage};
use crate::pool::Job;
use crate::reactor::dispatch::{run_command, Connections};
use crate::reactor::WAKER;
use crate::server::ServerBuilder;
use crate::services::ReactorCore;

/// Rounds of internal work (commands, ready list, flushes) one call may take before it
/// stops: a handler that keeps re-scheduling itself cannot hang a test.
const MAX_ROUNDS: usize = 10_000;

/// A pipeline on an in-memory connection: push bytes in, read what it wrote, flip
/// writability, advance a virtual clock, see the close and its reason.
///
/// ```
/// use weft::codec::{line::Terminator, LineCodec};
/// use weft::testing::EmbeddedPipeline;
/// use weft::{CloseReason, Context, Handler, Pipeline};
///
/// struct Quit;
///
/// impl Handler for Quit {
///     type In<'a> = &'a [u8];
///     type Out<'a> = &'a [u8];
///     fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
///         if &line[..] == b"quit" {
///             ctx.write(b"bye\n");
///             ctx.close();
///         } else {
///             ctx.write(b"?\n");
///         }
///     }
/// }
///
/// let codec = LineCodec::new(64).terminator(Terminator::Strip);
/// let mut pipe = EmbeddedPipeline::new(Pipeline::new(codec, Quit));
/// pipe.push(b"hello\nqu"); // a line and a half
/// assert_eq!(&pipe.take_written()[..], b"?\n");
/// pipe.push(b"it\n");
/// assert_eq!(&pipe.take_written()[..], b"bye\n");
/// assert!(pipe.fin_sent() && !pipe.is_closed()); // waiting for the peer's end of stream
/// pipe.push_eof();
/// assert_eq!(pipe.close_reason(), Some(CloseReason::Closed));
/// ```
pub struct EmbeddedPipeline<C, S, H> {
    reactor: EmbeddedReactor<C, S, H>,
    id: ConnectionId,
}

impl<C, S, H> fmt::Debug for EmbeddedPipeline<C, S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let closed = self.reactor.slots.first().and_then(|s| s.closed);
        f.debug_struct("EmbeddedPipeline")
            .field("id", &self.id)
            .field("closed", &closed)
            .finish_non_exhaustive()
    }
}

impl<C, S, H> EmbeddedPipeline<C, S, H>
where
    C: Decoder + for<'m> Encoder<H::Out<'m>> + 'static,
    S: for<'m> Stage<In<'m> = C::Item<'m>, Fwd<'m> = H::In<'m>>,
    H: Handler,
{
    /// An active connection with the default server settings; `on_active` has run.
    pub fn new(pipeline: Pipeline<C, S, H>) -> Self {
        Self::with_config(ServerBuilder::new(), pipeline)
    }

    /// An active connection with the settings of `config` (watermarks, idle timeouts,
    /// close timeout, pool queue, …).
    ///
    /// # Panics
    ///
    /// If `config` would make [`ServerBuilder::bind`] fail (a setting of 0, say).
    pub fn with_config(config: ServerBuilder<()>, pipeline: Pipeline<C, S, H>) -> Self {
        let mut reactor = EmbeddedReactor::with_config(config);
        let id = reactor.add(pipeline);
        EmbeddedPipeline { reactor, id }
    }

    /// Bytes from the peer, delivered as one read batch (push in several calls to split
    /// them anywhere).
    pub fn push(&mut self, bytes: impl AsRef<[u8]>) {
        self.reactor.push(self.id, bytes);
    }

    /// The peer shuts down its sending side (end of stream).
    pub fn push_eof(&mut self) {
        self.reactor.push_eof(self.id);
    }

    /// Everything the pipeline has written (and flushed) since the last call.
    pub fn take_written(&mut self) -> Bytes {
        self.reactor.take_written(self.id)
    }

    /// Whether the peer is reading. While it is not, writes stay queued in the connection,
    /// so the watermarks, writability events and automatic read pause behave as with a
    /// peer that stopped reading. Setting it back flushes.
    pub fn set_peer_reading(&mut self, reading: bool) {
        self.reactor.set_peer_reading(self.id, reading);
    }

    /// Advances the virtual clock by `by`, firing every timer due by then (idle checks,
    /// scheduled tasks, close deadlines) in deadline order.
    pub fn advance(&mut self, by: Duration) {
        self.reactor.advance(by);
    }

    /// Runs every offloaded job queued so far on this thread, then their continuations.
    /// Returns how many jobs ran.
    pub fn run_offloaded(&mut self) -> usize {
        self.reactor.run_offloaded()
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.reactor.close_reason(self.id)
    }

    /// True once the connection has closed (`on_inactive` has run).
    pub fn is_closed(&self) -> bool {
        self.reactor.is_closed(self.id)
    }

    /// True once the connection sent its FIN (the peer would see end of stream).
    pub fn fin_sent(&self) -> bool {
        self.reactor.fin_sent(self.id)
    }

    /// Bytes queued but not taken by the peer.
    pub fn pending_bytes(&self) -> usize {
        self.reactor.pending_bytes(self.id)
    }

    /// The connection's writability (see the watermarks).
    pub fn is_writable(&self) -> bool {
        self.reactor.is_writable(self.id)
    }
}

/// Several embedded connections on one virtual reactor, for logic that spans connections:
/// groups, broadcasts, writes and closes through [`ConnectionHandle`](crate::ConnectionHandle)s.
///
/// Each connection [`add`](EmbeddedReactor::add)ed gets its own [`ConnectionId`] (1, 2, 3,
/// … in order) and peer address; what one connection's handler sends another (a group
/// broadcast, a handle's write or close, a continuation) goes through the same command
/// dispatcher as on a real reactor, so a broadcast reaches every member but the ones it
/// excludes, in order. The methods of [`EmbeddedPipeline`] are here too, taking the id of
/// the connection they act on; the clock and the pool are shared.
///
/// ```
/// use std::sync::Arc;
/// use weft::codec::LineCodec;
/// use weft::testing::EmbeddedReactor;
/// use weft::{Bytes, Context, Group, Handler, Pipeline};
///
/// /// Sends every line to everyone else in the room.
/// struct Relay(Arc<Group>);
///
/// impl Handler for Relay {
///     type In<'a> = &'a [u8];
///     type Out<'a> = &'a [u8];
///     fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
///         ctx.join_group(&self.0);
///     }
///     fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
///         // One copy of the lent line, shared by every member it goes to.
///         self.0.broadcast_except(Bytes::copy_from_slice(line), ctx.id());
///     }
/// }
///
/// let room = Arc::new(Group::new());
/// let mut reactor = EmbeddedReactor::new();
/// let a = reactor.add(Pipeline::new(LineCodec::new(64), Relay(room.clone())));
/// let b = reactor.add(Pipeline::new(LineCodec::new(64), Relay(room.clone())));
/// assert_ne!(a, b);
/// assert_eq!(room.len(), 2);
///
/// reactor.push(a, b"hello\n");
/// assert_eq!(reactor.take_written(b), &b"hello\n"[..]);
/// assert_eq!(reactor.take_written(a), &b""[..]);
///
/// reactor.push_eof(b);
/// assert!(reactor.is_closed(b));
/// assert_eq!(room.len(), 1);
/// ```
pub struct EmbeddedReactor<C, S, H> {
    /// Slot `i` is the connection of token `i` and id `i + 1`; slots are never reused.
    slots: Vec<Slot<Pipeline<C, S, H>>>,
    core: ReactorCore,
    commands: crate::queue::Receiver<Command>,
    jobs: Receiver<Job>,
    reactor_buf: BytesMut,
    local: VecDeque<Command>,
    _poll: Poll,
}

/// One embedded connection, and what is left of it once it has closed.
struct Slot<P> {
    conn: Option<Connection<P>>,
    closed: Option<CloseReason>,
    written: BytesMut,
}

impl<C, S, H> fmt::Debug for EmbeddedReactor<C, S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let open = self.slots.iter().filter(|s| s.conn.is_some()).count();
        f.debug_struct("EmbeddedReactor")
            .field("connections", &self.slots.len())
            .field("open", &open)
            .finish_non_exhaustive()
    }
}

impl<C, S, H> Default for EmbeddedReactor<C, S, H>
where
    C: Decoder + for<'m> Encoder<H::Out<'m>> + 'static,
    S: for<'m> Stage<In<'m> = C::Item<'m>, Fwd<'m> = H::In<'m>>,
    H: Handler,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<C, S, H> EmbeddedReactor<C, S, H>
where
    C: Decoder + for<'m> Encoder<H::Out<'m>> + 'static,
    S: for<'m> Stage<In<'m> = C::Item<'m>, Fwd<'m> = H::In<'m>>,
    H: Handler,
{
    /// An empty reactor with the default server settings.
    pub fn new() -> Self {
        Self::with_config(ServerBuilder::new())
    }

    /// An empty reactor whose connections get the settings of `config` (watermarks, idle
    /// timeouts, close timeout, pool queue, …).
    ///
    /// # Panics
    ///
    /// If `config` would make [`ServerBuilder::bind`] fail (a setting of 0, say).
    pub fn with_config(config: ServerBuilder<()>) -> Self {
        let config = config
            .into_config()
            .unwrap_or_else(|e| panic!("embedded reactor: {e}"));
        let config = Arc::new(config);
        let poll = Poll::new().expect("create a poll instance");
        let registry = poll.registry().try_clone().expect("clone the registry");
        let waker = Waker::new(poll.registry(), WAKER).expect("create a waker");
        let (inbox, commands) = Inbox::new(0, config.inbox_capacity, waker);
        let inbox = Arc::new(inbox);
        let metrics = Arc::new(Metrics::new(1));
        let (pool, jobs) = crate::pool::queue(config.pool_queue, metrics.pool.clone());
        let core = ReactorCore::new(
            0,
            registry,
            inbox,
            config,
            pool,
            metrics,
            Admission::new(None),
            Moment::now(),
        );
        EmbeddedReactor {
            slots: Vec::new(),
            core,
            commands,
            jobs,
            reactor_buf: BytesMut::new(),
            local: VecDeque::new(),
            _poll: poll,
        }
    }

    /// Opens a connection with `pipeline` and returns its id; `on_active` has run, and
    /// whatever it sent the other connections has reached them.
    pub fn add(&mut self, pipeline: Pipeline<C, S, H>) -> ConnectionId {
        install_local(self.core.inbox());
        let index = self.slots.len();
        let id = ConnectionId(index as u64 + 1);
        let port = u16::try_from(index % usize::from(u16::MAX) + 1).expect("in range");
        let conn = Connection::new(
            id,
            Token(index),
            Io::Embedded(Box::default()),
            ([127, 0, 0, 1], port).into(),
            pipeline,
            Some(self.core.admission().admit()),
            &self.core,
        );
        self.slots.push(Slot {
            conn: Some(conn),
            closed: None,
            written: BytesMut::new(),
        });
        if let Some(conn) = &mut self.slots[index].conn {
            conn.open(&mut self.core);
        }
        self.settle();
        id
    }

    /// The ids of every connection added, open or closed, in the order they were added.
    pub fn ids(&self) -> Vec<ConnectionId> {
        (1..=self.slots.len() as u64).map(ConnectionId).collect()
    }

    /// The number of connections still open.
    pub fn open_connections(&self) -> usize {
        self.slots.iter().filter(|s| s.conn.is_some()).count()
    }

    fn index(&self, id: ConnectionId) -> usize {
        usize::try_from(id.0)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .filter(|&i| i < self.slots.len())
            .unwrap_or_else(|| panic!("{id} is not a connection of this embedded reactor"))
    }

    fn memory(&mut self, id: ConnectionId) -> Option<&mut MemoryIo> {
        let index = self.index(id);
        match &mut self.slots[index].conn.as_mut()?.core.io {
            Io::Embedded(mem) => Some(mem),
            Io::Tcp(_) | Io::Tls(_) | Io::Unconnected => None,
        }
    }

    fn conn(&self, id: ConnectionId) -> Option<&Connection<Pipeline<C, S, H>>> {
        self.slots[self.index(id)].conn.as_ref()
    }

    /// Bytes from the peer of connection `id`, delivered as one read batch.
    ///
    /// # Panics
    ///
    /// For an id this reactor did not hand out (so do the other methods taking an id).
    pub fn push(&mut self, id: ConnectionId, bytes: impl AsRef<[u8]>) {
        install_local(self.core.inbox());
        if let Some(mem) = self.memory(id) {
            mem.inbound.extend_from_slice(bytes.as_ref());
        }
        self.read(id);
    }

    /// The peer of connection `id` shuts down its sending side (end of stream).
    pub fn push_eof(&mut self, id: ConnectionId) {
        install_local(self.core.inbox());
        if let Some(mem) = self.memory(id) {
            mem.inbound_closed = true;
        }
        self.read(id);
    }

    fn read(&mut self, id: ConnectionId) {
        let index = self.index(id);
        if let Some(conn) = &mut self.slots[index].conn {
            conn.on_readable(&mut self.core, &mut self.reactor_buf);
        }
        self.settle();
    }

    /// Everything connection `id` has written (and flushed) since the last call: its own
    /// replies, and what other connections sent it.
    pub fn take_written(&mut self, id: ConnectionId) -> Bytes {
        let more = self.memory(id).map(|mem| mem.written.split());
        let index = self.index(id);
        let slot = &mut self.slots[index];
        if let Some(more) = more {
            slot.written.unsplit(more);
        }
        slot.written.split().freeze()
    }

    /// Whether the peer of connection `id` is reading (see
    /// [`EmbeddedPipeline::set_peer_reading`]).
    pub fn set_peer_reading(&mut self, id: ConnectionId, reading: bool) {
        install_local(self.core.inbox());
        if let Some(mem) = self.memory(id) {
            mem.blocked = !reading;
        }
        if reading {
            let index = self.index(id);
            if let Some(conn) = &mut self.slots[index].conn {
                conn.on_event(&mut self.core, &mut self.reactor_buf, false, true, false);
            }
        }
        self.settle();
    }

    /// Advances the virtual clock by `by`, firing every timer of every connection due by
    /// then, in deadline order.
    pub fn advance(&mut self, by: Duration) {
        install_local(self.core.inbox());
        let until = self.core.now() + by;
        let mut due = Vec::new();
        // Fire in steps, so timers that re-arm (repeating, idle) fire again if due.
        loop {
            let next = self.core.next_timer_deadline().filter(|&d| d <= until);
            let Some(at) = next else { break };
            self.core.set_now(at);
            self.core.expire_timers(self.core.now(), &mut due);
            for (key, event) in due.drain(..) {
                if let Some(conn) = self
                    .slots
                    .get_mut(event.token().0)
                    .and_then(|s| s.conn.as_mut())
                {
                    conn.on_timer(&mut self.core, key, event);
                }
            }
            self.settle();
        }
        self.core.set_now(until);
    }

    /// Runs every offloaded job queued so far on this thread, then their continuations.
    /// Returns how many jobs ran.
    pub fn run_offloaded(&mut self) -> usize {
        install_local(self.core.inbox());
        let mut ran = 0;
        while let Ok(job) = self.jobs.try_recv() {
            crate::pool::run_job(job, &self.core.metrics().pool);
            ran += 1;
        }
        self.settle();
        ran
    }

    /// Why connection `id` closed, once it has.
    pub fn close_reason(&self, id: ConnectionId) -> Option<CloseReason> {
        self.slots[self.index(id)].closed
    }

    /// True once connection `id` has closed (`on_inactive` has run).
    pub fn is_closed(&self, id: ConnectionId) -> bool {
        self.close_reason(id).is_some()
    }

    /// True once connection `id` sent its FIN.
    pub fn fin_sent(&self, id: ConnectionId) -> bool {
        match self.conn(id).map(|c| &c.core.io) {
            Some(Io::Embedded(mem)) => mem.fin_sent,
            _ => true,
        }
    }

    /// Bytes queued for connection `id` but not taken by its peer.
    pub fn pending_bytes(&self, id: ConnectionId) -> usize {
        self.conn(id).map_or(0, |c| c.core.out.pending())
    }

    /// The writability of connection `id` (see the watermarks).
    pub fn is_writable(&self, id: ConnectionId) -> bool {
        self.conn(id).is_none_or(|c| c.core.out.is_writable())
    }

    /// Runs what the last operation left: commands (continuations, writes through handles,
    /// broadcasts), ready-list reads, end-of-turn flushes; removes connections once they are
    /// finished.
    fn settle(&mut self) {
        let mut tokens = Vec::new();
        for _ in 0..MAX_ROUNDS {
            let mut worked = false;
            take_local(&mut self.local);
            while let Some(cmd) = self.commands.try_recv() {
                self.core.inbox().taken(&cmd);
                self.local.push_back(cmd);
            }
            self.core.inbox().resume_waiters();
            while let Some(cmd) = self.local.pop_front() {
                worked = true;
                run_command(self, cmd);
            }
            self.core.take_ready(&mut tokens);
            for token in tokens.drain(..) {
                if let Some(conn) = self.slots.get_mut(token.0).and_then(|s| s.conn.as_mut()) {
                    worked = true;
                    conn.on_readable(&mut self.core, &mut self.reactor_buf);
                }
            }
            self.core.take_dirty(&mut tokens);
            for token in tokens.drain(..) {
                if let Some(conn) = self.slots.get_mut(token.0).and_then(|s| s.conn.as_mut()) {
                    worked = true;
                    conn.flush_dirty(&mut self.core);
                }
            }
            // An embedded reactor cannot dial: every dial fails (a splice's caller gets its
            // held bytes back, as after any failed dial).
            for slot in &mut self.slots {
                let Some(conn) = slot.conn.as_mut() else {
                    continue;
                };
                for dial in conn.core.take_dials() {
                    worked = true;
                    let err = crate::ConnectError::new(crate::ConnectErrorKind::Stopped, None);
                    dial.notify.deliver(&self.core, Err(err));
                    if dial.splice_with.is_some() {
                        conn.peer_gone(&mut self.core, CloseReason::Reset, true);
                    }
                }
            }
            for slot in &mut self.slots {
                if slot.conn.as_ref().is_some_and(|c| c.core.is_closed()) {
                    let conn = slot.conn.take().expect("checked");
                    slot.closed = conn.core.close_reason();
                    if let Io::Embedded(mem) = &conn.core.io {
                        slot.written.extend_from_slice(&mem.written);
                    }
                    conn.finish(&mut self.core);
                    worked = true;
                }
            }
            if !worked {
                return;
            }
        }
    }
}

impl<C, S, H> Drop for EmbeddedReactor<C, S, H> {
    fn drop(&mut self) {
        uninstall_local(self.core.inbox());
    }
}

/// Commands reach the connections through the dispatcher a reactor uses.
impl<C, S, H> Connections<Pipeline<C, S, H>> for EmbeddedReactor<C, S, H>
where
    C: Decoder + for<'m> Encoder<H::Out<'m>> + 'static,
    S: for<'m> Stage<In<'m> = C::Item<'m>, Fwd<'m> = H::In<'m>>,
    H: Handler,
{
    fn with_conn(
        &mut self,
        token: Token,
        f: impl FnOnce(&mut Connection<Pipeline<C, S, H>>, &mut ReactorCore),
    ) {
        // A finished connection is removed by `settle`, after the command.
        if let Some(conn) = self.slots.get_mut(token.0).and_then(|s| s.conn.as_mut()) {
            f(conn, &mut self.core);
        }
    }

    fn register(
        &mut self,
        _stream: mio::net::TcpStream,
        _peer: std::net::SocketAddr,
        _id: ConnectionId,
        _permit: crate::admission::OpenPermit,
    ) {
        // No acceptor feeds an embedded reactor; dropping the stream refuses it.
    }

    fn dial(&mut self, request: Box<dyn std::any::Any + Send>) {
        // An embedded reactor has no sockets to dial with.
        if let Ok(request) = request.downcast::<crate::conn::RemoteDial>() {
            (request.then)(Err(crate::ConnectError::new(
                crate::ConnectErrorKind::Stopped,
                None,
            )));
        }
    }

    fn shutdown(&mut self, deadline: Moment) {
        for index in 0..self.slots.len() {
            self.with_conn(Token(index), |conn, core| conn.shutdown(core, deadline));
        }
    }

    fn reactor_index(&self) -> usize {
        self.core.index()
    }

    fn activity(&self) -> &crate::metrics::Activity {
        &self.core.counters().activity
    }
}
