//! Live counters: per reactor, and for the acceptor.
//!
//! Each reactor writes only its own counters (plain load + store on its own cache line, no
//! locked instruction on the hot path); readers take a [`MetricsSnapshot`] from any thread.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Counters owned by one reactor, on a cache line of their own.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct ReactorCounters {
    open: AtomicUsize,
    accepted: AtomicU64,
    closed: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

/// Adds `n` to a counter that only the calling thread writes.
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

impl ReactorCounters {
    pub(crate) fn opened(&self) {
        self.open.store(self.open.load(Relaxed) + 1, Relaxed);
        bump(&self.accepted, 1);
    }

    pub(crate) fn closed(&self) {
        self.open
            .store(self.open.load(Relaxed).saturating_sub(1), Relaxed);
        bump(&self.closed, 1);
    }

    pub(crate) fn read(&self, n: usize) {
        bump(&self.bytes_read, n as u64);
    }

    pub(crate) fn wrote(&self, n: usize) {
        bump(&self.bytes_written, n as u64);
    }

    fn snapshot(&self) -> ReactorMetrics {
        ReactorMetrics {
            open_connections: self.open.load(Relaxed),
            accepted: self.accepted.load(Relaxed),
            closed: self.closed.load(Relaxed),
            bytes_read: self.bytes_read.load(Relaxed),
            bytes_written: self.bytes_written.load(Relaxed),
        }
    }
}

/// Every counter of one server.
#[derive(Debug)]
pub(crate) struct Metrics {
    pub(crate) reactors: Box<[ReactorCounters]>,
    pub(crate) accept_errors: AtomicU64,
    pub(crate) accept_pauses: AtomicU64,
    /// The next connection id to hand out.
    next_id: AtomicU64,
}

impl Metrics {
    pub(crate) fn new(reactors: usize) -> Self {
        Metrics {
            reactors: (0..reactors).map(|_| ReactorCounters::default()).collect(),
            accept_errors: AtomicU64::new(0),
            accept_pauses: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
        }
    }

    pub(crate) fn next_connection_id(&self) -> crate::ConnectionId {
        crate::id::ConnectionId(self.next_id.fetch_add(1, Relaxed))
    }

    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let reactors: Vec<ReactorMetrics> = self
            .reactors
            .iter()
            .map(ReactorCounters::snapshot)
            .collect();
        MetricsSnapshot {
            open_connections: reactors.iter().map(|r| r.open_connections).sum(),
            accepted: reactors.iter().map(|r| r.accepted).sum(),
            bytes_read: reactors.iter().map(|r| r.bytes_read).sum(),
            bytes_written: reactors.iter().map(|r| r.bytes_written).sum(),
            accept_errors: self.accept_errors.load(Relaxed),
            accept_pauses: self.accept_pauses.load(Relaxed),
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
    /// Connections this reactor has closed.
    pub closed: u64,
    /// Bytes read from peers.
    pub bytes_read: u64,
    /// Bytes written to peers.
    pub bytes_written: u64,
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
    /// Bytes read over all reactors.
    pub bytes_read: u64,
    /// Bytes written over all reactors.
    pub bytes_written: u64,
    /// Failed `accept` calls (other than "nothing to accept").
    pub accept_errors: u64,
    /// Times accepting paused: out of descriptors, or at the connection limit.
    pub accept_pauses: u64,
}
