//! The worker pool: a fixed set of threads running offloaded CPU work.
//!
//! Handlers never block their reactor; CPU-heavy work goes to the pool with
//! [`Context::offload`](crate::Context::offload). A job runs on a pool thread; its result is
//! posted to the owning reactor's inbox (waking it), and the continuation runs there, on the
//! reactor thread, with the connection's handler and context, or is dropped quietly if the
//! connection has closed meanwhile.
//!
//! The job queue is bounded. When it is full, `offload` returns
//! [`OffloadError`] at once (the reactor must never wait), and the job is not run.
//!
//! # Fairness and cancellation
//!
//! * One connection may have at most
//!   [`jobs_per_connection`](crate::ServerBuilder::jobs_per_connection) jobs queued or
//!   running; beyond that `offload` fails with [`OffloadError::Busy`], so a connection that
//!   asks for a thousand jobs cannot put everyone else's behind them.
//! * A job whose connection has closed before a pool thread picks it up is skipped, not run.
//! * A running job can see that its connection has gone through the [`Cancellation`] that
//!   [`Context::offload_cancellable`](crate::Context::offload_cancellable) gives it, and
//!   stop early; its result would be dropped anyway.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::metrics::PoolCounters;

/// A unit of offloaded work.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// Why a job could not be offloaded. The job (and its continuation) were dropped unrun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffloadError {
    /// The pool's queue is at its capacity
    /// ([`ServerBuilder::pool_queue`](crate::ServerBuilder::pool_queue)).
    Full,
    /// The pool has stopped (the server is shutting down).
    Closed,
    /// This connection already has its maximum of jobs queued or running
    /// ([`ServerBuilder::jobs_per_connection`](crate::ServerBuilder::jobs_per_connection)).
    /// Retry once one of its continuations has run.
    Busy,
}

impl OffloadError {
    /// True when the queue was full (a retry later may succeed).
    pub fn is_full(self) -> bool {
        self == OffloadError::Full
    }
}

impl fmt::Display for OffloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OffloadError::Full => f.write_str("worker pool queue is full"),
            OffloadError::Closed => f.write_str("worker pool has stopped"),
            OffloadError::Busy => f.write_str("this connection has its maximum of jobs out"),
        }
    }
}

impl std::error::Error for OffloadError {}

/// Tells a running job whether the connection that offloaded it is still there.
///
/// Given to the job by [`Context::offload_cancellable`](crate::Context::offload_cancellable).
/// Polling it is one atomic load.
pub struct Cancellation {
    conn: Arc<crate::shared::ConnShared>,
}

impl Cancellation {
    pub(crate) fn new(conn: Arc<crate::shared::ConnShared>) -> Self {
        Cancellation { conn }
    }

    /// True once the connection has closed: the job's result would be dropped, so the job
    /// may as well stop.
    pub fn is_cancelled(&self) -> bool {
        self.conn.is_closed()
    }
}

impl fmt::Debug for Cancellation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancellation")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// The submitting side of the pool, shared by the reactors.
#[derive(Clone)]
pub(crate) struct PoolSender {
    tx: Sender<Job>,
    counters: Arc<PoolCounters>,
}

impl fmt::Debug for PoolSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolSender")
            .field("queued", &self.tx.len())
            .finish()
    }
}

impl PoolSender {
    pub(crate) fn submit(&self, job: Job) -> Result<(), OffloadError> {
        // Counted before the send, so a pool thread never takes a job it has not counted.
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        self.tx.try_send(job).map_err(|e| {
            self.counters.queued.fetch_sub(1, Ordering::Relaxed);
            match e {
                TrySendError::Full(_) => OffloadError::Full,
                TrySendError::Disconnected(_) => OffloadError::Closed,
            }
        })
    }
}

/// A job queue of `capacity` jobs, without threads (the embedded pipeline runs jobs itself).
pub(crate) fn queue(capacity: usize, counters: Arc<PoolCounters>) -> (PoolSender, Receiver<Job>) {
    let (tx, rx) = crossbeam_channel::bounded::<Job>(capacity);
    (PoolSender { tx, counters }, rx)
}

/// Runs one job on the calling thread, counting it.
pub(crate) fn run_job(job: Job, counters: &PoolCounters) {
    counters.queued.fetch_sub(1, Ordering::Relaxed);
    let started = Instant::now();
    if panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
        tracing::error!("an offloaded job panicked; its continuation is dropped");
    }
    let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    counters.jobs.fetch_add(1, Ordering::Relaxed);
    counters.job_ns.fetch_add(took, Ordering::Relaxed);
}

/// Starts `threads` pool threads with a queue of `capacity` jobs.
pub(crate) fn start(
    threads: usize,
    capacity: usize,
    counters: Arc<PoolCounters>,
) -> std::io::Result<(PoolSender, Vec<JoinHandle<()>>)> {
    let (tx, rx) = queue(capacity, counters.clone());
    let handles = (0..threads)
        .map(|i| {
            let rx: Receiver<Job> = rx.clone();
            let counters = counters.clone();
            std::thread::Builder::new()
                .name(format!("weft-pool-{i}"))
                .spawn(move || {
                    // Ends when every sender (the reactors) is gone.
                    for job in rx {
                        run_job(job, &counters);
                    }
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((tx, handles))
}
