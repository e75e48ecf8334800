//! Links between connections: dialling (the connect state machine of a dialled
//! connection) and splicing (two connections of one reactor relaying bytes to each other).
//!
//! # Dialling
//!
//! ```text
//!   start ─► next target ─┬─ an address: connect() ─► CONNECTING ─┬─ writable, no error ─► up
//!      ▲                  │                                        └─ refused / timeout ──┐
//!      │                  └─ a name: lookup on the pool ─► RESOLVING ─ addresses ─┐       │
//!      └───────────────────────────────────────────────────────────────────────────┴───────┘
//!                          no target left ─► failed (the caller is told; no on_inactive)
//! ```
//!
//! A dialled connection sits in the reactor's slab from the start, with its own token, so
//! timers and events reach it as they reach any connection; its pipeline sees nothing
//! until it is up (then `on_active`, as for an accepted one).
//!
//! # Splicing
//!
//! A spliced pair relays bytes without a codec: what one side reads is sent to the other.
//! The pump reads from one socket into the reactor's read buffer and sends straight to the
//! other (no queue, no allocation, while the other keeps up); what the other's kernel does
//! not take is copied to its queue. Flow control is coupled: a side stops reading while its
//! peer's queue is above the high watermark (or would pass the output limit) and resumes
//! when it falls below the low one. An end of stream on one side shuts down the other's
//! sending side once its queue is flushed; a side whose both directions have ended closes.
//! A reset (or an abort) of one side resets the other at once; any other close closes the
//! other gracefully. Bytes read before the dialled side is up are held (up to the output
//! limit, then reading stops) and sent first once it is.

use std::any::Any;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use mio::{Interest, Token};
use rustls_pki_types::ServerName;

use super::read::{ReadStep, READ_CHUNK};
use super::{ConnCore, Connection, Drive, Io, TlsIo};
use crate::dial::{ConnectError, ConnectErrorKind, Connected, Dial, Target};
use crate::error::CloseReason;
use crate::handle::ConnectionHandle;
use crate::inbox::Command;
use crate::services::{ReactorCore, TimerEvent};
use crate::timer::TimerKey;
use crate::tls::TlsConnector;

/// A dial's result callback.
pub(crate) type OnConnect = Box<dyn FnOnce(Result<Connected, ConnectError>) + Send>;

/// Turns a dial's result into a continuation for the connection that asked.
pub(crate) type MakeContinuation =
    Box<dyn FnOnce(Result<Connected, ConnectError>) -> Box<dyn Any + Send> + Send>;

/// Who hears how a dial ended.
pub(crate) enum Notify {
    /// A connection of this reactor: `make` turns the result into a continuation for it.
    Conn {
        token: Token,
        make: MakeContinuation,
    },
    /// A call made from any thread: run on the reactor.
    Call(OnConnect),
}

impl Notify {
    /// Delivers the result (a continuation for a connection goes through the local queue,
    /// so it runs after the current callback, never inside it).
    pub(crate) fn deliver(self, reactor: &ReactorCore, result: Result<Connected, ConnectError>) {
        match self {
            Notify::Conn { token, make } => {
                let call = make(result);
                // From the reactor's own thread: the local queue, which cannot fail.
                let _ = reactor.inbox().send(Command::Continuation { token, call });
            }
            Notify::Call(then) => {
                if panic::catch_unwind(AssertUnwindSafe(|| then(result))).is_err() {
                    tracing::error!(
                        reactor = reactor.index(),
                        "a dial's result callback panicked"
                    );
                }
            }
        }
    }
}

/// A dial asked for by a handler (or, through [`RemoteDial`], by another thread), waiting
/// for the reactor to start it.
pub(crate) struct DialRequest {
    pub(crate) dial: Dial,
    /// The new connection's pipeline; `None` for the relay side of a splice.
    pub(crate) pipeline: Option<Box<dyn Drive>>,
    pub(crate) notify: Notify,
    /// For a splice: the connection whose bytes the new one relays.
    pub(crate) splice_with: Option<Token>,
}

/// A dial from another thread: the pipeline is made on the reactor.
pub(crate) struct RemoteDial {
    pub(crate) dial: Dial,
    pub(crate) make: Box<dyn FnOnce() -> Box<dyn Drive> + Send>,
    pub(crate) then: OnConnect,
}

/// The state of a dial under way.
pub(crate) struct Connecting {
    targets: VecDeque<Target>,
    timeout: Duration,
    timer: Option<TimerKey>,
    /// The target being tried, for the error.
    current: Option<String>,
    last: Option<ConnectError>,
    notify: Option<Notify>,
    preamble: Option<Bytes>,
    /// TLS over the connection once it is up (see `Dial::tls`).
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// Counts attempts, so a lookup that answers after its attempt timed out is ignored.
    attempt: u64,
    resolving: bool,
    /// No target is left and the caller was told: the connection is removed unopened.
    failed: bool,
}

/// Whether a connection may still send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum WriteSide {
    #[default]
    Open,
    /// Shut down once the queue is flushed (a spliced peer's end of stream).
    ShutRequested,
    /// FIN sent.
    Shut,
}

/// One side of a splice.
pub(crate) struct Splice {
    /// The other side (`None` only until the reactor has made the dialled side).
    pub(crate) peer: Option<Token>,
    /// The other side is up and relaying.
    pub(crate) up: bool,
    /// Bytes read before the other side was up.
    held: BytesMut,
}

/// What a connection has to do with links; boxed in `ConnCore::link`, so connections
/// without any cost one pointer.
#[derive(Default)]
pub(crate) struct Link {
    /// Dials this connection's handler asked for, for the reactor to start.
    pub(crate) dials: Vec<DialRequest>,
    pub(crate) connecting: Option<Connecting>,
    pub(crate) splice: Option<Splice>,
    write_side: WriteSide,
    /// The server is shutting down: a spliced session runs on until the deadline.
    pub(crate) shutting_down: bool,
    /// The dial just came up: the reactor wires a splice.
    pub(crate) just_up: bool,
}

impl ConnCore {
    fn link_mut(&mut self) -> &mut Link {
        self.link.get_or_insert_with(Box::default)
    }

    /// Queues a dial for the reactor to start after the current callback.
    pub(crate) fn request_dial(&mut self, request: DialRequest) {
        self.link_mut().dials.push(request);
    }

    /// Takes the dials waiting to be started.
    /// True if the connection ever dialled or was spliced (its `Link` exists).
    #[inline]
    pub(crate) fn has_link(&self) -> bool {
        self.link.is_some()
    }

    pub(crate) fn take_dials(&mut self) -> Vec<DialRequest> {
        match &mut self.link {
            Some(link) if !link.dials.is_empty() => std::mem::take(&mut link.dials),
            _ => Vec::new(),
        }
    }

    /// True while a dial of this connection is under way (or just failed).
    #[inline]
    pub(crate) fn is_connecting(&self) -> bool {
        self.link.as_ref().is_some_and(|l| l.connecting.is_some())
    }

    /// True for an open spliced connection whose bytes the pump moves.
    #[inline]
    pub(crate) fn is_spliced(&self) -> bool {
        self.link
            .as_ref()
            .is_some_and(|l| l.splice.is_some() && l.connecting.is_none())
    }

    /// The other side of this connection's splice.
    pub(crate) fn splice_peer(&self) -> Option<Token> {
        self.link.as_ref()?.splice.as_ref()?.peer
    }

    /// Makes this connection a splice side (the caller's, from `Context::splice`): it
    /// stops dispatching at once, and the reactor takes its undecoded bytes when it starts
    /// the dial ([`Connection::adopt_splice_input`]).
    pub(crate) fn begin_splice(&mut self) {
        self.reading.coupled_paused = true;
        self.frame_since = None; // no decoder any more: no frame to time out
        self.link_mut().splice = Some(Splice {
            peer: None,
            up: false,
            held: BytesMut::new(),
        });
    }

    /// Makes this (new, dialled) connection the relay side of a splice with `caller`.
    pub(crate) fn relay_for(&mut self, caller: Token) {
        self.link_mut().splice = Some(Splice {
            peer: Some(caller),
            up: true,
            held: BytesMut::new(),
        });
    }

    /// Sets the other side of a splice.
    pub(crate) fn set_splice_peer(&mut self, peer: Token) {
        if let Some(splice) = self.link.as_mut().and_then(|l| l.splice.as_mut()) {
            splice.peer = Some(peer);
        }
    }

    /// Marks a spliced session as shutting down; true if it is spliced.
    pub(crate) fn splice_shutdown(&mut self) -> bool {
        match &mut self.link {
            Some(link) if link.splice.is_some() => {
                link.shutting_down = true;
                true
            }
            _ => false,
        }
    }

    /// True once shutdown began for this spliced connection.
    pub(crate) fn splice_shutting_down(&self) -> bool {
        self.link.as_ref().is_some_and(|l| l.shutting_down)
    }

    /// Takes the "dial just came up" mark.
    pub(crate) fn take_just_up(&mut self) -> bool {
        self.link
            .as_mut()
            .is_some_and(|l| std::mem::take(&mut l.just_up))
    }

    // ---- dialling -------------------------------------------------------------------

    /// Starts a dial on this (new, unopened) connection.
    pub(crate) fn start_dial(&mut self, reactor: &mut ReactorCore, dial: Dial, notify: Notify) {
        self.link_mut().connecting = Some(Connecting {
            targets: dial.targets.into(),
            timeout: dial.timeout,
            timer: None,
            current: None,
            last: None,
            notify: Some(notify),
            preamble: dial.preamble,
            tls: dial.tls,
            attempt: 0,
            resolving: false,
            failed: false,
        });
        self.next_attempt(reactor);
    }

    fn connecting(&mut self) -> Option<&mut Connecting> {
        self.link
            .as_mut()?
            .connecting
            .as_mut()
            .filter(|c| !c.failed)
    }

    /// Tries targets until one attempt is under way, or fails the dial.
    fn next_attempt(&mut self, reactor: &mut ReactorCore) {
        let token = self.token;
        loop {
            self.drop_socket(reactor);
            let stopping = reactor.is_stopping();
            let Some(c) = self.connecting() else {
                return;
            };
            if stopping {
                c.last = Some(ConnectError::new(ConnectErrorKind::Stopped, None));
                c.targets.clear();
            }
            let Some(target) = c.targets.pop_front() else {
                self.fail_dial(reactor);
                return;
            };
            c.attempt += 1;
            let deadline = crate::config::deadline_after(reactor.now(), c.timeout);
            match target {
                Target::Addr(addr) => {
                    c.current = Some(addr.to_string());
                    let current = c.current.clone();
                    match mio::net::TcpStream::connect(addr) {
                        Ok(mut stream) => {
                            let interest = Interest::READABLE | Interest::WRITABLE;
                            if let Err(e) =
                                reactor.registry().register(&mut stream, token, interest)
                            {
                                c.last = Some(ConnectError::io(e, current));
                                continue;
                            }
                            c.timer = Some(
                                reactor.insert_timer(deadline, TimerEvent::ConnectDeadline(token)),
                            );
                            self.io = Io::Tcp(stream);
                            self.write_interest = true;
                            return;
                        }
                        Err(e) => c.last = Some(ConnectError::io(e, current)),
                    }
                }
                Target::Host(host, port) => {
                    c.current = Some(format!("{host}:{port}"));
                    let attempt = c.attempt;
                    let inbox = reactor.inbox().clone();
                    let job = Box::new(move || {
                        let result =
                            std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                                .map(Iterator::collect::<Vec<SocketAddr>>);
                        // Fails only once the reactor has stopped.
                        let _ = inbox.send(Command::Resolved {
                            token,
                            attempt,
                            result,
                        });
                    });
                    if reactor.pool().submit(job).is_err() {
                        c.last = Some(ConnectError::new(
                            ConnectErrorKind::Resolve,
                            c.current.clone(),
                        ));
                        continue;
                    }
                    c.resolving = true;
                    c.timer =
                        Some(reactor.insert_timer(deadline, TimerEvent::ConnectDeadline(token)));
                    return;
                }
            }
        }
    }

    /// Deregisters and drops the socket of a failed attempt.
    fn drop_socket(&mut self, reactor: &mut ReactorCore) {
        if let Io::Tcp(stream) = &mut self.io {
            let _ = reactor.registry().deregister(stream);
        }
        self.io = Io::Unconnected;
        self.write_interest = false;
    }

    /// A name lookup came back (on the reactor, from the pool).
    pub(crate) fn on_resolved(
        &mut self,
        reactor: &mut ReactorCore,
        attempt: u64,
        result: io::Result<Vec<SocketAddr>>,
    ) {
        let Some(c) = self.connecting() else {
            return;
        };
        if !c.resolving || c.attempt != attempt {
            return; // this attempt timed out already
        }
        c.resolving = false;
        if let Some(key) = c.timer.take() {
            reactor.cancel_timer(key);
        }
        match result {
            Ok(addrs) if !addrs.is_empty() => {
                for addr in addrs.into_iter().rev() {
                    c.targets.push_front(Target::Addr(addr));
                }
            }
            Ok(_) => {
                c.last = Some(ConnectError::new(
                    ConnectErrorKind::NoAddress,
                    c.current.clone(),
                ))
            }
            Err(e) => c.last = Some(ConnectError::resolve(e, c.current.clone())),
        }
        self.next_attempt(reactor);
    }

    /// The attempt under way ran out of time.
    pub(crate) fn connect_deadline(&mut self, reactor: &mut ReactorCore) {
        let id = self.id;
        let Some(c) = self.connecting() else {
            return;
        };
        c.timer = None;
        c.resolving = false;
        let kind = io::ErrorKind::TimedOut;
        c.last = Some(ConnectError::io(kind.into(), c.current.clone()));
        tracing::debug!(conn = %id, target = ?c.current, "connect attempt timed out");
        self.next_attempt(reactor);
    }

    /// A readiness event while connecting. Returns true once the connection is up.
    pub(crate) fn on_connect_event(&mut self, reactor: &mut ReactorCore) -> bool {
        let Io::Tcp(stream) = &self.io else {
            return false; // resolving: a stale event
        };
        let outcome = match stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match stream.peer_addr() {
                Ok(addr) => Ok(addr),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return false,
                Err(e) => Err(e),
            },
        };
        let id = self.id;
        let Some(c) = self.connecting() else {
            return false;
        };
        if let Some(key) = c.timer.take() {
            reactor.cancel_timer(key);
        }
        match outcome {
            Ok(addr) => {
                self.connected(reactor, addr);
                true
            }
            Err(e) => {
                tracing::debug!(conn = %id, target = ?c.current, error = %e, "connect attempt failed");
                c.last = Some(ConnectError::io(e, c.current.clone()));
                self.next_attempt(reactor);
                false
            }
        }
    }

    /// The attempt succeeded: options, interest, preamble.
    fn connected(&mut self, reactor: &mut ReactorCore, addr: SocketAddr) {
        self.peer = addr;
        if let Io::Tcp(stream) = &mut self.io {
            if let Err(e) = crate::net::apply_child_options(stream, &reactor.config().child) {
                tracing::debug!(conn = %self.id, error = %e, "cannot set socket options");
            }
            if let Err(e) = reactor
                .registry()
                .reregister(stream, self.token, Interest::READABLE)
            {
                self.io_failed("register", &e);
            }
        }
        self.write_interest = false;
        self.last_read = reactor.now();
        self.last_write = reactor.now();
        let link = self.link_mut();
        link.just_up = true;
        let preamble = link.connecting.as_mut().and_then(|c| c.preamble.take());
        let tls = link.connecting.as_ref().and_then(|c| c.tls.clone());
        match tls {
            None => {
                if let Some(bytes) = preamble {
                    self.out.push_chunk(bytes, false);
                }
            }
            Some((connector, name)) => self.start_tls(&connector, name, preamble),
        }
        reactor.counters().dialled();
    }

    /// A dialled connection speaks TLS: the preamble goes first, in the clear (a fresh
    /// socket takes it whole, or the connection fails), then the socket becomes a TLS
    /// client session whose handshake starts with the pipeline (see `tls.rs`).
    fn start_tls(
        &mut self,
        connector: &TlsConnector,
        name: ServerName<'static>,
        preamble: Option<Bytes>,
    ) {
        let Io::Tcp(stream) = std::mem::replace(&mut self.io, Io::Unconnected) else {
            return;
        };
        if let Some(bytes) = preamble {
            match crate::net::send(&stream, &bytes) {
                Ok(n) if n == bytes.len() => {}
                Ok(_) => {
                    self.io = Io::Tcp(stream);
                    let err = io::Error::new(io::ErrorKind::WouldBlock, "preamble not taken whole");
                    self.io_failed("preamble", &err);
                    return;
                }
                Err(e) => {
                    self.io = Io::Tcp(stream);
                    self.io_failed("preamble", &e);
                    return;
                }
            }
        }
        match connector.connect(name) {
            Ok(session) => self.io = Io::Tls(Box::new(TlsIo::new(stream, session))),
            Err(e) => {
                self.io = Io::Tcp(stream);
                let err = io::Error::other(e);
                self.io_failed("TLS session", &err);
            }
        }
    }

    /// Ends a connected dial's connecting state and tells its caller.
    pub(crate) fn finish_connect(&mut self, reactor: &mut ReactorCore) {
        let Some(mut c) = self.link.as_mut().and_then(|l| l.connecting.take()) else {
            return;
        };
        if let Some(notify) = c.notify.take() {
            let handle = ConnectionHandle::new(
                reactor.inbox().clone(),
                self.token,
                self.id,
                self.shared_state().clone(),
            );
            let connected = Connected {
                id: self.id,
                peer: self.peer,
                reactor: reactor.index(),
                handle,
            };
            notify.deliver(reactor, Ok(connected));
        }
    }

    /// No target is left: tell the caller, and let the reactor remove the connection.
    fn fail_dial(&mut self, reactor: &mut ReactorCore) {
        let id = self.id;
        let Some(c) = self.connecting() else {
            return;
        };
        c.failed = true;
        let err = c
            .last
            .take()
            .unwrap_or_else(|| ConnectError::new(ConnectErrorKind::NoAddress, None));
        tracing::debug!(conn = %id, error = %err, "dial failed");
        reactor.counters().connect_failed();
        if let Some(notify) = c.notify.take() {
            notify.deliver(reactor, Err(err));
        }
        self.phase.finish(CloseReason::Reset);
    }

    /// The server is stopping: the dial ends now, its caller told so.
    pub(crate) fn abandon_dial(&mut self, reactor: &mut ReactorCore) {
        if let Some(c) = self.connecting() {
            if let Some(key) = c.timer.take() {
                reactor.cancel_timer(key);
            }
            c.targets.clear();
            c.resolving = false;
            c.last = Some(ConnectError::new(ConnectErrorKind::Stopped, None));
        }
        self.drop_socket(reactor);
        self.fail_dial(reactor);
    }

    /// Cancels the dial's timer when the connection is removed.
    pub(super) fn cancel_connect_timer(&mut self, reactor: &mut ReactorCore) {
        if let Some(key) = self.connecting().and_then(|c| c.timer.take()) {
            reactor.cancel_timer(key);
        }
    }

    // ---- splicing -------------------------------------------------------------------

    /// The spliced peer's queue has room again: resume reading if the coupling paused it.
    pub(crate) fn resume_coupled(&mut self, reactor: &mut ReactorCore) {
        if std::mem::take(&mut self.reading.coupled_paused) {
            reactor.mark_ready(self.token);
        }
    }

    /// True when this side can take relayed bytes below its low watermark (so its peer,
    /// paused by the coupling, may read again).
    pub(crate) fn has_relay_room(&self) -> bool {
        self.accepts_relay() && self.out.pending() <= self.out.watermarks().low()
    }

    fn accepts_relay(&self) -> bool {
        self.phase.is_active()
            && self
                .link
                .as_ref()
                .is_none_or(|l| l.write_side == WriteSide::Open)
    }

    /// Sends relayed bytes: straight to the socket when nothing is queued, the rest (what
    /// the kernel did not take) copied to the queue.
    fn relay(&mut self, bytes: &[u8], reactor: &mut ReactorCore) {
        let mut sent = 0;
        if self.out.is_empty() {
            loop {
                match self.io.send(bytes) {
                    Ok(n) => sent = n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.io_failed("write", &e);
                        return;
                    }
                }
                break;
            }
            if sent > 0 {
                reactor.counters().wrote(sent);
                self.last_write = reactor.now();
            }
        }
        if sent < bytes.len() {
            self.out
                .encode_with(|tail| tail.extend_from_slice(&bytes[sent..]));
            let _ = self.out.take_writability_change();
            self.flush(reactor); // registers WRITABLE interest while the kernel is full
        }
    }

    /// Shuts this side's sending direction once its queue is flushed.
    fn shut_write_after_flush(&mut self) {
        let link = self.link_mut();
        if link.write_side == WriteSide::Open {
            link.write_side = WriteSide::ShutRequested;
        }
    }

    /// Sends the FIN a peer's end of stream asked for once the queue is flushed, and closes
    /// a side whose both directions have ended.
    pub(crate) fn advance_splice(&mut self) {
        if !self.phase.is_active() {
            return;
        }
        let Some(link) = self.link.as_mut() else {
            return;
        };
        if link.write_side == WriteSide::ShutRequested && self.out.is_empty() {
            link.write_side = WriteSide::Shut;
            if let Err(e) = self.io.shutdown_write() {
                self.io_failed("shutdown", &e);
                return;
            }
        }
        let shut = self
            .link
            .as_ref()
            .is_some_and(|l| l.write_side == WriteSide::Shut);
        if shut && self.reading.peer_eof {
            self.phase.finish(CloseReason::PeerClosed); // both directions ended
        }
    }

    /// Wires a dialled side that just came up to its caller: the caller's held bytes go
    /// first (after the preamble), then the pump takes over.
    pub(crate) fn wire_splice(&mut self, dialled: &mut ConnCore, reactor: &mut ReactorCore) {
        let Some(splice) = self.link.as_mut().and_then(|l| l.splice.as_mut()) else {
            return;
        };
        splice.up = true;
        let held = std::mem::take(&mut splice.held);
        if !held.is_empty() {
            dialled.out.push_chunk(held.freeze(), false);
        }
        let _ = dialled.out.take_writability_change();
        if self.reading.peer_eof {
            dialled.shut_write_after_flush();
        }
        dialled.flush(reactor);
        dialled.advance_splice();
        self.resume_coupled(reactor);
        reactor.mark_ready(self.token);
    }

    /// The other side of the splice is gone (removed with `reason`). `read_buf` is this
    /// side's own buffer, which gets the held bytes back if the dial never came up.
    pub(crate) fn splice_peer_gone(
        &mut self,
        reactor: &mut ReactorCore,
        reason: CloseReason,
        never_up: bool,
        read_buf: &mut BytesMut,
    ) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let Some(splice) = link.splice.take() else {
            return;
        };
        if let Some(c) = link.connecting.as_mut() {
            // The caller left before this relay side came up: the dial is dropped.
            c.failed = true;
            c.notify = None;
            if let Some(key) = c.timer.take() {
                reactor.cancel_timer(key);
            }
            self.phase.finish(CloseReason::Aborted);
            return;
        }
        if never_up && !splice.up {
            // The dial failed: the connection is its pipeline's again, with the bytes it
            // held (the caller was told; it decides what to do).
            *read_buf = splice.held;
            self.reading.coupled_paused = false;
            reactor.mark_ready(self.token);
            return;
        }
        match reason {
            CloseReason::Reset | CloseReason::Aborted | CloseReason::HandlerPanic => {
                self.io.reset_on_close();
                self.abort(CloseReason::Reset);
            }
            _ => {
                self.request_close(reason);
                self.reading.coupled_paused = false;
            }
        }
    }
}

/// Moves bytes from spliced `src` to its peer `dst` (`None` while the dial is under way:
/// the bytes are held), within the read budget. `buf` is the reactor's read buffer.
pub(crate) fn pump(
    src: &mut ConnCore,
    mut dst: Option<&mut ConnCore>,
    reactor: &mut ReactorCore,
    buf: &mut BytesMut,
) {
    let budget = reactor.config().read_budget;
    let mut total = 0;
    while src.phase.is_active() && !src.reading.peer_eof && !src.reading.coupled_paused {
        let room = match dst.as_deref() {
            Some(d) if !d.accepts_relay() => 0,
            Some(d) if d.out.pending() > d.out.watermarks().high() => 0,
            Some(d) => d.out.limit().saturating_sub(d.out.cost()),
            None => {
                let held = src
                    .link
                    .as_ref()
                    .and_then(|l| l.splice.as_ref())
                    .map_or(0, |s| s.held.len());
                src.out.limit().saturating_sub(held)
            }
        };
        if room == 0 {
            src.reading.coupled_paused = true;
            break;
        }
        let want = room.min(READ_CHUNK).min(budget - total);
        buf.clear();
        if buf.capacity() < READ_CHUNK {
            buf.reserve(READ_CHUNK);
        }
        let n = match src.read_step(buf, want) {
            ReadStep::Bytes(n) => n,
            ReadStep::Drained | ReadStep::Failed => break,
        };
        if n == 0 {
            src.reading.peer_eof = true;
            if let Some(d) = dst.as_deref_mut() {
                d.shut_write_after_flush();
            }
            break;
        }
        total += n;
        src.last_read = reactor.now();
        reactor.counters().read(n);
        match dst.as_deref_mut() {
            Some(d) => d.relay(&buf[..n], reactor),
            None => {
                if let Some(splice) = src.link.as_mut().and_then(|l| l.splice.as_mut()) {
                    splice.held.extend_from_slice(&buf[..n]);
                }
            }
        }
        if n < want && !src.reading.hangup_seen && !src.io.input_ended() {
            break; // drained for now
        }
        if total >= budget {
            reactor.mark_ready(src.token);
            break;
        }
    }
    buf.clear();
    if let Some(d) = dst {
        d.advance_splice();
    }
    src.advance_splice();
}

impl<P: Drive> Connection<P> {
    /// The dialled connection is up: `on_active`, then the caller hears of it.
    pub(crate) fn dial_up(&mut self, reactor: &mut ReactorCore) {
        self.activate(reactor);
        self.core.finish_connect(reactor);
    }

    /// See [`ConnCore::splice_peer_gone`].
    pub(crate) fn peer_gone(
        &mut self,
        reactor: &mut ReactorCore,
        reason: CloseReason,
        never_up: bool,
    ) {
        let Connection { core, read_buf, .. } = self;
        core.splice_peer_gone(reactor, reason, never_up, read_buf);
        if !core.phase.is_closed() {
            self.settle(reactor, true);
        }
    }

    /// The reactor starts this connection's splice dial (to `peer`): bytes its decoder
    /// had not taken yet become the first held bytes, and the pump takes over reading.
    pub(crate) fn adopt_splice_input(&mut self, peer: Token, reactor: &mut ReactorCore) {
        let Connection { core, read_buf, .. } = self;
        core.set_splice_peer(peer);
        if let Some(splice) = core.link.as_mut().and_then(|l| l.splice.as_mut()) {
            splice.held = std::mem::take(read_buf);
        }
        core.resume_coupled(reactor);
    }
}
