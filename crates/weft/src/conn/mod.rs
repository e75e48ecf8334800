//! One connection: its socket, buffers and state, and how it drives its pipeline.
//!
//! # States
//!
//! Reading and writing are independent axes, so a half-close is just "reading closed". The
//! close progression is the type `state::Phase`, the reading axis `state::Reading`; every
//! transition below is a method there, labelled with these words:
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
//! # Files
//!
//! `read.rs` reading and dispatch, `write.rs` the output limit and flushing, `close.rs`
//! the close progression and removal, `timers.rs` idle, frame, user and close timers,
//! `guard.rs` the panic guard around user code, `state.rs` the lifecycle types,
//! `outbound.rs` the queue, `transport.rs` the socket (TLS, or in-memory) I/O, `tls.rs` the
//! TLS handshake before the pipeline becomes active, `drive.rs` the
//! events a pipeline receives, `proxy.rs` the PROXY protocol header read before the pipeline
//! becomes active.
//!
//! # Reading
//!
//! Readiness is edge-triggered. A readable connection is read until the kernel has nothing
//! more (a read shorter than asked, `WouldBlock` or end of stream) or until its per-turn
//! budget is spent; in the latter case it goes on the reactor's ready list and is served
//! again next turn, after every other ready connection had its turn.
//!
//! Bytes are read into the reactor's read buffer unless this connection holds a partial
//! frame, in which case they are appended to its own buffer. Frames are split off whichever
//! buffer holds them; a partial frame left in the reactor's read buffer moves to the connection's
//! own. So an idle connection, or one whose frames arrive whole, owns no read buffer. The
//! buffers for partial frames come from a small per-reactor pool and go back to it once
//! they drain, so a read that ends mid-frame allocates nothing in steady state either.

mod close;
mod drive;
mod guard;
mod link;
mod outbound;
mod pipe;
mod proxy;
mod read;
mod state;
mod timers;
mod tls;
mod transport;
mod write;

pub(crate) use drive::Drive;
pub(crate) use link::{pump, DialRequest, Notify, OnConnect, RemoteDial};
pub(crate) use outbound::{Flushed, Outbound};
pub(crate) use pipe::{NoPipeline, Pipe};
#[cfg(feature = "test-util")]
pub(crate) use transport::MemoryIo;
pub(crate) use transport::{Io, TlsIo};

use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use mio::Token;

use crate::admission::OpenPermit;
use crate::clock::Moment;
use crate::error::CloseReason;
use crate::id::{ConnectionId, TimerId};
use crate::metrics::Callback;
use crate::services::ReactorCore;
use crate::shared::ConnShared;
use crate::timer::TimerKey;
use guard::guarded;
use state::{Phase, Reading};

struct UserTimer {
    id: TimerId,
    key: TimerKey,
    period: Option<Duration>,
}

/// The parts of a connection most connections never use, kept out of line: an idle
/// connection's slot in the reactor's slab is what it costs in memory.
#[derive(Default)]
pub(crate) struct Cold {
    /// When each idle kind (read, write, all) was last reported.
    idle_reported: [Option<Moment>; 3],
    user_timers: Vec<UserTimer>,
    /// Groups this connection joined (left automatically when it closes).
    pub(crate) groups: Vec<std::sync::Weak<crate::group::GroupShared>>,
    /// The PROXY header read, and the socket's own peer; `None` without the PROXY protocol.
    proxied: Option<proxy::Proxied>,
}

/// The connection state a [`Context`](crate::Context) may touch (everything but the read
/// buffer and the pipeline).
pub(crate) struct ConnCore {
    pub(crate) id: ConnectionId,
    pub(crate) token: Token,
    pub(crate) peer: SocketAddr,
    pub(crate) io: Io,
    pub(crate) out: Outbound,
    /// Where the connection is in its close (see `state.rs`).
    phase: Phase,
    /// Whether it may read (see `state.rs`).
    pub(crate) reading: Reading,
    /// User code panicked: the pipeline is never called again.
    panicked: bool,
    /// `WRITABLE` interest is registered (only while output is blocked).
    write_interest: bool,
    /// On the reactor's dirty list (flush at the end of the turn).
    dirty: bool,
    /// The output limit was reached: nothing more is queued (but a last reply).
    overflowed: bool,
    /// `overflowed` was set and the handler has not been told yet.
    overflow_notice: bool,
    /// Set while the handler writes its last reply after the output limit was reached.
    last_reply: bool,
    last_read: Moment,
    last_write: Moment,
    idle_timer: Option<TimerKey>,
    close_timer: Option<TimerKey>,
    /// When `close_timer` fires.
    close_deadline: Option<Moment>,
    /// When the frame the decoder is waiting for began (its first byte arrived); `None`
    /// between frames and while reading is paused.
    frame_since: Option<Moment>,
    /// The frame deadline; before the pipeline is active, the PROXY header's deadline
    /// (the one frame that must arrive first), so the two never share a connection's life.
    frame_timer: Option<TimerKey>,
    /// User timers, groups, idle reports: boxed when first needed, so an idle connection
    /// that uses none of them stays small (see `Cold`).
    cold: Option<Box<Cold>>,
    /// What other threads see of this connection; made by the first handle or offload.
    shared: Option<Arc<ConnShared>>,
    /// Dials, a dial under way, a splice (see `link.rs`); `None` for most connections.
    link: Option<Box<link::Link>>,
    /// An accepted connection's PROXY header is still awaited: its pipeline is not active
    /// yet (see `proxy.rs`). Cleared once the header is read; stays set on a refusal.
    awaiting_header: bool,
}

impl ConnCore {
    /// True while writes are queued: ACTIVE (and a last reply while closing).
    #[inline]
    pub(crate) fn accepts_writes(&self) -> bool {
        self.phase.is_active() || (self.last_reply && self.phase.closing_reason().is_some())
    }

    /// True while decoded frames may be delivered: ACTIVE, not paused, pipeline whole.
    #[inline]
    pub(crate) fn may_dispatch(&self) -> bool {
        self.phase.is_active() && !self.panicked && self.reading.unpaused()
    }

    /// True while the socket may be read for frames: as dispatching, before end of stream.
    #[inline]
    fn may_read(&self) -> bool {
        self.may_dispatch() && !self.reading.peer_eof
    }

    /// True once the connection must be removed.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.phase.is_closed()
    }

    /// Why the connection closed, once it has.
    #[cfg_attr(not(feature = "test-util"), allow(dead_code))]
    pub(crate) fn close_reason(&self) -> Option<CloseReason> {
        self.phase.closed_reason()
    }

    /// The out-of-line parts, made on first use.
    pub(crate) fn cold_mut(&mut self) -> &mut Cold {
        self.cold.get_or_insert_with(Box::default)
    }

    /// The state other threads share with this connection, made on first use.
    pub(crate) fn shared_state(&mut self) -> &Arc<ConnShared> {
        let (cost, limit) = (self.out.cost(), self.out.limit());
        self.shared
            .get_or_insert_with(|| ConnShared::new(cost, limit))
    }
}

/// A connection: the state a context may touch, the read buffer, and the pipeline.
pub(crate) struct Connection<P> {
    pub(crate) core: ConnCore,
    /// A partial frame (or frames left undelivered by a pause); empty, with no allocation,
    /// whenever the connection is between frames.
    read_buf: BytesMut,
    pipeline: P,
    /// This connection's place in the server's open count, given back when it is dropped
    /// (dialled connections do not count against the accept limit).
    _permit: Option<OpenPermit>,
}

impl<P: Drive> Connection<P> {
    pub(crate) fn new(
        id: ConnectionId,
        token: Token,
        io: Io,
        peer: SocketAddr,
        pipeline: P,
        permit: Option<OpenPermit>,
        reactor: &ReactorCore,
    ) -> Self {
        Connection {
            core: ConnCore {
                id,
                token,
                peer,
                io,
                out: Outbound::new(reactor.config().watermarks, reactor.config().output_limit),
                phase: Phase::Active,
                reading: Reading::default(),
                panicked: false,
                write_interest: false,
                dirty: false,
                overflowed: false,
                overflow_notice: false,
                last_reply: false,
                last_read: reactor.now(),
                last_write: reactor.now(),
                idle_timer: None,
                close_timer: None,
                close_deadline: None,
                frame_since: None,
                frame_timer: None,
                cold: None,
                shared: None,
                link: None,
                awaiting_header: false,
            },
            read_buf: BytesMut::new(),
            pipeline,
            _permit: permit,
        }
    }

    /// The pipeline becomes active (the connection was registered, its PROXY header read,
    /// or its dial came up): tell the pipeline, arm the idle timer.
    pub(crate) fn activate(&mut self, reactor: &mut ReactorCore) {
        if self.core.io.awaiting_handshake() {
            self.start_handshake(reactor); // on_active once it completes (see `tls.rs`)
            return;
        }
        let Connection { core, pipeline, .. } = self;
        guarded(core, reactor, Some(Callback::Active), |core, reactor| {
            pipeline.active(core, reactor)
        });
        core.arm_idle(reactor);
        self.settle(reactor, true);
    }

    /// A readiness event from `poll`.
    pub(crate) fn on_event(
        &mut self,
        reactor: &mut ReactorCore,
        reactor_buf: &mut BytesMut,
        readable: bool,
        writable: bool,
        hangup: bool,
    ) {
        self.core.reading.hangup_seen |= hangup;
        if writable {
            self.core.flush(reactor);
        }
        if readable {
            self.on_readable(reactor, reactor_buf);
        } else {
            self.settle(reactor, false);
        }
    }

    /// After any event: flush (now, or at the end of the turn), deliver writability
    /// notices, and move a closing connection along.
    fn settle(&mut self, reactor: &mut ReactorCore, flush_now: bool) {
        let Connection { core, pipeline, .. } = self;
        if core.phase.is_closed() {
            return;
        }
        if flush_now {
            core.flush(reactor);
        } else {
            core.mark_dirty(reactor);
        }
        if core.is_spliced() {
            // A splice's flow control is the coupling's (see `link.rs`), not the pipeline's.
            let _ = core.out.take_writability_change();
            core.advance_splice();
        } else if (core.out.has_writability_change() || core.overflow_notice)
            && !core.io.awaiting_handshake()
        {
            // (Before a TLS handshake completes the pipeline is not active: the notice
            // waits for the settle after `on_active`.)
            guarded(
                core,
                reactor,
                Some(Callback::Writability),
                |core, reactor| pipeline.writability(core, reactor),
            );
        }
        core.check_congestion(reactor);
        core.publish();
        core.progress_close(reactor);
    }

    /// An offload continuation or task for this connection.
    pub(crate) fn continuation(&mut self, reactor: &mut ReactorCore, call: Box<dyn Any + Send>) {
        let Connection { core, pipeline, .. } = self;
        if core.phase.is_closed() {
            return; // the connection is gone: the result is dropped quietly
        }
        guarded(
            core,
            reactor,
            Some(Callback::Continuation),
            |core, reactor| pipeline.continuation(core, reactor, call),
        );
        self.settle(reactor, false);
    }
}
