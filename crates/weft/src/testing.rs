//! [`EmbeddedPipeline`]: drive a pipeline without a socket, for tests (feature `test-util`).
//!
//! ```
//! use std::time::Duration;
//! use weft::codec::LineCodec;
//! use weft::testing::EmbeddedPipeline;
//! use weft::{Bytes, CloseReason, Context, Handler, Idle, IdleTimeouts, Pipeline, Server};
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     type In = Bytes;
//!     type Out = Bytes;
//!     fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: Bytes) {
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
//! [`run_offloaded`](EmbeddedPipeline::run_offloaded)). Use one embedded pipeline per
//! thread at a time.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use crossbeam_channel::Receiver;
use mio::{Poll, Token, Waker};
use weft_codec::{Decoder, Encoder};

use crate::admission::Admission;
use crate::conn::{Connection, Io, MemoryIo};
use crate::error::CloseReason;
use crate::id::ConnectionId;
use crate::inbox::{install_local, take_local, Command, Inbox};
use crate::metrics::Metrics;
use crate::pipeline::{Handler, Pipeline, Stage};
use crate::pool::Job;
use crate::reactor::dispatch::{run_command, Connections};
use crate::reactor::WAKER;
use crate::server::ServerBuilder;
use crate::services::ReactorCore;

/// The token of the one connection of an embedded pipeline.
const CONN: Token = Token(0);

/// Rounds of internal work (commands, ready list, flushes) one call may take before it
/// stops: a handler that keeps re-scheduling itself cannot hang a test.
const MAX_ROUNDS: usize = 10_000;

/// A pipeline on an in-memory connection: push bytes in, read what it wrote, flip
/// writability, advance a virtual clock, see the close and its reason.
pub struct EmbeddedPipeline<C, S, H> {
    conn: Option<Connection<Pipeline<C, S, H>>>,
    core: ReactorCore,
    commands: Receiver<Command>,
    jobs: Receiver<Job>,
    reactor_buf: BytesMut,
    local: VecDeque<Command>,
    closed: Option<CloseReason>,
    written: BytesMut,
    _poll: Poll,
}

impl<C, S, H> fmt::Debug for EmbeddedPipeline<C, S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedPipeline")
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl<C, S, H> EmbeddedPipeline<C, S, H>
where
    C: Decoder + Encoder<H::Out> + 'static,
    S: Stage<In = C::Item, Fwd = H::In>,
    H: Handler,
{
    /// An active connection with the default server settings; `on_active` has run.
    pub fn new(pipeline: Pipeline<C, S, H>) -> Self {
        Self::with_config(ServerBuilder::new(), pipeline)
    }

    /// An active connection with the settings of `config` (watermarks, idle timeouts,
    /// close timeout, pool queue, …).
    pub fn with_config(config: ServerBuilder<()>, pipeline: Pipeline<C, S, H>) -> Self {
        let config = Arc::new(config.into_config());
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
            Instant::now(),
        );
        let conn = Connection::new(
            ConnectionId(1),
            CONN,
            Io::Embedded(Box::default()),
            ([127, 0, 0, 1], 1).into(),
            pipeline,
            core.admission().admit(),
            &core,
        );
        let mut embedded = EmbeddedPipeline {
            conn: Some(conn),
            core,
            commands,
            jobs,
            reactor_buf: BytesMut::new(),
            local: VecDeque::new(),
            closed: None,
            written: BytesMut::new(),
            _poll: poll,
        };
        install_local(embedded.core.inbox());
        if let Some(conn) = &mut embedded.conn {
            conn.activate(&mut embedded.core);
        }
        embedded.settle();
        embedded
    }

    fn memory(&mut self) -> Option<&mut MemoryIo> {
        match &mut self.conn.as_mut()?.core.io {
            Io::Embedded(mem) => Some(mem),
            Io::Tcp(_) => None,
        }
    }

    /// Bytes from the peer, delivered as one read batch (push in several calls to split
    /// them anywhere).
    pub fn push(&mut self, bytes: impl AsRef<[u8]>) {
        install_local(self.core.inbox());
        if let Some(mem) = self.memory() {
            mem.inbound.extend_from_slice(bytes.as_ref());
        }
        self.read();
    }

    /// The peer shuts down its sending side (end of stream).
    pub fn push_eof(&mut self) {
        install_local(self.core.inbox());
        if let Some(mem) = self.memory() {
            mem.inbound_closed = true;
        }
        self.read();
    }

    fn read(&mut self) {
        if let Some(conn) = &mut self.conn {
            conn.on_readable(&mut self.core, &mut self.reactor_buf);
        }
        self.settle();
    }

    /// Everything the pipeline has written (and flushed) since the last call.
    pub fn take_written(&mut self) -> Bytes {
        if let Some(mem) = self.memory() {
            let more = mem.written.split();
            self.written.unsplit(more);
        }
        self.written.split().freeze()
    }

    /// Whether the peer is reading. While it is not, writes stay queued in the connection,
    /// so the watermarks, writability events and automatic read pause behave as with a
    /// peer that stopped reading. Setting it back flushes.
    pub fn set_peer_reading(&mut self, reading: bool) {
        install_local(self.core.inbox());
        if let Some(mem) = self.memory() {
            mem.blocked = !reading;
        }
        if reading {
            if let Some(conn) = &mut self.conn {
                conn.on_event(&mut self.core, &mut self.reactor_buf, false, true, false);
            }
        }
        self.settle();
    }

    /// Advances the virtual clock by `by`, firing every timer due by then (idle checks,
    /// scheduled tasks, close deadlines) in deadline order.
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
                if let Some(conn) = &mut self.conn {
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

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closed
    }

    /// True once the connection has closed (`on_inactive` has run).
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// True once the connection sent its FIN (the peer would see end of stream).
    pub fn fin_sent(&self) -> bool {
        match self.conn.as_ref().map(|c| &c.core.io) {
            Some(Io::Embedded(mem)) => mem.fin_sent,
            _ => true,
        }
    }

    /// Bytes queued but not taken by the peer.
    pub fn pending_bytes(&self) -> usize {
        self.conn.as_ref().map_or(0, |c| c.core.out.pending())
    }

    /// The connection's writability (see the watermarks).
    pub fn is_writable(&self) -> bool {
        self.conn.as_ref().is_none_or(|c| c.core.out.is_writable())
    }

    /// Runs what the last operation left: commands (continuations, writes through handles),
    /// ready-list reads, end-of-turn flushes; removes the connection once it is finished.
    fn settle(&mut self) {
        for _ in 0..MAX_ROUNDS {
            let mut worked = false;
            take_local(&mut self.local);
            while let Ok(cmd) = self.commands.try_recv() {
                self.core.inbox().taken(&cmd);
                self.local.push_back(cmd);
            }
            self.core.inbox().resume_waiters();
            while let Some(cmd) = self.local.pop_front() {
                worked = true;
                run_command(self, cmd);
            }
            let mut ready = Vec::new();
            self.core.take_ready(&mut ready);
            for token in ready {
                if let (CONN, Some(conn)) = (token, &mut self.conn) {
                    worked = true;
                    conn.on_readable(&mut self.core, &mut self.reactor_buf);
                }
            }
            let mut dirty = Vec::new();
            self.core.take_dirty(&mut dirty);
            for token in dirty {
                if let (CONN, Some(conn)) = (token, &mut self.conn) {
                    worked = true;
                    conn.flush_dirty(&mut self.core);
                }
            }
            if self.conn.as_ref().is_some_and(|c| c.core.is_closed()) {
                let conn = self.conn.take().expect("checked");
                self.closed = conn.core.close_reason();
                if let Io::Embedded(mem) = &conn.core.io {
                    self.written.extend_from_slice(&mem.written);
                }
                conn.finish(&mut self.core);
                worked = true;
            }
            if !worked {
                return;
            }
        }
    }
}

/// Commands reach the one connection through the dispatcher a reactor uses.
impl<C, S, H> Connections<Pipeline<C, S, H>> for EmbeddedPipeline<C, S, H>
where
    C: Decoder + Encoder<H::Out> + 'static,
    S: Stage<In = C::Item, Fwd = H::In>,
    H: Handler,
{
    fn with_conn(
        &mut self,
        token: Token,
        f: impl FnOnce(&mut Connection<Pipeline<C, S, H>>, &mut ReactorCore),
    ) {
        // A finished connection is removed by `settle`, after the command.
        if let (CONN, Some(conn)) = (token, &mut self.conn) {
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
        // No acceptor feeds an embedded pipeline; dropping the stream refuses it.
    }

    fn shutdown(&mut self, deadline: Instant) {
        self.with_conn(CONN, |conn, core| conn.shutdown(core, deadline));
    }

    fn reactor_index(&self) -> usize {
        self.core.index()
    }

    fn activity(&self) -> &crate::metrics::Activity {
        &self.core.counters().activity
    }
}
