//! Admission: how many connections are open, the permit each one holds, and the signal
//! that wakes the acceptor when it waits for room.
//!
//! Every accepted connection holds an [`OpenPermit`] from the moment it is accepted until
//! it is dropped, wherever that happens (registered and later closed, refused during
//! shutdown, failed to register, the factory panicked): the count is kept by one type in
//! one place, not by hand at every exit.
//!
//! # Ordering
//!
//! The acceptor pauses at the connection limit by the handshake in `reactor/acceptor.rs`:
//! it raises `paused`, then re-reads the count; a permit's drop lowers the count, then looks
//! at `paused`. Each of these is a read-modify-write, which reads the latest value of its
//! location; so either the acceptor's re-read sees the lowered count, or the drop sees
//! `paused` and wakes it. The loom model in `reactor/acceptor.rs` checks this handshake.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use mio::Waker;

/// Shared between the acceptor and the reactors (and the server handle, to stop it).
#[derive(Debug)]
pub(crate) struct AcceptorSignal {
    waker: Waker,
    /// Accepting is paused and waits for room: a close, or a reactor taking a connection.
    paused: AtomicBool,
    /// The server is shutting down: drop the listener and exit.
    stop: AtomicBool,
}

impl AcceptorSignal {
    pub(crate) fn new(waker: Waker) -> Self {
        AcceptorSignal {
            waker,
            paused: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        }
    }

    /// The acceptor is about to sleep for want of room (it re-checks after this).
    pub(crate) fn raise_pause(&self) {
        self.paused.swap(true, SeqCst);
    }

    /// The acceptor accepted again.
    pub(crate) fn clear_pause(&self) {
        self.paused.store(false, SeqCst);
    }

    /// Room was made (a connection closed, or a reactor took a new one from a full inbox):
    /// wakes the acceptor if it waits for it.
    pub(crate) fn wake_if_paused(&self) {
        if self.paused.fetch_or(false, SeqCst) {
            let _ = self.waker.wake();
        }
    }

    /// Tells the acceptor to stop.
    pub(crate) fn stop(&self) {
        self.stop.store(true, SeqCst);
        let _ = self.waker.wake();
    }

    /// True once the acceptor was told to stop.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stop.load(SeqCst)
    }
}

/// The count of open connections of one server.
pub(crate) struct Admission {
    open: AtomicUsize,
    /// The acceptor to wake when a connection closes (none in `SO_REUSEPORT` mode).
    signal: Option<Arc<AcceptorSignal>>,
}

impl fmt::Debug for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admission")
            .field("open", &self.open.load(SeqCst))
            .finish()
    }
}

impl Admission {
    pub(crate) fn new(signal: Option<Arc<AcceptorSignal>>) -> Arc<Self> {
        Arc::new(Admission {
            open: AtomicUsize::new(0),
            signal,
        })
    }

    /// A place for a connection just accepted, given back when the permit drops.
    pub(crate) fn admit(self: &Arc<Self>) -> OpenPermit {
        self.open.fetch_add(1, SeqCst);
        OpenPermit(self.clone())
    }

    /// Connections open now (a read-modify-write: see the module docs).
    pub(crate) fn open(&self) -> usize {
        self.open.fetch_add(0, SeqCst)
    }

    /// The acceptor's signal, if there is an acceptor.
    pub(crate) fn signal(&self) -> Option<&Arc<AcceptorSignal>> {
        self.signal.as_ref()
    }

    /// Room was made for another connection: wakes the acceptor if it waits.
    pub(crate) fn room_made(&self) {
        if let Some(signal) = &self.signal {
            signal.wake_if_paused();
        }
    }
}

/// One open connection's place in the count; dropping it frees the place.
pub(crate) struct OpenPermit(Arc<Admission>);

impl fmt::Debug for OpenPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpenPermit")
    }
}

impl Drop for OpenPermit {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, SeqCst);
        self.0.room_made();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permit_holds_its_place_until_dropped() {
        let admission = Admission::new(None);
        let a = admission.admit();
        let b = admission.admit();
        assert_eq!(admission.open(), 2);
        drop(a);
        assert_eq!(admission.open(), 1);
        drop(b);
        assert_eq!(admission.open(), 0);
    }
}
