//! Reactors: one event loop per thread, each owning its connections outright.
//!
//! Start here. A reactor is a mio `Poll`, a slab of connections, a timer wheel and an inbox.
//! One loop turn is:
//!
//! 1. **poll** for readiness, sleeping at most until the next timer is due (not at all when
//!    work is already waiting);
//! 2. **handle I/O**: read, decode and dispatch for every readable connection (within its
//!    read budget), flush its output at the end of its batch, resume writing to every
//!    writable one;
//! 3. **drain the inbox**: new connections from the acceptor, writes and closes from other
//!    threads, offload continuations, tasks, shutdown;
//! 4. **serve the ready list**: connections that spent their read budget, or resumed
//!    reading, get another batch;
//! 5. **fire timers** that are due (idle checks, user timers, close deadlines);
//! 6. **flush** every connection that received output outside a read batch.
//!
//! In `SO_REUSEPORT` mode a reactor also owns a listener (`reuseport.rs`): its readiness is
//! handled with the I/O of step 2, and while accepting is paused (at the connection limit,
//! or out of descriptors) a retry is due between steps 2 and 3, since an edge-triggered
//! listener raises no new event for connections already waiting in its backlog.
//!
//! Only this thread ever touches its connections' sockets, buffers and pipelines.

mod acceptor;
pub(crate) mod dispatch;
mod reuseport;
mod slab;

pub(crate) use acceptor::Acceptor;
use dispatch::Connections;
pub(crate) use slab::{LISTENER, WAKER};

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use crate::admission::{Admission, OpenPermit};
use crate::clock::Moment;
use crate::config::Config;
use crate::conn::{pump, Connection, DialRequest, Drive, Io, Notify, Pipe, RemoteDial, TlsIo};
use crate::error::CloseReason;
use crate::id::ConnectionId;
use crate::inbox::{has_local, install_local, take_local, Command, Inbox};
use crate::metrics::{Activity, Callback, Metrics, Turn};
use crate::pool::PoolSender;
use crate::services::{ReactorCore, TimerEvent};
use crate::timer::TimerKey;
use slab::Slab;

/// Commands handled per turn before the loop goes back to I/O.
const INBOX_BATCH: usize = 4096;

/// One event loop. `F` builds a pipeline per connection; `P` is that pipeline.
pub(crate) struct Reactor<F, P> {
    core: ReactorCore,
    poll: Poll,
    conns: Slab<Connection<Pipe<P>>>,
    factory: Arc<F>,
    rx: crate::queue::Receiver<Command>,
    /// In `SO_REUSEPORT` mode, this reactor's own listener.
    listener: Option<TcpListener>,
    /// The reactor's read buffer (see `conn`).
    reactor_buf: BytesMut,
    /// Spare vectors swapped with `ready`, `dirty` and the local queue, so draining them
    /// allocates nothing.
    serving: Vec<Token>,
    local: VecDeque<Command>,
    due: Vec<(TimerKey, TimerEvent)>,
    /// More commands were waiting when the last drain stopped.
    inbox_backlog: bool,
    /// Commands the last drain took from the channel (for the metrics).
    inbox_seen: usize,
    /// Set once shutdown began: the deadline for every connection.
    shutdown: Option<Moment>,
    /// `SO_REUSEPORT` mode: when to look at the listener again without an event.
    accept_retry: Option<Moment>,
    /// `SO_REUSEPORT` mode: accepting is paused (for logging once per episode).
    accept_paused: bool,
}

/// Everything a reactor thread is started with.
pub(crate) struct ReactorParts<F> {
    pub(crate) index: usize,
    pub(crate) poll: Poll,
    pub(crate) inbox: Arc<Inbox>,
    pub(crate) rx: crate::queue::Receiver<Command>,
    pub(crate) factory: Arc<F>,
    pub(crate) config: Arc<Config>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) admission: Arc<Admission>,
    pub(crate) listener: Option<TcpListener>,
    pub(crate) pool: PoolSender,
}

impl<F, P> Reactor<F, P>
where
    F: Fn() -> P + Send + Sync + 'static,
    P: Drive,
{
    pub(crate) fn new(parts: ReactorParts<F>) -> io::Result<Self> {
        let registry = parts.poll.registry().try_clone()?;
        let now = Moment::now();
        let mut listener = parts.listener;
        if let Some(l) = &mut listener {
            registry.register(l, LISTENER, Interest::READABLE)?;
        }
        Ok(Reactor {
            core: ReactorCore::new(
                parts.index,
                registry,
                parts.inbox,
                parts.config,
                parts.pool,
                parts.metrics,
                parts.admission,
                now,
            ),
            poll: parts.poll,
            conns: Slab::new(),
            factory: parts.factory,
            rx: parts.rx,
            listener,
            reactor_buf: BytesMut::new(),
            serving: Vec::new(),
            local: VecDeque::new(),
            due: Vec::new(),
            inbox_backlog: false,
            inbox_seen: 0,
            shutdown: None,
            accept_retry: None,
            accept_paused: false,
        })
    }

    /// The loop. Returns once shutdown has closed every connection.
    pub(crate) fn run(mut self) {
        install_local(self.core.inbox());
        let mut turn_ended = Moment::now();
        // Local to the loop, not a field: `handle_io` reads it while it needs all of `self`.
        let mut events = Events::with_capacity(1024);
        loop {
            // The end of the last turn is "now" closely enough to time the sleep from.
            let timeout = self.poll_timeout(turn_ended);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(reactor = self.core.index(), error = %e, "poll failed; reactor stops");
                    break;
                }
            }
            let started = Moment::now();
            self.core.set_now(started);
            let handled = self.handle_io(&events);
            if self.accept_retry.is_some_and(|t| t <= self.core.now()) {
                self.accept_own();
            }
            self.drain_inbox();
            self.serve_ready();
            self.fire_timers();
            self.flush_dirty();
            let ended = Moment::now();
            self.core.counters().turn(Turn {
                busy_ns: ended.nanos_since(started),
                idle_ns: started.nanos_since(turn_ended),
                events: handled,
                // What is left after the drain: nothing, unless it stopped at its batch limit
                // (only then is the channel's length worth reading).
                inbox_depth: if self.inbox_backlog { self.rx.len() } else { 0 },
                inbox_seen: self.inbox_seen,
                timers: self.core.timers_armed(),
            });
            turn_ended = ended;
            if self.finished_shutdown() {
                break;
            }
        }
        self.abort_all();
    }

    fn poll_timeout(&mut self, now: Moment) -> Option<Duration> {
        if self.core.has_work() || self.inbox_backlog || has_local() {
            return Some(Duration::ZERO);
        }
        let timer = self.core.next_timer_deadline();
        let next = match (timer, self.accept_retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        next.map(|deadline| deadline.saturating_duration_since(now))
    }

    /// Handles the events `poll` returned; returns how many.
    fn handle_io(&mut self, events: &Events) -> usize {
        let mut listener_ready = false;
        let mut count = 0;
        for event in events.iter() {
            count += 1;
            match event.token() {
                WAKER => {}
                LISTENER => listener_ready = true,
                token => {
                    let Some(conn) = self.conns.get_mut(token) else {
                        continue; // a late event for a connection already gone
                    };
                    let hangup = event.is_read_closed() || event.is_error();
                    let readable = event.is_readable() || hangup;
                    let writable = event.is_writable() || event.is_error();
                    if conn.core.is_connecting() {
                        if conn.core.on_connect_event(&mut self.core) {
                            conn.dial_up(&mut self.core);
                        }
                    } else if conn.core.is_spliced() && conn.core.accepts_writes() {
                        conn.core.reading.hangup_seen |= hangup;
                        self.spliced_event(token, writable);
                    } else {
                        conn.on_event(
                            &mut self.core,
                            &mut self.reactor_buf,
                            readable,
                            writable,
                            hangup,
                        );
                        if !conn.core.has_link() && !conn.core.is_closed() {
                            continue; // the usual case: nothing for `touched` to do
                        }
                    }
                    self.touched(token);
                }
            }
        }
        if listener_ready {
            self.accept_own();
        }
        count
    }

    fn drain_inbox(&mut self) {
        let notified = self.core.inbox().clear_notified();
        let mut handled = 0;
        let mut took_data = false;
        let backlog = std::mem::take(&mut self.inbox_backlog);
        while (notified || backlog) && handled < INBOX_BATCH {
            match self.rx.try_recv() {
                Some(cmd) => {
                    // Counted commands give their place back as they leave the channel.
                    self.core.inbox().taken(&cmd);
                    took_data |= matches!(cmd, Command::Write { .. } | Command::Broadcast { .. });
                    match &cmd {
                        Command::Task(_) => self.core.inbox().task_taken(),
                        Command::Register { .. } => {
                            let was_full = self.core.inbox().registration_taken();
                            if was_full {
                                self.core.admission().room_made();
                            }
                        }
                        _ => {}
                    }
                    dispatch::run_command(self, cmd);
                }
                None => break,
            }
            handled += 1;
        }
        if handled == INBOX_BATCH {
            self.inbox_backlog = true;
        }
        self.inbox_seen = handled;
        if took_data {
            self.core.inbox().resume_waiters();
        }
        take_local(&mut self.local);
        while let Some(cmd) = self.local.pop_front() {
            dispatch::run_command(self, cmd);
        }
    }

    /// Takes a new connection in. Every early return drops `permit` with the stream: the
    /// connection is refused and its place in the open count given back.
    fn register_conn(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
        id: ConnectionId,
        permit: OpenPermit,
    ) {
        if self.shutdown.is_some() {
            return; // dropping the stream refuses the connection
        }
        let activity = &self.core.counters().activity;
        activity.enter(Callback::Factory, id.as_u64());
        let made = panic::catch_unwind(AssertUnwindSafe(|| (self.factory)()));
        activity.leave();
        let pipeline = match made {
            Ok(p) => p,
            Err(_) => {
                tracing::error!(conn = %id, "pipeline factory panicked; connection dropped");
                return;
            }
        };
        let core = &mut self.core;
        let io = match &core.config().tls {
            None => Io::Tcp(stream),
            Some(acceptor) => match rustls::ServerConnection::new(acceptor.current()) {
                Ok(session) => {
                    let mut tls = TlsIo::new(stream, session);
                    // A PROXY header comes first, in the clear (see `conn/proxy.rs`).
                    tls.clear_prefix = core.config().proxy_protocol.is_required();
                    Io::Tls(Box::new(tls))
                }
                Err(e) => {
                    tracing::warn!(conn = %id, error = %e, "cannot start a TLS session; connection dropped");
                    return;
                }
            },
        };
        // Registered right below; a failure removes it again before anything else runs.
        let token = self.conns.insert_with(|token| {
            let pipeline = Pipe::Main(pipeline);
            Connection::new(id, token, io, peer, pipeline, Some(permit), core)
        });
        let conn = self.conns.get_mut(token).expect("just inserted");
        let stream = conn.core.io.tcp().expect("a TCP connection");
        if let Err(e) = core.registry().register(stream, token, Interest::READABLE) {
            tracing::warn!(conn = %id, error = %e, "cannot register connection");
            self.conns.remove(token);
            return;
        }
        core.counters().opened();
        tracing::debug!(conn = %id, %peer, reactor = core.index(), "connection opened");
        conn.open(core);
        self.touched(token);
    }

    fn serve_ready(&mut self) {
        // Most turns have nothing here: skip the list swaps.
        if !self.core.has_ready() {
            self.core.counters().ready_served(0);
            return;
        }
        let mut serving = std::mem::take(&mut self.serving);
        self.core.take_ready(&mut serving);
        self.core.counters().ready_served(serving.len());
        for token in serving.drain(..) {
            if let Some(conn) = self.conns.get_mut(token) {
                if conn.core.is_spliced() && conn.core.accepts_writes() {
                    self.spliced_event(token, false);
                } else if !conn.core.is_connecting() {
                    conn.on_readable(&mut self.core, &mut self.reactor_buf);
                }
                self.touched(token);
            }
        }
        self.serving = serving;
    }

    fn fire_timers(&mut self) {
        self.core.expire_timers(self.core.now(), &mut self.due);
        if self.due.is_empty() {
            return;
        }
        let mut due = std::mem::take(&mut self.due);
        for (key, event) in due.drain(..) {
            self.with_conn(event.token(), |conn, core| conn.on_timer(core, key, event));
        }
        self.due = due;
    }

    fn flush_dirty(&mut self) {
        if !self.core.has_dirty() {
            return;
        }
        let mut dirty = std::mem::take(&mut self.serving);
        self.core.take_dirty(&mut dirty);
        for token in dirty.drain(..) {
            self.with_conn(token, |conn, core| conn.flush_dirty(core));
        }
        self.serving = dirty;
    }

    fn begin_shutdown(&mut self, deadline: Moment) {
        if self.shutdown.is_some() {
            return;
        }
        self.shutdown = Some(deadline);
        self.core.set_stopping();
        if let Some(mut listener) = self.listener.take() {
            let _ = self.core.registry().deregister(&mut listener);
        }
        self.accept_retry = None;
        tracing::debug!(
            reactor = self.core.index(),
            open = self.conns.len(),
            "reactor shutting down"
        );
        for token in self.conns.tokens() {
            self.with_conn(token, |conn, core| conn.shutdown(core, deadline));
        }
    }

    fn finished_shutdown(&self) -> bool {
        self.shutdown.is_some() && self.conns.len() == 0
    }

    /// Last resort when the loop ends: drop whatever is left.
    fn abort_all(&mut self) {
        for token in self.conns.tokens() {
            if let Some(conn) = self.conns.get_mut(token) {
                conn.core.abort(crate::CloseReason::Shutdown);
            }
            self.remove(token);
        }
    }
}

impl<F, P> dispatch::Connections<Pipe<P>> for Reactor<F, P>
where
    F: Fn() -> P + Send + Sync + 'static,
    P: Drive,
{
    fn with_conn(
        &mut self,
        token: Token,
        f: impl FnOnce(&mut Connection<Pipe<P>>, &mut ReactorCore),
    ) {
        if let Some(conn) = self.conns.get_mut(token) {
            f(conn, &mut self.core);
            self.touched(token);
        }
    }

    fn dial(&mut self, request: Box<dyn std::any::Any + Send>) {
        match request.downcast::<RemoteDial>() {
            Ok(remote) => {
                let RemoteDial { dial, make, then } = *remote;
                let activity = &self.core.counters().activity;
                activity.enter(Callback::Factory, 0);
                let made = panic::catch_unwind(AssertUnwindSafe(make));
                activity.leave();
                let notify = Notify::Call(then);
                match made {
                    Ok(pipeline) => self.start_dial(DialRequest {
                        dial,
                        pipeline: Some(pipeline),
                        notify,
                        splice_with: None,
                    }),
                    Err(_) => {
                        tracing::error!("a dial's pipeline factory panicked; dial dropped");
                        let err = crate::ConnectError::new(crate::ConnectErrorKind::Other, None);
                        notify.deliver(&self.core, Err(err));
                    }
                }
            }
            Err(_) => tracing::error!("a dial command of a foreign type dropped"),
        }
    }

    fn register(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
        id: ConnectionId,
        permit: OpenPermit,
    ) {
        self.register_conn(stream, peer, id, permit);
    }

    fn shutdown(&mut self, deadline: Moment) {
        self.begin_shutdown(deadline);
    }

    fn reactor_index(&self) -> usize {
        self.core.index()
    }

    fn activity(&self) -> &Activity {
        &self.core.counters().activity
    }
}

impl<F, P> Reactor<F, P>
where
    F: Fn() -> P + Send + Sync + 'static,
    P: Drive,
{
    /// After anything ran for `token`: start the dials its handler asked for, wire a
    /// splice that just came up, and remove the connection if it finished.
    fn touched(&mut self, token: Token) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if !conn.core.has_link() {
            // The usual case, once per event: no dial, no splice.
            if conn.core.is_closed() {
                self.remove(token);
            }
            return;
        }
        let dials = conn.core.take_dials();
        let just_up = conn.core.take_just_up();
        for request in dials {
            self.start_dial(request);
        }
        if just_up {
            self.wire_splice(token);
        }
        if self
            .conns
            .get_mut(token)
            .is_some_and(|c| c.core.is_closed())
        {
            self.remove(token);
        }
    }

    /// Makes the connection of a dial and starts it.
    fn start_dial(&mut self, request: DialRequest) {
        let DialRequest {
            dial,
            pipeline,
            notify,
            splice_with,
        } = request;
        let id = self.core.metrics().next_connection_id();
        let core = &mut self.core;
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        let token = self.conns.insert_with(|token| {
            let pipeline = match pipeline {
                Some(pipeline) => Pipe::Dialled(pipeline),
                None => Pipe::Relay,
            };
            Connection::new(
                id,
                token,
                Io::Unconnected,
                unspecified,
                pipeline,
                None,
                core,
            )
        });
        if let Some(caller) = splice_with {
            match self.conns.get_mut(caller) {
                Some(conn) => conn.adopt_splice_input(token, &mut self.core),
                None => {
                    self.conns.remove(token); // the caller left before its dial started
                    return;
                }
            }
            if let Some(conn) = self.conns.get_mut(token) {
                conn.core.relay_for(caller);
            }
        }
        tracing::debug!(conn = %id, ?dial, "dialling");
        if let Some(conn) = self.conns.get_mut(token) {
            conn.core.start_dial(&mut self.core, dial, notify);
        }
        self.touched(token);
    }

    /// A dialled side of a splice came up: its caller's held bytes go first.
    fn wire_splice(&mut self, token: Token) {
        let Some(caller) = self.conns.get_mut(token).and_then(|c| c.core.splice_peer()) else {
            return;
        };
        match self.conns.pair_mut(caller, token) {
            Some((caller_conn, dialled)) => {
                caller_conn
                    .core
                    .wire_splice(&mut dialled.core, &mut self.core);
            }
            None => {
                // The caller is gone: so is the session.
                if let Some(conn) = self.conns.get_mut(token) {
                    conn.core.abort(CloseReason::Aborted);
                }
            }
        }
    }

    /// An event (or a ready-list turn) for an open spliced connection: flush what it owes,
    /// pump what it reads to its peer, and resume a peer the coupling paused.
    fn spliced_event(&mut self, token: Token, writable: bool) {
        let peer = self.conns.get_mut(token).and_then(|c| c.core.splice_peer());
        let pair = peer.and_then(|peer| self.conns.pair_mut(token, peer));
        let (conn, mut other) = match pair {
            Some((conn, other)) => (conn, Some(other)),
            None => match self.conns.get_mut(token) {
                Some(conn) => (conn, None),
                None => return,
            },
        };
        if writable {
            conn.core.flush(&mut self.core);
            conn.core.advance_splice();
        }
        // Bytes flow to the peer only once it is up (a caller whose dial is under way holds
        // them).
        let up = other.as_ref().is_some_and(|o| !o.core.is_connecting());
        let dst = if up {
            other.as_deref_mut().map(|o| &mut o.core)
        } else {
            None
        };
        pump(&mut conn.core, dst, &mut self.core, &mut self.reactor_buf);
        if let Some(other) = other {
            if up && conn.core.has_relay_room() {
                other.core.resume_coupled(&mut self.core);
            }
        }
        if let Some(peer) = peer {
            self.touched(peer);
        }
    }

    /// Removes a finished connection, updates the counters, and tells a spliced peer.
    fn remove(&mut self, token: Token) {
        let Some(conn) = self.conns.remove(token) else {
            return;
        };
        let reason = conn.core.close_reason().unwrap_or(CloseReason::Reset);
        let never_up = conn.core.is_connecting();
        let peer = conn.core.splice_peer();
        conn.finish(&mut self.core); // drops the connection and with it its open permit
        if !never_up {
            self.core.counters().closed(reason);
        }
        if let Some(peer) = peer {
            if let Some(other) = self.conns.get_mut(peer) {
                other.peer_gone(&mut self.core, reason, never_up);
                self.touched(peer);
            }
        }
    }
}
#[cfg(test)]
mod size {
    /// An idle connection costs its slab slot (and nothing else: no buffer, no box), and
    /// the slab grows by doubling, so RSS per idle connection is about 1.1 to 1.3 times
    /// this size. The 512 B-per-idle-connection target (`benches/compare.py --scenarios
    /// idle10k`) needs the slot well under it: rarely used state lives out of line
    /// (`conn::Cold`, `conn::link::Link`).
    #[test]
    fn an_idle_connection_s_slot_stays_small() {
        struct Echo;
        impl crate::Handler for Echo {
            type In<'a> = bytes::Bytes;
            type Out<'a> = bytes::Bytes;
            fn on_message(&mut self, _: &mut crate::Context<'_, Self>, _: bytes::Bytes) {}
        }
        type P = crate::pipeline::SimplePipeline<weft_codec::LineCodec, Echo>;
        let slot = std::mem::size_of::<crate::conn::Connection<crate::conn::Pipe<P>>>();
        assert!(slot <= 424, "a line-echo connection takes {slot} bytes");
    }
}
