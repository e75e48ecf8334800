//! One connection: its socket, buffers and state, and how it drives its pipeline.
//!
//! # States
//!
//! Reading and writing are independent axes, so a half-close is just "reading closed":
//!
//! ```text
//!                 peer EOF (read 0)                      handler closes (default)
//!   ACTIVE ─────────────────────────► READ-CLOSED ───────────────────────────┐
//!     │  close() / decode error / panic / idle close / shutdown              │
//!     └─────────────────────────────────────────────────────► CLOSING ◄──────┘
//!                                         stop reading; flush owed output
//!                                                    │ output drained: send FIN
//!                                                    ▼
//!                                               LINGERING  read and discard until the
//!                                                    │     peer's EOF, so unread input
//!                                                    │     cannot turn our close into a
//!                                                    ▼     reset that destroys owed replies
//!   reset / write error / abort() / deadline ─────► CLOSED  (removed; on_inactive)
//! ```
//!
//! A close deadline (the server's `close_timeout`, or the shutdown deadline) bounds
//! CLOSING and LINGERING: a peer that never reads cannot hold a connection open.
//!
//! # Reading
//!
//! Readiness is edge-triggered. A readable connection is read until the kernel has nothing
//! more (a read shorter than asked, `WouldBlock` or end of stream) or until its per-turn
//! budget is spent; in the latter case it goes on the reactor's ready list and is served
//! again next turn, after every other ready connection had its turn.
//!
//! Bytes are read into the reactor's shared buffer unless this connection holds a partial
//! frame, in which case they are appended to its own buffer. Frames are split off whichever
//! buffer holds them; a partial frame left in the shared buffer moves to the connection's
//! own. So an idle connection, or one whose frames arrive whole, owns no read buffer. The
//! buffers for partial frames come from a small per-reactor pool and go back to it once
//! they drain, so a read that ends mid-frame allocates nothing in steady state either.

mod drive;
mod outbound;
mod transport;

pub(crate) use drive::Drive;

pub(crate) use transport::Io;
#[cfg(feature = "test-util")]
pub(crate) use transport::MemoryIo;

pub(crate) use outbound::{Flushed, Outbound};

use std::any::Any;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use mio::{Interest, Token};

use crate::admission::OpenPermit;
use crate::config::{deadline_after, Idle};
use crate::error::CloseReason;
use crate::id::{ConnectionId, TimerId};
use crate::inbox::CloseHow;
use crate::services::{ReactorCore, TimerEvent};
use crate::shared::{posted_cost, ConnShared};
use crate::timer::TimerKey;
use crate::{flood, net};

/// How long a connection lingers after its FIN for the peer's EOF (bounded further by the
/// close deadline): long enough for in-flight input to arrive and be discarded.
const LINGER: Duration = Duration::from_secs(2);

/// How much the shared read buffer asks the kernel for in one read.
const READ_CHUNK: usize = 64 * 1024;

/// How much a connection's own (partial-frame) buffer grows by at a time: partial frames
/// are usually small, and small buffers can go back to the reactor's pool.
const OWN_CHUNK: usize = 8 * 1024;

struct UserTimer {
    id: TimerId,
    key: TimerKey,
    period: Option<Duration>,
}

/// The connection state a [`Context`](crate::Context) may touch (everything but the read
/// buffer and the pipeline).
pub(crate) struct ConnCore {
    pub(crate) id: ConnectionId,
    pub(crate) token: Token,
    pub(crate) peer: SocketAddr,
    pub(crate) io: Io,
    pub(crate) out: Outbound,
    /// Reading paused by the handler (`Context::pause_read`).
    pub(crate) user_paused: bool,
    /// Reading paused because output is above the high watermark.
    backpressure_paused: bool,
    /// The peer closed its sending side; set when a read returns 0.
    pub(crate) peer_eof: bool,
    /// `poll` reported a hang-up or error: the end of the stream (or a reset) waits behind
    /// the data, so a short read does not mean "drained" and reading goes on to the end.
    hangup_seen: bool,
    /// `on_read_closed` was delivered.
    read_closed_delivered: bool,
    /// Set once a close is requested: why. Reading and dispatching stop.
    closing: Option<CloseReason>,
    /// Our FIN is out (LINGERING): input is read and discarded until EOF.
    fin_sent: bool,
    /// Set when the connection must be removed: the final reason.
    pub(crate) finished: Option<CloseReason>,
    /// User code panicked: the pipeline is never called again.
    panicked: bool,
    /// `WRITABLE` interest is registered (only while output is blocked).
    write_interest: bool,
    /// On the reactor's dirty list (flush at the end of the turn).
    dirty: bool,
    last_read: Instant,
    last_write: Instant,
    /// When each idle kind (read, write, all) was last reported.
    idle_reported: [Option<Instant>; 3],
    idle_timer: Option<TimerKey>,
    close_timer: Option<TimerKey>,
    /// When `close_timer` fires.
    close_deadline: Option<Instant>,
    user_timers: Vec<UserTimer>,
    /// Groups this connection joined (left automatically when it closes).
    pub(crate) groups: Vec<std::sync::Weak<crate::group::GroupShared>>,
    /// What other threads see of this connection; made by the first handle or offload.
    shared: Option<Arc<ConnShared>>,
    /// The output limit was reached: nothing more is queued (but a last reply).
    overflowed: bool,
    /// `overflowed` was set and the handler has not been told yet.
    overflow_notice: bool,
    /// Set while the handler writes its last reply after the output limit was reached.
    last_reply: bool,
    /// When the frame the decoder is waiting for began (its first byte arrived); `None`
    /// between frames and while reading is paused.
    frame_since: Option<Instant>,
    frame_timer: Option<TimerKey>,
}

impl ConnCore {
    pub(crate) fn accepts_writes(&self) -> bool {
        (self.closing.is_none() || self.last_reply) && self.finished.is_none()
    }

    /// The state other threads share with this connection, made on first use.
    pub(crate) fn shared_state(&mut self) -> &Arc<ConnShared> {
        let (cost, limit) = (self.out.cost(), self.out.limit());
        self.shared
            .get_or_insert_with(|| ConnShared::new(cost, limit))
    }

    /// Queues a chunk of pre-encoded bytes, unless it would pass the output limit.
    pub(crate) fn queue_chunk(&mut self, bytes: Bytes, shared: bool) {
        if !self.accepts_writes() {
            return;
        }
        if !self.last_reply
            && self
                .out
                .would_pass_limit(Outbound::chunk_cost(&bytes, shared))
        {
            self.output_overflow(bytes.len());
            return;
        }
        self.out.push_chunk(bytes, shared);
    }

    /// Called when the encoder appended to the tail since `before`: undoes it if that
    /// passed the output limit.
    #[inline]
    pub(crate) fn check_limit_after_encode(&mut self, before: usize) {
        if !self.last_reply && self.out.cost() > self.out.limit() {
            let len = self.out.tail_len() - before;
            self.out.truncate_tail(before);
            self.output_overflow(len);
        }
    }

    /// The output limit would have been passed by a message of `len` bytes: it was not
    /// queued, and the connection closes as a slow consumer (after its last reply).
    pub(crate) fn output_overflow(&mut self, len: usize) {
        if self.overflowed {
            return;
        }
        self.overflowed = true;
        self.overflow_notice = true;
        if let Some(suppressed) = flood::admit(flood::Kind::SlowConsumer) {
            tracing::warn!(
                conn = %self.id,
                peer = %self.peer,
                queued = self.out.cost(),
                limit = self.out.limit(),
                message = len,
                suppressed,
                "output limit reached; closing the connection as a slow consumer"
            );
        }
        self.request_close(CloseReason::SlowConsumer);
    }

    /// Takes the pending "output limit reached" notice: true once.
    pub(crate) fn take_overflow_notice(&mut self) -> bool {
        std::mem::take(&mut self.overflow_notice)
    }

    /// Runs `f` (the handler's `on_output_limit`) with a last reply allowed past the limit.
    pub(crate) fn with_last_reply(&mut self, f: impl FnOnce(&mut Self)) {
        self.last_reply = true;
        f(self);
        self.last_reply = false;
    }

    /// Records what the decoder said when it stopped: `waiting` for the rest of a frame or
    /// not, after delivering frames (`progressed`) or not. Drives the frame deadline.
    #[inline]
    pub(crate) fn note_frame(&mut self, waiting: bool, progressed: bool, now: Instant) {
        if !waiting {
            self.frame_since = None;
        } else if progressed || self.frame_since.is_none() {
            self.frame_since = Some(now);
        }
    }

    fn arm_frame_timer(&mut self, reactor: &mut ReactorCore) {
        let (Some(since), Some(timeout), None) = (
            self.frame_since,
            reactor.config().frame_timeout,
            self.frame_timer,
        ) else {
            return;
        };
        self.frame_timer = Some(reactor.insert_timer(
            deadline_after(since, timeout),
            TimerEvent::FrameDeadline(self.token),
        ));
    }

    pub(crate) fn may_dispatch(&self) -> bool {
        self.closing.is_none()
            && self.finished.is_none()
            && !self.panicked
            && !self.user_paused
            && !self.backpressure_paused
    }

    fn may_read(&self) -> bool {
        self.may_dispatch() && !self.peer_eof
    }

    /// Starts a graceful close (flush, FIN, linger); the first reason given sticks.
    pub(crate) fn request_close(&mut self, reason: CloseReason) {
        // A handler closing after the peer's end of stream completes the peer's close.
        let reason = match reason {
            CloseReason::Closed if self.peer_eof => CloseReason::PeerClosed,
            other => other,
        };
        if self.closing.is_none() && self.finished.is_none() {
            self.closing = Some(reason);
        }
    }

    /// Closes now, discarding queued output.
    pub(crate) fn abort(&mut self, reason: CloseReason) {
        self.out.clear();
        self.overflow_notice = false;
        if self.finished.is_none() {
            self.finished = Some(reason);
        }
    }

    /// Logs why the connection must close, then closes it gracefully.
    pub(crate) fn fail(&mut self, reason: CloseReason, detail: &dyn fmt::Display) {
        if let Some(suppressed) = flood::admit(flood::Kind::Failure) {
            tracing::warn!(conn = %self.id, peer = %self.peer, %reason, suppressed, "closing connection: {detail}");
        }
        self.request_close(reason);
    }

    fn io_failed(&mut self, op: &str, err: &io::Error) {
        if net::is_disconnect(err) {
            tracing::debug!(conn = %self.id, error = %err, "{op} failed: peer gone");
        } else {
            tracing::warn!(conn = %self.id, error = %err, "{op} failed");
        }
        self.abort(CloseReason::Reset);
    }

    pub(crate) fn apply_backpressure(&mut self, reactor: &mut ReactorCore, writable: bool) {
        if !reactor.config().pause_read_when_unwritable {
            return;
        }
        if !writable {
            self.backpressure_paused = true;
        } else if std::mem::take(&mut self.backpressure_paused) {
            reactor.mark_ready(self.token);
        }
    }

    /// Sends what is queued; registers `WRITABLE` interest only while the kernel is full.
    pub(crate) fn flush(&mut self, reactor: &mut ReactorCore) {
        if self.finished.is_some() || (self.out.is_empty() && !self.write_interest) {
            return;
        }
        match self.out.write_to(&mut self.io) {
            Ok((written, flushed)) => {
                if written > 0 {
                    reactor.counters().wrote(written);
                    self.last_write = reactor.now();
                }
                let want_writable = flushed == Flushed::Blocked;
                if want_writable != self.write_interest {
                    let interest = if want_writable {
                        Interest::READABLE | Interest::WRITABLE
                    } else {
                        Interest::READABLE
                    };
                    let token = self.token;
                    if let Some(stream) = self.io.tcp() {
                        if let Err(e) = reactor.registry().reregister(stream, token, interest) {
                            self.io_failed("reregister", &e);
                            return;
                        }
                    }
                    self.write_interest = want_writable;
                }
            }
            Err(e) => self.io_failed("write", &e),
        }
    }

    /// Tells other threads how much output is queued (for their admission check).
    #[inline]
    fn publish(&self) {
        if let Some(shared) = &self.shared {
            shared.publish(self.out.cost(), self.out.limit());
        }
    }

    /// Queues this connection for the end-of-turn flush.
    fn mark_dirty(&mut self, reactor: &mut ReactorCore) {
        if !self.dirty && !self.out.is_empty() {
            self.dirty = true;
            reactor.mark_dirty(self.token);
        }
    }

    /// Moves a closing connection along: FIN once drained, and a deadline for it all.
    fn progress_close(&mut self, reactor: &mut ReactorCore) {
        let Some(reason) = self.closing else { return };
        if self.finished.is_some() {
            return;
        }
        if self.close_timer.is_none() {
            let deadline = reactor.now() + reactor.config().close_timeout;
            self.arm_close_deadline(reactor, deadline);
        }
        if self.fin_sent || !self.out.is_empty() {
            return;
        }
        self.fin_sent = true;
        if self.peer_eof {
            self.finished = Some(reason);
            return;
        }
        if let Err(e) = self.io.shutdown_write() {
            self.io_failed("shutdown", &e);
            return;
        }
        // LINGERING: the peer's EOF (or the deadline) ends it; anything it still sends must
        // be read, because closing a socket with unread input sends a reset.
        let linger_end = reactor.now() + LINGER;
        if self.close_deadline.is_none_or(|d| linger_end < d) {
            self.arm_close_deadline(reactor, linger_end);
        }
        reactor.mark_ready(self.token);
    }

    fn arm_close_deadline(&mut self, reactor: &mut ReactorCore, deadline: Instant) {
        if let Some(key) = self.close_timer.take() {
            reactor.cancel_timer(key);
        }
        self.close_deadline = Some(deadline);
        self.close_timer =
            Some(reactor.insert_timer(deadline, TimerEvent::CloseDeadline(self.token)));
    }

    pub(crate) fn schedule(
        &mut self,
        reactor: &mut ReactorCore,
        delay: Duration,
        period: Option<Duration>,
    ) -> TimerId {
        let id = reactor.new_timer_id();
        let key = reactor.insert_timer(
            deadline_after(reactor.now(), delay),
            TimerEvent::User(self.token, id),
        );
        self.user_timers.push(UserTimer { id, key, period });
        id
    }

    pub(crate) fn cancel_timer(&mut self, reactor: &mut ReactorCore, id: TimerId) -> bool {
        match self.user_timers.iter().position(|t| t.id == id) {
            Some(i) => {
                let timer = self.user_timers.swap_remove(i);
                reactor.cancel_timer(timer.key);
                true
            }
            None => false,
        }
    }

    fn idle_since(&self, kind: Idle) -> Instant {
        let activity = match kind {
            Idle::Read => self.last_read,
            Idle::Write => self.last_write,
            Idle::All => self.last_read.max(self.last_write),
        };
        match self.idle_reported[kind as usize] {
            Some(reported) => activity.max(reported),
            None => activity,
        }
    }

    /// (Re)arms the one idle timer of this connection at the earliest idle deadline.
    fn arm_idle(&mut self, reactor: &mut ReactorCore) {
        let idle = reactor.config().idle;
        let deadline = [Idle::Read, Idle::Write, Idle::All]
            .into_iter()
            .filter_map(|kind| Some(self.idle_since(kind) + idle.get(kind)?))
            .min();
        if let Some(deadline) = deadline {
            self.idle_timer = Some(reactor.insert_timer(deadline, TimerEvent::Idle(self.token)));
        }
    }
}

/// A connection: the state a context may touch, the read buffer, and the pipeline.
pub(crate) struct Connection<P> {
    pub(crate) core: ConnCore,
    /// A partial frame (or frames left undelivered by a pause); empty, with no allocation,
    /// whenever the connection is between frames.
    read_buf: BytesMut,
    pipeline: P,
    /// This connection's place in the server's open count, given back when it is dropped.
    _permit: OpenPermit,
}

/// Runs user code; a panic marks the connection broken and closes it.
fn guarded(core: &mut ConnCore, f: impl FnOnce(&mut ConnCore)) {
    if core.panicked {
        return;
    }
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| f(&mut *core))) {
        core.panicked = true;
        let message = panic_message(&*payload);
        if let Some(suppressed) = flood::admit(flood::Kind::Panic) {
            tracing::error!(conn = %core.id, peer = %core.peer, suppressed, "handler panicked: {message}");
        }
        core.request_close(CloseReason::HandlerPanic);
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string panic payload)"
    }
}

impl<P: Drive> Connection<P> {
    pub(crate) fn new(
        id: ConnectionId,
        token: Token,
        io: Io,
        peer: SocketAddr,
        pipeline: P,
        permit: OpenPermit,
        reactor: &ReactorCore,
    ) -> Self {
        Connection {
            core: ConnCore {
                id,
                token,
                peer,
                io,
                out: Outbound::new(reactor.config().watermarks, reactor.config().output_limit),
                user_paused: false,
                backpressure_paused: false,
                peer_eof: false,
                hangup_seen: false,
                read_closed_delivered: false,
                closing: None,
                fin_sent: false,
                finished: None,
                panicked: false,
                write_interest: false,
                dirty: false,
                last_read: reactor.now(),
                last_write: reactor.now(),
                idle_reported: [None; 3],
                idle_timer: None,
                close_timer: None,
                close_deadline: None,
                user_timers: Vec::new(),
                groups: Vec::new(),
                shared: None,
                overflowed: false,
                overflow_notice: false,
                last_reply: false,
                frame_since: None,
                frame_timer: None,
            },
            read_buf: BytesMut::new(),
            pipeline,
            _permit: permit,
        }
    }

    /// The connection was registered: tell the pipeline, arm the idle timer.
    pub(crate) fn activate(&mut self, reactor: &mut ReactorCore) {
        let Connection { core, pipeline, .. } = self;
        guarded(core, |core| pipeline.active(core, reactor));
        core.arm_idle(reactor);
        self.settle(reactor, true);
    }

    /// A readiness event from `poll`.
    pub(crate) fn on_event(
        &mut self,
        reactor: &mut ReactorCore,
        scratch: &mut BytesMut,
        readable: bool,
        writable: bool,
        hangup: bool,
    ) {
        self.core.hangup_seen |= hangup;
        if writable {
            self.core.flush(reactor);
        }
        if readable {
            self.on_readable(reactor, scratch);
        } else {
            self.settle(reactor, false);
        }
    }

    /// Reads and delivers within the per-turn budget (see the module docs).
    pub(crate) fn on_readable(&mut self, reactor: &mut ReactorCore, scratch: &mut BytesMut) {
        if self.core.finished.is_some() {
            return;
        }
        if self.core.fin_sent {
            self.discard_input(reactor, scratch);
            return;
        }
        let Connection {
            core,
            read_buf,
            pipeline,
            ..
        } = self;
        let mut decoded = 0;
        // Frames left buffered by a pause go first.
        if !read_buf.is_empty() && core.may_dispatch() {
            guarded(core, |core| {
                decoded += pipeline.dispatch(read_buf, core, reactor)
            });
        }
        let budget = reactor.config().read_budget;
        let mut total = 0;
        while core.may_read() {
            let own = !read_buf.is_empty();
            let buf: &mut BytesMut = if own { read_buf } else { scratch };
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(if own { OWN_CHUNK } else { READ_CHUNK });
            }
            let want = (buf.capacity() - buf.len()).min(budget - total);
            let n = match core.io.read_into(buf, want) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    core.io_failed("read", &e);
                    return;
                }
            };
            if n == 0 {
                core.peer_eof = true;
            } else {
                total += n;
                core.last_read = reactor.now();
                reactor.counters().read(n);
            }
            guarded(core, |core| {
                decoded += pipeline.dispatch(buf, core, reactor)
            });
            if !own && !scratch.is_empty() {
                if read_buf.capacity() == 0 {
                    *read_buf = reactor.take_partial_buffer();
                }
                read_buf.extend_from_slice(scratch);
                scratch.clear();
            }
            if n < want && !core.hangup_seen {
                break; // drained for now: another read would only say WouldBlock
            }
            if total >= budget {
                reactor.mark_ready(core.token); // more to read: next turn, after the others
                break;
            }
        }
        if read_buf.is_empty() && read_buf.capacity() > 0 {
            reactor.give_partial_buffer(std::mem::take(read_buf));
        }
        core.arm_frame_timer(reactor);
        if decoded > 0 && core.finished.is_none() {
            guarded(core, |core| pipeline.read_complete(core, reactor));
        }
        if core.peer_eof && read_buf.is_empty() && !core.read_closed_delivered {
            core.read_closed_delivered = true;
            if core.may_dispatch() {
                guarded(core, |core| pipeline.read_closed(core, reactor));
            } else {
                core.request_close(CloseReason::PeerClosed);
            }
        }
        self.settle(reactor, true);
    }

    /// LINGERING: read and drop input until the peer's EOF.
    fn discard_input(&mut self, reactor: &mut ReactorCore, scratch: &mut BytesMut) {
        let core = &mut self.core;
        let mut total = 0;
        loop {
            scratch.clear();
            scratch.reserve(READ_CHUNK);
            let want = scratch.capacity();
            match core.io.read_into(scratch, want) {
                Ok(0) => {
                    core.peer_eof = true;
                    core.finished = core.closing;
                    break;
                }
                Ok(n) => {
                    reactor.counters().read(n);
                    total += n;
                    if n < want && !core.hangup_seen {
                        break;
                    }
                    if total >= reactor.config().read_budget {
                        reactor.mark_ready(core.token);
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    // The peer reset after our FIN: everything owed was already sent.
                    core.finished = core.closing;
                    break;
                }
            }
        }
        scratch.clear();
    }

    /// After any event: flush (now, or at the end of the turn), deliver writability
    /// notices, and move a closing connection along.
    fn settle(&mut self, reactor: &mut ReactorCore, flush_now: bool) {
        let Connection { core, pipeline, .. } = self;
        if core.finished.is_some() {
            return;
        }
        if flush_now {
            core.flush(reactor);
        } else {
            core.mark_dirty(reactor);
        }
        guarded(core, |core| pipeline.writability(core, reactor));
        core.publish();
        core.progress_close(reactor);
    }

    /// The end-of-turn flush for a connection on the dirty list.
    pub(crate) fn flush_dirty(&mut self, reactor: &mut ReactorCore) {
        self.core.dirty = false;
        self.settle(reactor, true);
    }

    /// Pre-encoded bytes from a [`ConnectionHandle`](crate::ConnectionHandle) or a group,
    /// charged to this connection (and so admitted under its limit) when they were posted:
    /// they are queued without a second check, which could only refuse what the sender was
    /// told had been taken.
    pub(crate) fn write_posted(&mut self, reactor: &mut ReactorCore, bytes: Bytes) {
        if let Some(shared) = &self.core.shared {
            shared.delivered(posted_cost(bytes.len()));
        }
        if self.core.accepts_writes() && !self.core.overflowed {
            self.core.out.push_chunk(bytes, false);
            self.settle(reactor, false);
        }
    }

    /// A close requested through a handle, or by a broadcast that found it over its limit.
    pub(crate) fn close(&mut self, reactor: &mut ReactorCore, how: CloseHow) {
        match how {
            CloseHow::Abort => self.core.abort(CloseReason::Aborted),
            CloseHow::Graceful => {
                self.core.request_close(CloseReason::Closed);
                self.settle(reactor, false);
            }
            CloseHow::SlowConsumer => {
                self.core.output_overflow(0);
                self.settle(reactor, false);
            }
        }
    }

    /// Server shutdown: close gracefully, abort whatever is left at `deadline`.
    pub(crate) fn shutdown(&mut self, reactor: &mut ReactorCore, deadline: Instant) {
        self.core.request_close(CloseReason::Shutdown);
        self.core.arm_close_deadline(reactor, deadline);
        self.settle(reactor, true);
    }

    /// An offload continuation or task for this connection.
    pub(crate) fn continuation(&mut self, reactor: &mut ReactorCore, call: Box<dyn Any + Send>) {
        let Connection { core, pipeline, .. } = self;
        if core.finished.is_some() {
            return; // the connection is gone: the result is dropped quietly
        }
        guarded(core, |core| pipeline.continuation(core, reactor, call));
        self.settle(reactor, false);
    }

    /// A timer of this connection fired.
    pub(crate) fn on_timer(&mut self, reactor: &mut ReactorCore, key: TimerKey, event: TimerEvent) {
        let Connection { core, pipeline, .. } = self;
        match event {
            TimerEvent::Idle(_) => {
                if core.idle_timer != Some(key) {
                    return;
                }
                core.idle_timer = None;
                if !core.accepts_writes() {
                    return;
                }
                let idle = reactor.config().idle;
                for kind in [Idle::Read, Idle::Write, Idle::All] {
                    let Some(timeout) = idle.get(kind) else {
                        continue;
                    };
                    if reactor.now() >= core.idle_since(kind) + timeout {
                        core.idle_reported[kind as usize] = Some(reactor.now());
                        guarded(core, |core| pipeline.idle(core, reactor, kind));
                    }
                }
                if core.accepts_writes() {
                    core.arm_idle(reactor);
                }
            }
            TimerEvent::User(_, id) => {
                let Some(i) = core.user_timers.iter().position(|t| t.id == id) else {
                    return;
                };
                match core.user_timers[i].period {
                    Some(period) => {
                        let next = reactor.now() + period;
                        core.user_timers[i].key =
                            reactor.insert_timer(next, TimerEvent::User(core.token, id));
                    }
                    None => {
                        core.user_timers.swap_remove(i);
                    }
                }
                if core.accepts_writes() {
                    guarded(core, |core| pipeline.timer(core, reactor, id));
                }
            }
            TimerEvent::FrameDeadline(_) => {
                if core.frame_timer != Some(key) {
                    return;
                }
                core.frame_timer = None;
                let (Some(since), Some(timeout)) =
                    (core.frame_since, reactor.config().frame_timeout)
                else {
                    return;
                };
                let due = deadline_after(since, timeout);
                if reactor.now() < due {
                    core.arm_frame_timer(reactor); // the frame began later than we armed for
                    return;
                }
                if core.accepts_writes() {
                    core.fail(
                        CloseReason::FrameTimeout,
                        &format_args!("a frame was still incomplete after {timeout:?}"),
                    );
                }
            }
            TimerEvent::CloseDeadline(_) => {
                if core.close_timer != Some(key) {
                    return;
                }
                core.close_timer = None;
                let reason = core.closing.unwrap_or(CloseReason::CloseTimeout);
                if core.out.is_empty() {
                    core.finished = Some(reason);
                } else {
                    tracing::debug!(conn = %core.id, pending = core.out.pending(), "close deadline passed, output discarded");
                    // A reason that already says why the peer is behind stays; an ordinary
                    // close whose output was cut off becomes a close timeout.
                    core.abort(match reason {
                        CloseReason::Shutdown
                        | CloseReason::SlowConsumer
                        | CloseReason::FrameTimeout => reason,
                        _ => CloseReason::CloseTimeout,
                    });
                }
                return;
            }
        }
        self.settle(reactor, false);
    }

    /// Removes the connection: timers, registration, `on_inactive`, counters.
    pub(crate) fn finish(mut self, reactor: &mut ReactorCore) {
        let reason = self.core.finished.unwrap_or(CloseReason::Reset);
        let Connection { core, pipeline, .. } = &mut self;
        for timer in core.user_timers.drain(..) {
            reactor.cancel_timer(timer.key);
        }
        for key in [
            core.idle_timer.take(),
            core.close_timer.take(),
            core.frame_timer.take(),
        ]
        .into_iter()
        .flatten()
        {
            reactor.cancel_timer(key);
        }
        if let Some(shared) = &core.shared {
            shared.close();
        }
        crate::group::leave_all(&mut core.groups, core.id);
        if let Some(stream) = core.io.tcp() {
            if let Err(e) = reactor.registry().deregister(stream) {
                tracing::debug!(conn = %core.id, error = %e, "deregister failed");
            }
        }
        guarded(core, |core| pipeline.inactive(core, reactor, reason));
        if reason.is_failure() {
            if let Some(suppressed) = flood::admit(flood::Kind::Closed) {
                tracing::info!(conn = %core.id, peer = %core.peer, %reason, suppressed, "connection closed");
            }
        } else {
            tracing::debug!(conn = %core.id, peer = %core.peer, %reason, "connection closed");
        }
    }
}
