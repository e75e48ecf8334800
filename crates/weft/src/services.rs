//! The services a reactor lends to the connections it drives, and through them to the
//! handlers' contexts: the turn's clock, the poll registry, the timer wheel, the ready and
//! dirty lists, the inbox, the pool, the partial-frame buffers and the counters.
//!
//! They live below `conn` and `pipeline` (which use them) and below the loop in
//! `reactor/` (which owns them and drains what connections leave in them), so that the
//! dependencies between those layers point one way.

use std::sync::Arc;

use bytes::BytesMut;
use mio::{Registry, Token};

use crate::admission::Admission;
use crate::clock::Moment;
use crate::config::Config;
use crate::id::TimerId;
use crate::inbox::Inbox;
use crate::metrics::{Metrics, ReactorCounters};
use crate::pool::PoolSender;
use crate::timer::{TimerKey, TimerWheel};

/// Buffers lent to connections that hold a partial frame, returned once drained.
///
/// Bounded twice: at most [`PartialBuffers::KEEP`] buffers are kept, and only those no
/// larger than [`PartialBuffers::MAX_CAPACITY`] (a connection that buffered a huge frame
/// gives its memory back to the allocator).
#[derive(Default)]
pub(crate) struct PartialBuffers {
    free: Vec<BytesMut>,
}

impl PartialBuffers {
    const KEEP: usize = 64;
    const MAX_CAPACITY: usize = 32 * 1024;

    /// An empty buffer (from the pool when it has one).
    pub(crate) fn take(&mut self) -> BytesMut {
        self.free.pop().unwrap_or_default()
    }

    /// Returns a drained buffer to the pool (or frees it).
    pub(crate) fn give(&mut self, mut buf: BytesMut) {
        buf.clear();
        if self.free.len() < Self::KEEP && buf.capacity() <= Self::MAX_CAPACITY {
            self.free.push(buf);
        }
    }
}

/// Read chunks the reactor set aside because frames cut from them were still held
/// (written across reactors and not yet sent, or kept by a handler), for reuse once free.
///
/// Frames are slices of the reactor's read chunk, so a chunk whose frames are still out
/// cannot be reused in place when it fills; without this, each such chunk meant a fresh
/// 64 KiB allocation (and a second for its shared header). Parked chunks come back as
/// soon as their frames are dropped, so a steady flow of writes across reactors allocates
/// nothing. At most [`SpareChunks::KEEP`] are parked: a chunk pinned past that is left
/// to its frames, and freed with the last of them.
#[derive(Default)]
pub(crate) struct SpareChunks {
    parked: Vec<BytesMut>,
    /// The read buffer holds a chunk of its own (it starts empty, with nothing to park).
    issued: bool,
}

impl SpareChunks {
    const KEEP: usize = 4;

    /// Gives `buf`, the reactor's (empty) read buffer, room for `chunk` bytes: its own
    /// chunk back if nothing holds it any more, else a parked chunk that is free again,
    /// else a new one (parking the old).
    pub(crate) fn renew(&mut self, buf: &mut BytesMut, chunk: usize) {
        debug_assert!(
            buf.is_empty(),
            "the reactor's read buffer is empty between reads"
        );
        if buf.try_reclaim(chunk) {
            return;
        }
        if let Some(free) = self
            .parked
            .iter_mut()
            .find_map(|c| c.try_reclaim(chunk).then_some(c))
        {
            std::mem::swap(buf, free); // the pinned chunk takes the free one's place
            return;
        }
        let pinned = std::mem::replace(buf, BytesMut::with_capacity(chunk));
        // (An exhausted chunk has no capacity left, so that cannot tell it from the empty
        // buffer the reactor starts with.)
        if std::mem::replace(&mut self.issued, true) && self.parked.len() < Self::KEEP {
            self.parked.push(pinned);
        }
    }
}

/// What a timer of the wheel stands for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TimerEvent {
    /// Check a connection for idleness.
    Idle(Token),
    /// A timer the handler scheduled.
    User(Token, TimerId),
    /// A closing connection's time is up.
    CloseDeadline(Token),
    /// A connection's current frame may have been arriving for too long.
    FrameDeadline(Token),
    /// A dial's attempt (or name lookup) ran out of time.
    ConnectDeadline(Token),
    /// An accepted connection's PROXY protocol header is due.
    ProxyHeaderDeadline(Token),
    /// An accepted or dialled connection's TLS handshake is due.
    TlsHandshakeDeadline(Token),
}

impl TimerEvent {
    /// The connection the timer belongs to.
    pub(crate) fn token(self) -> Token {
        match self {
            TimerEvent::Idle(t)
            | TimerEvent::User(t, _)
            | TimerEvent::CloseDeadline(t)
            | TimerEvent::FrameDeadline(t)
            | TimerEvent::ConnectDeadline(t)
            | TimerEvent::ProxyHeaderDeadline(t)
            | TimerEvent::TlsHandshakeDeadline(t) => t,
        }
    }
}

/// The reactor state a connection and its [`Context`](crate::Context) may use, owned by the
/// reactor's loop and lent to each callback.
///
/// Invariants:
///
/// * `now` is read once per loop turn (after `poll` returns) and only moves forward; every
///   deadline of a turn is computed from it.
/// * The **ready list** may hold the same token twice, and tokens of connections that have
///   closed since: the loop looks each one up in its slab (generation-checked), skips the
///   ones it cannot find, and a connection served twice in a turn finds nothing new to read
///   the second time. So marking is a plain push, with no search.
/// * The **dirty list** holds each token at most once: a connection marks itself only when
///   its own `dirty` flag was clear, and clears it when flushed.
/// * Timer ids are unique within the reactor and never reused.
pub(crate) struct ReactorCore {
    index: usize,
    now: Moment,
    registry: Registry,
    timers: TimerWheel<TimerEvent>,
    /// The next [`TimerId`] to hand out.
    next_timer_id: u64,
    /// Connections to read from this turn without a readiness event (budget spent,
    /// reading resumed, lingering).
    ready: Vec<Token>,
    /// Connections with output queued outside a read batch, flushed at the end of the turn.
    dirty: Vec<Token>,
    inbox: Arc<Inbox>,
    config: Arc<Config>,
    pool: PoolSender,
    /// Buffers for partial frames (see `conn`).
    partial_buffers: PartialBuffers,
    /// Read chunks still held by frames (see [`SpareChunks`]).
    spare_chunks: SpareChunks,
    metrics: Arc<Metrics>,
    /// This reactor's own counters (also in `metrics`), held directly for the hot path.
    counters: Arc<ReactorCounters>,
    admission: Arc<Admission>,
    /// Shutdown began: no new dial starts.
    stopping: bool,
}

impl ReactorCore {
    #[allow(clippy::too_many_arguments)] // every field a reactor is started with
    pub(crate) fn new(
        index: usize,
        registry: Registry,
        inbox: Arc<Inbox>,
        config: Arc<Config>,
        pool: PoolSender,
        metrics: Arc<Metrics>,
        admission: Arc<Admission>,
        now: Moment,
    ) -> Self {
        ReactorCore {
            index,
            now,
            registry,
            timers: TimerWheel::new(now, config.timer_tick),
            next_timer_id: 0,
            ready: Vec::new(),
            dirty: Vec::new(),
            inbox,
            config,
            pool,
            partial_buffers: PartialBuffers::default(),
            spare_chunks: SpareChunks::default(),
            counters: metrics.reactors[index].clone(),
            metrics,
            admission,
            stopping: false,
        }
    }

    /// True once shutdown began (dials fail with `Stopped`).
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// Shutdown began.
    pub(crate) fn set_stopping(&mut self) {
        self.stopping = true;
    }

    /// This reactor's index among the server's reactors.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The turn's clock.
    #[inline]
    pub(crate) fn now(&self) -> Moment {
        self.now
    }

    /// Moves the clock to `now` (the loop, after `poll`; the embedded pipeline's virtual
    /// clock). Never backwards.
    pub(crate) fn set_now(&mut self, now: Moment) {
        self.now = self.now.max(now);
    }

    /// The poll registry, to (de)register sockets.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The server's configuration.
    #[inline]
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// This reactor's inbox (for handles to give out, and tasks to queue).
    pub(crate) fn inbox(&self) -> &Arc<Inbox> {
        &self.inbox
    }

    /// The worker pool.
    pub(crate) fn pool(&self) -> &PoolSender {
        &self.pool
    }

    /// The server's counters.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The server's open-connection count and the acceptor's signal.
    pub(crate) fn admission(&self) -> &Arc<Admission> {
        &self.admission
    }

    /// This reactor's own counters.
    #[inline]
    pub(crate) fn counters(&self) -> &ReactorCounters {
        &self.counters
    }

    /// Arms a timer.
    pub(crate) fn insert_timer(&mut self, deadline: Moment, event: TimerEvent) -> TimerKey {
        self.timers.insert(deadline, event)
    }

    /// Disarms a timer (nothing if it already fired).
    pub(crate) fn cancel_timer(&mut self, key: TimerKey) {
        self.timers.cancel(key);
    }

    /// A fresh id for a user timer.
    pub(crate) fn new_timer_id(&mut self) -> TimerId {
        let id = TimerId(self.next_timer_id);
        self.next_timer_id += 1;
        id
    }

    /// Timers armed now.
    pub(crate) fn timers_armed(&self) -> usize {
        self.timers.len()
    }

    /// When the earliest timer is due.
    pub(crate) fn next_timer_deadline(&mut self) -> Option<Moment> {
        self.timers.next_deadline()
    }

    /// Moves every timer due by `now` into `due`, in deadline order.
    pub(crate) fn expire_timers(&mut self, now: Moment, due: &mut Vec<(TimerKey, TimerEvent)>) {
        self.timers.expire(now, due);
    }

    /// Asks for `token` to be read again this turn (see the ready list's invariant).
    #[inline]
    pub(crate) fn mark_ready(&mut self, token: Token) {
        self.ready.push(token);
    }

    /// Asks for `token` to be flushed at the end of the turn; the caller keeps it on the list
    /// at most once (see the dirty list's invariant).
    pub(crate) fn mark_dirty(&mut self, token: Token) {
        self.dirty.push(token);
    }

    /// True when a connection waits on the ready or the dirty list.
    pub(crate) fn has_work(&self) -> bool {
        self.has_ready() || self.has_dirty()
    }

    /// Connections wait to be read without a readiness event.
    #[inline]
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Connections wait for their end-of-turn flush.
    #[inline]
    pub(crate) fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Swaps the ready list with `into` (which must be empty), so that serving it allocates
    /// nothing and marks made while serving wait for the next round.
    pub(crate) fn take_ready(&mut self, into: &mut Vec<Token>) {
        debug_assert!(into.is_empty());
        std::mem::swap(&mut self.ready, into);
    }

    /// Swaps the dirty list with `into` (which must be empty).
    pub(crate) fn take_dirty(&mut self, into: &mut Vec<Token>) {
        debug_assert!(into.is_empty());
        std::mem::swap(&mut self.dirty, into);
    }

    /// An empty buffer for a partial frame.
    pub(crate) fn take_partial_buffer(&mut self) -> BytesMut {
        self.partial_buffers.take()
    }

    /// Gives a drained partial-frame buffer back.
    pub(crate) fn give_partial_buffer(&mut self, buf: BytesMut) {
        self.partial_buffers.give(buf);
    }

    /// Gives the reactor's empty read buffer room for `chunk` bytes, reusing a chunk
    /// whose frames are all gone when there is one (see [`SpareChunks`]).
    pub(crate) fn renew_read_chunk(&mut self, buf: &mut BytesMut, chunk: usize) {
        self.spare_chunks.renew(buf, chunk);
    }
}
