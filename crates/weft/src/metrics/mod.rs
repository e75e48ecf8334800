//! Live counters and loop health: per reactor, for the acceptor and for the pool; a
//! snapshot any thread can take, and its Prometheus rendering (`prometheus.rs`); what each
//! reactor is doing right now (`activity.rs`), which the watchdog (`watchdog.rs`) reads to
//! report stalls.
//!
//! Each reactor writes only its own counters (plain load + store on its own cache line, no
//! locked instruction on the hot path); readers take a [`MetricsSnapshot`] from any thread.
//! Loop health costs two clock reads per loop turn, never one per message.

mod activity;
mod histogram;
mod prometheus;
pub(crate) mod watchdog;

pub(crate) use activity::{Activity, Callback};
pub use histogram::HistogramSnapshot;
pub use prometheus::PROMETHEUS_CONTENT_TYPE;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{CloseReason, ProxyRejection, TlsFailure};
use histogram::{bump, Histogram};

/// Counters owned by one reactor, on a cache line of their own.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct ReactorCounters {
    open: AtomicUsize,
    accepted: AtomicU64,
    dialled: AtomicU64,
    connect_failures: AtomicU64,
    closed: AtomicU64,
    closed_by: [AtomicU64; CloseReason::ALL.len()],
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    backpressure_pauses: AtomicU64,
    panics: AtomicU64,
    /// PROXY protocol headers read, and connections refused for their header, by cause.
    proxy_headers: AtomicU64,
    proxy_rejected: [AtomicU64; ProxyRejection::ALL.len()],
    /// TLS handshakes completed, and failed by cause.
    tls_handshakes: AtomicU64,
    tls_failed: [AtomicU64; TlsFailure::ALL.len()],
    /// Loop turns, and the time each took (from `poll` returning to the end of the turn).
    turns: Histogram,
    /// Time spent waiting in `poll`.
    idle_ns: AtomicU64,
    /// Readiness events handled.
    events: AtomicU64,
    /// Commands left in the inbox after the last drain, and the most one drain took.
    inbox_depth: AtomicUsize,
    inbox_depth_max: AtomicUsize,
    /// Connections on the ready list at the last serve.
    ready: AtomicUsize,
    /// Timers armed at the end of the last turn.
    timers: AtomicUsize,
    /// Callbacks the watchdog saw run past the stall threshold (written by the watchdog).
    stalls: AtomicU64,
    /// What the reactor is doing now (for the watchdog).
    pub(crate) activity: Activity,
}

/// What one loop turn did, recorded at its end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Turn {
    /// Nanoseconds the turn took, and slept before it.
    pub(crate) busy_ns: u64,
    pub(crate) idle_ns: u64,
    pub(crate) events: usize,
    pub(crate) inbox_depth: usize,
    pub(crate) inbox_seen: usize,
    pub(crate) timers: usize,
}

impl ReactorCounters {
    pub(crate) fn opened(&self) {
        self.open.store(self.open.load(Relaxed) + 1, Relaxed);
        bump(&self.accepted, 1);
    }

    /// A dialled connection came up (it is open from now on, as an accepted one).
    pub(crate) fn dialled(&self) {
        self.open.store(self.open.load(Relaxed) + 1, Relaxed);
        bump(&self.dialled, 1);
    }

    /// A dial failed: every target was tried.
    pub(crate) fn connect_failed(&self) {
        bump(&self.connect_failures, 1);
    }

    pub(crate) fn closed(&self, reason: CloseReason) {
        self.open
            .store(self.open.load(Relaxed).saturating_sub(1), Relaxed);
        bump(&self.closed, 1);
        bump(&self.closed_by[reason.index()], 1);
    }

    #[inline]
    pub(crate) fn read(&self, n: usize) {
        bump(&self.bytes_read, n as u64);
    }

    #[inline]
    pub(crate) fn wrote(&self, n: usize) {
        bump(&self.bytes_written, n as u64);
    }

    pub(crate) fn backpressure_paused(&self) {
        bump(&self.backpressure_pauses, 1);
    }

    pub(crate) fn panicked(&self) {
        bump(&self.panics, 1);
    }

    /// A connection's PROXY header was read.
    pub(crate) fn proxy_header(&self) {
        bump(&self.proxy_headers, 1);
    }

    /// A connection was refused for its PROXY header.
    pub(crate) fn proxy_rejected(&self, cause: ProxyRejection) {
        bump(&self.proxy_rejected[cause.index()], 1);
    }

    /// A connection's TLS handshake completed.
    pub(crate) fn tls_handshake(&self) {
        bump(&self.tls_handshakes, 1);
    }

    /// A connection's TLS handshake failed.
    pub(crate) fn tls_failed(&self, cause: TlsFailure) {
        bump(&self.tls_failed[cause.index()], 1);
    }

    /// The ready list held `len` connections when served.
    #[inline]
    pub(crate) fn ready_served(&self, len: usize) {
        self.ready.store(len, Relaxed);
    }

    /// The end of a loop turn.
    #[inline]
    pub(crate) fn turn(&self, turn: Turn) {
        self.turns.record_ns(turn.busy_ns);
        bump(&self.idle_ns, turn.idle_ns);
        bump(&self.events, turn.events as u64);
        self.inbox_depth.store(turn.inbox_depth, Relaxed);
        if turn.inbox_seen > self.inbox_depth_max.load(Relaxed) {
            self.inbox_depth_max.store(turn.inbox_seen, Relaxed);
        }
        self.timers.store(turn.timers, Relaxed);
    }

    /// A stall was seen (by the watchdog thread).
    pub(crate) fn stalled(&self) {
        self.stalls.fetch_add(1, Relaxed);
    }

    fn snapshot(&self) -> ReactorMetrics {
        let turns = self.turns.snapshot();
        ReactorMetrics {
            open_connections: self.open.load(Relaxed),
            accepted: self.accepted.load(Relaxed),
            dialled: self.dialled.load(Relaxed),
            connect_failures: self.connect_failures.load(Relaxed),
            closed: self.closed.load(Relaxed),
            closed_by: std::array::from_fn(|i| self.closed_by[i].load(Relaxed)),
            bytes_read: self.bytes_read.load(Relaxed),
            bytes_written: self.bytes_written.load(Relaxed),
            backpressure_pauses: self.backpressure_pauses.load(Relaxed),
            panics: self.panics.load(Relaxed),
            proxy_headers: self.proxy_headers.load(Relaxed),
            proxy_rejected: std::array::from_fn(|i| self.proxy_rejected[i].load(Relaxed)),
            tls_handshakes: self.tls_handshakes.load(Relaxed),
            tls_failed: std::array::from_fn(|i| self.tls_failed[i].load(Relaxed)),
            busy: turns.sum(),
            idle: Duration::from_nanos(self.idle_ns.load(Relaxed)),
            turns,
            events: self.events.load(Relaxed),
            inbox_depth: self.inbox_depth.load(Relaxed),
            inbox_depth_max: self.inbox_depth_max.load(Relaxed),
            ready_connections: self.ready.load(Relaxed),
            timers: self.timers.load(Relaxed),
            stalls: self.stalls.load(Relaxed),
        }
    }
}

/// The pool's counters, shared by every pool thread and the reactors that submit.
#[derive(Debug, Default)]
pub(crate) struct PoolCounters {
    /// Jobs submitted and not yet started.
    pub(crate) queued: AtomicUsize,
    /// Jobs that ran (or were skipped), and the time they took.
    pub(crate) jobs: AtomicU64,
    pub(crate) job_ns: AtomicU64,
}

/// Every counter of one server.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// Each reactor's counters; the reactor keeps its own `Arc` (one pointer away).
    pub(crate) reactors: Box<[Arc<ReactorCounters>]>,
    pub(crate) accept_errors: AtomicU64,
    pub(crate) accept_pauses: AtomicU64,
    pub(crate) pool: Arc<PoolCounters>,
    /// The type names of the server's handler and stages, for stall reports.
    pub(crate) pipeline: (&'static str, &'static str),
    /// The next connection id to hand out.
    next_id: AtomicU64,
}

impl Metrics {
    pub(crate) fn new(reactors: usize) -> Self {
        Metrics {
            reactors: (0..reactors)
                .map(|_| Arc::new(ReactorCounters::default()))
                .collect(),
            accept_errors: AtomicU64::new(0),
            accept_pauses: AtomicU64::new(0),
            pool: Arc::new(PoolCounters::default()),
            pipeline: ("?", "?"),
            next_id: AtomicU64::new(1),
        }
    }

    pub(crate) fn next_connection_id(&self) -> crate::ConnectionId {
        crate::id::ConnectionId(self.next_id.fetch_add(1, Relaxed))
    }

    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let reactors: Vec<ReactorMetrics> = self.reactors.iter().map(|r| r.snapshot()).collect();
        MetricsSnapshot {
            open_connections: reactors.iter().map(|r| r.open_connections).sum(),
            accepted: reactors.iter().map(|r| r.accepted).sum(),
            dialled: reactors.iter().map(|r| r.dialled).sum(),
            connect_failures: reactors.iter().map(|r| r.connect_failures).sum(),
            bytes_read: reactors.iter().map(|r| r.bytes_read).sum(),
            bytes_written: reactors.iter().map(|r| r.bytes_written).sum(),
            accept_errors: self.accept_errors.load(Relaxed),
            accept_pauses: self.accept_pauses.load(Relaxed),
            pool_queue_depth: self.pool.queued.load(Relaxed),
            pool_jobs: self.pool.jobs.load(Relaxed),
            pool_job_time: Duration::from_nanos(self.pool.job_ns.load(Relaxed)),
            reactors,
        }
    }
}

/// The counters of one reactor at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReactorMetrics {
    /// Connections this reactor serves now.
    pub open_connections: usize,
    /// Connections handed to this reactor since it started.
    pub accepted: u64,
    /// Dialled connections that came up on this reactor.
    pub dialled: u64,
    /// Dials on this reactor that failed (every target tried).
    pub connect_failures: u64,
    /// Connections this reactor has closed.
    pub closed: u64,
    /// Of those, how many closed for each reason, in [`CloseReason::ALL`] order (see
    /// [`ReactorMetrics::closed_for`]).
    pub closed_by: [u64; CloseReason::ALL.len()],
    /// Bytes read from peers.
    pub bytes_read: u64,
    /// Bytes written to peers.
    pub bytes_written: u64,
    /// Times a connection stopped reading because its output passed the high watermark.
    pub backpressure_pauses: u64,
    /// Panics in user code caught on this reactor.
    pub panics: u64,
    /// PROXY protocol headers read (see
    /// [`ServerBuilder::proxy_protocol`](crate::ServerBuilder::proxy_protocol)).
    pub proxy_headers: u64,
    /// Connections refused for their PROXY header, by cause, in [`ProxyRejection::ALL`]
    /// order (see [`ReactorMetrics::proxy_rejected_for`]).
    pub proxy_rejected: [u64; ProxyRejection::ALL.len()],
    /// TLS handshakes completed (see [`ServerBuilder::tls`](crate::ServerBuilder::tls)).
    pub tls_handshakes: u64,
    /// TLS handshakes failed, by cause, in [`TlsFailure::ALL`] order.
    pub tls_failed: [u64; TlsFailure::ALL.len()],
    /// Loop turns, by how long each took (from `poll` returning to the end of the turn).
    pub turns: HistogramSnapshot,
    /// Time spent working: the sum of every turn.
    pub busy: Duration,
    /// Time spent waiting in `poll`.
    pub idle: Duration,
    /// Readiness events handled.
    pub events: u64,
    /// Commands waiting in the inbox after the last drain.
    pub inbox_depth: usize,
    /// The most commands one drain took from the inbox (at most 4,096 per turn; a drain
    /// that stops there leaves the rest for the next turn, counted in `inbox_depth`).
    pub inbox_depth_max: usize,
    /// Connections on the ready list at its last serve.
    pub ready_connections: usize,
    /// Timers armed at the end of the last turn.
    pub timers: usize,
    /// Callbacks into user code that ran past the stall threshold.
    pub stalls: u64,
}

impl ReactorMetrics {
    /// Connections this reactor closed for `reason`.
    pub fn closed_for(&self, reason: CloseReason) -> u64 {
        self.closed_by[reason.index()]
    }

    /// Connections this reactor refused for their PROXY header, for `cause`.
    pub fn proxy_rejected_for(&self, cause: ProxyRejection) -> u64 {
        self.proxy_rejected[cause.index()]
    }
}

/// The counters of a whole server at one moment (see [`Server::metrics`](crate::Server::metrics)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// One entry per reactor, in reactor order.
    pub reactors: Vec<ReactorMetrics>,
    /// Open connections over all reactors.
    pub open_connections: usize,
    /// Connections accepted since start.
    pub accepted: u64,
    /// Dialled connections that came up since start.
    pub dialled: u64,
    /// Dials that failed since start.
    pub connect_failures: u64,
    /// Bytes read over all reactors.
    pub bytes_read: u64,
    /// Bytes written over all reactors.
    pub bytes_written: u64,
    /// Failed `accept` calls (other than "nothing to accept").
    pub accept_errors: u64,
    /// Times accepting paused: out of descriptors, at the connection limit, or waiting for
    /// a reactor.
    pub accept_pauses: u64,
    /// Offloaded jobs waiting for a pool thread.
    pub pool_queue_depth: usize,
    /// Offloaded jobs that ran (or were skipped because their connection had gone).
    pub pool_jobs: u64,
    /// Time the pool's threads spent running jobs.
    pub pool_job_time: Duration,
}

impl MetricsSnapshot {
    /// Connections closed for `reason`, over all reactors.
    pub fn closed_for(&self, reason: CloseReason) -> u64 {
        self.reactors.iter().map(|r| r.closed_for(reason)).sum()
    }

    /// Callbacks into user code that ran past the stall threshold, over all reactors.
    pub fn stalls(&self) -> u64 {
        self.reactors.iter().map(|r| r.stalls).sum()
    }

    /// PROXY protocol headers read, over all reactors.
    pub fn proxy_headers(&self) -> u64 {
        self.reactors.iter().map(|r| r.proxy_headers).sum()
    }

    /// TLS handshakes completed, over all reactors.
    pub fn tls_handshakes(&self) -> u64 {
        self.reactors.iter().map(|r| r.tls_handshakes).sum()
    }

    /// TLS handshakes failed for `cause`, over all reactors.
    pub fn tls_failed_for(&self, cause: TlsFailure) -> u64 {
        self.reactors
            .iter()
            .map(|r| r.tls_failed[cause.index()])
            .sum()
    }

    /// Connections refused for their PROXY header for `cause`, over all reactors.
    pub fn proxy_rejected_for(&self, cause: ProxyRejection) -> u64 {
        self.reactors
            .iter()
            .map(|r| r.proxy_rejected_for(cause))
            .sum()
    }
}
