//! The part of a connection that other threads can see: what they have posted to it and
//! not yet delivered, whether it is still open, and its offloaded jobs.
//!
//! A connection gets one only when something outside its reactor's turn may need it: a
//! [`ConnectionHandle`](crate::ConnectionHandle) (which a group membership holds too) or an
//! offloaded job. A connection that never hands out either (an echo server's) pays nothing.
//!
//! # Accounting bytes in flight
//!
//! A write from another thread is charged to the target connection the moment it is posted,
//! before the reactor has seen it (the rule Netty adopted in netty#1697), so a burst of
//! posts cannot outrun the target's output limit while the commands wait in an inbox:
//!
//! ```text
//!   sender thread                          reactor thread (owner)
//!   ─────────────                          ──────────────────────
//!   cost = len + CHUNK_OVERHEAD
//!   in_flight += cost ──┐
//!   if in_flight + queued > limit:         takes the command:
//!       in_flight -= cost; refuse           in_flight -= cost
//!   else post the command ─────────────►    queue the bytes (Outbound)
//!                                           after every flush: queued = Outbound::cost()
//! ```
//!
//! `queued` is the reactor's last published figure, so a sender may see a little less than
//! the truth (writes the owner made since its last flush); the owner checks the limit again
//! when it queues, so the bound holds either way: at any moment, output queued plus output
//! in flight stays within the limit, give or take one message.
//!
//! What a refusal means depends on the sender: [`ConnectionHandle::write`] hands the bytes
//! back (`WriteError::Full`) and the sender decides; a [`Group`](crate::Group) broadcast
//! cannot wait for one slow member, so it marks that member `OVERFLOWED` and closes it as a
//! slow consumer. A member is marked once; every later post to it is refused, so it never
//! receives a message with an earlier one missing.
//!
//! [`ConnectionHandle::write`]: crate::ConnectionHandle::write

use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

/// What one chunk queued on its own (a pre-encoded write, a handle write, a broadcast)
/// costs beyond its bytes, so that the output limit is a limit on memory even for a stream
/// of tiny messages: its slot in the outbound queue (40 bytes, up to twice that while the
/// queue's ring grows by doubling) and what a `Bytes` made from a `Vec` keeps alive beyond
/// its bytes once shared (the allocator's minimum chunk for a short payload and the shared
/// header: 64 bytes). Measured: a chat client that never reads, flooded with 2-byte
/// messages, grew the server by 1.41 to 1.50 times its limit at 64 bytes here.
pub(crate) const CHUNK_OVERHEAD: usize = 128;

/// What a write posted from another thread is charged: its bytes and one chunk overhead.
pub(crate) fn posted_cost(len: usize) -> usize {
    len + CHUNK_OVERHEAD
}

/// The connection has closed (its reactor removed it).
const CLOSED: u8 = 1;
/// A broadcast found it over its output limit: it is being closed as a slow consumer.
const OVERFLOWED: u8 = 2;

/// How a post to a connection was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Charged to the connection: post the command.
    Admitted,
    /// It would pass the connection's output limit: nothing was charged.
    Full,
    /// The connection is closed, or closing as a slow consumer.
    Closed,
}

/// Shared between a connection's reactor and every thread holding a handle to it.
pub(crate) struct ConnShared {
    /// Cost of bytes posted by other threads that the reactor has not queued yet.
    in_flight: AtomicUsize,
    /// The connection's queued output cost, as its reactor last published it.
    queued: AtomicUsize,
    /// The connection's output limit, as its reactor last published it.
    limit: AtomicUsize,
    /// `CLOSED` and `OVERFLOWED` bits.
    state: AtomicU8,
    /// Offloaded jobs of this connection that are queued or running.
    jobs: AtomicUsize,
}

impl fmt::Debug for ConnShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnShared")
            .field("in_flight", &self.in_flight.load(Ordering::Relaxed))
            .field("queued", &self.queued.load(Ordering::Relaxed))
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish()
    }
}

impl ConnShared {
    pub(crate) fn new(queued: usize, limit: usize) -> Arc<Self> {
        Arc::new(ConnShared {
            in_flight: AtomicUsize::new(0),
            queued: AtomicUsize::new(queued),
            limit: AtomicUsize::new(limit),
            state: AtomicU8::new(0),
            jobs: AtomicUsize::new(0),
        })
    }

    /// Charges `cost` to the connection if it fits under its limit.
    pub(crate) fn admit(&self, cost: usize) -> Admission {
        if self.state.load(Ordering::Acquire) != 0 {
            return Admission::Closed;
        }
        let before = self.in_flight.fetch_add(cost, Ordering::AcqRel);
        let total = before
            .saturating_add(cost)
            .saturating_add(self.queued.load(Ordering::Relaxed));
        if total > self.limit.load(Ordering::Relaxed) {
            self.in_flight.fetch_sub(cost, Ordering::AcqRel);
            return Admission::Full;
        }
        Admission::Admitted
    }

    /// Charges a broadcast of `cost`, judging the connection on its own queue alone: bytes
    /// in flight wait in its reactor's inbox, which is the producer's to slow (see
    /// "Congestion" in `inbox.rs`), not the receiver's fault. Its reactor checks the limit
    /// again when it queues them.
    pub(crate) fn admit_broadcast(&self, cost: usize) -> Admission {
        if self.state.load(Ordering::Acquire) != 0 {
            return Admission::Closed;
        }
        if self.queued.load(Ordering::Relaxed) > self.limit.load(Ordering::Relaxed) {
            return Admission::Full;
        }
        self.in_flight.fetch_add(cost, Ordering::AcqRel);
        Admission::Admitted
    }

    /// Marks the connection as overflowed; true for the one caller that set the mark (and
    /// so must tell the reactor to close it).
    pub(crate) fn mark_overflowed(&self) -> bool {
        self.state.fetch_or(OVERFLOWED, Ordering::AcqRel) & OVERFLOWED == 0
    }

    /// The reactor took a posted write of `cost` (to queue it or to drop it).
    pub(crate) fn delivered(&self, cost: usize) {
        self.in_flight.fetch_sub(cost, Ordering::AcqRel);
    }

    /// The reactor publishes the connection's queued output cost and limit.
    pub(crate) fn publish(&self, queued: usize, limit: usize) {
        self.queued.store(queued, Ordering::Relaxed);
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// The reactor removed the connection.
    pub(crate) fn close(&self) {
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
    }

    /// True once the connection has closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Reserves a place for one more offloaded job, if fewer than `max` are out.
    pub(crate) fn start_job(&self, max: usize) -> bool {
        let mut jobs = self.jobs.load(Ordering::Relaxed);
        loop {
            if jobs >= max {
                return false;
            }
            match self.jobs.compare_exchange_weak(
                jobs,
                jobs + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => jobs = now,
            }
        }
    }

    /// An offloaded job ended (ran, panicked, or was skipped).
    pub(crate) fn end_job(&self) {
        self.jobs.fetch_sub(1, Ordering::AcqRel);
    }

    /// Offloaded jobs queued or running.
    #[cfg(test)]
    pub(crate) fn jobs(&self) -> usize {
        self.jobs.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_counts_in_flight_and_queued_against_the_limit() {
        let shared = ConnShared::new(40, 100);
        assert_eq!(shared.admit(50), Admission::Admitted);
        assert_eq!(shared.admit(20), Admission::Full, "40 + 50 + 20 > 100");
        shared.delivered(50);
        shared.publish(90, 100);
        assert_eq!(shared.admit(10), Admission::Admitted);
        assert_eq!(shared.admit(1), Admission::Full);
    }

    #[test]
    fn an_overflowed_or_closed_connection_refuses_everything() {
        let shared = ConnShared::new(0, 100);
        assert!(shared.mark_overflowed());
        assert!(!shared.mark_overflowed(), "marked once");
        assert_eq!(shared.admit(1), Admission::Closed);
        let shared = ConnShared::new(0, 100);
        shared.close();
        assert!(shared.is_closed());
        assert_eq!(shared.admit(1), Admission::Closed);
    }

    #[test]
    fn jobs_are_capped_per_connection() {
        let shared = ConnShared::new(0, 100);
        assert!(shared.start_job(2));
        assert!(shared.start_job(2));
        assert!(!shared.start_job(2));
        shared.end_job();
        assert!(shared.start_job(2));
        assert_eq!(shared.jobs(), 2);
    }
}
