//! What a reactor is doing right now, published for the watchdog: which callback into user
//! code it is in, for which connection. Four plain stores per callback, no clock read: the
//! watchdog measures time itself, by seeing the same callback still running.
//!
//! # Protocol
//!
//! A sequence lock: the reactor makes the sequence odd, writes the fields (whether it is
//! inside a callback, which, for which connection), then makes it even again. The watchdog
//! reads the sequence, the fields, and the sequence again; the fields are consistent only
//! if both reads agree and are even. The even sequence number then names one callback: the
//! watchdog knows a callback is *still* running when it sees the same number inside.

use std::sync::atomic::{fence, AtomicU64, AtomicU8, Ordering};

/// The kinds of callback into user code weft makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Callback {
    /// The pipeline factory.
    Factory = 0,
    /// `on_active`.
    Active,
    /// A read batch: decoding and `on_message` (the decoder, the stages, the handler) for
    /// every frame of one read, `on_read_complete` and `on_read_closed`.
    Dispatch,
    /// `on_read_complete`.
    ReadComplete,
    /// `on_read_closed`.
    ReadClosed,
    /// `on_writability_changed` or `on_output_limit`.
    Writability,
    /// `on_idle`.
    Idle,
    /// `on_timer`.
    Timer,
    /// An offload continuation or `Context::execute`.
    Continuation,
    /// `on_inactive`.
    Inactive,
    /// A task from `Server::execute`.
    Task,
}

impl Callback {
    const ALL: [Callback; 11] = [
        Callback::Factory,
        Callback::Active,
        Callback::Dispatch,
        Callback::ReadComplete,
        Callback::ReadClosed,
        Callback::Writability,
        Callback::Idle,
        Callback::Timer,
        Callback::Continuation,
        Callback::Inactive,
        Callback::Task,
    ];

    /// The name a report shows.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Callback::Factory => "the pipeline factory",
            Callback::Active => "on_active",
            Callback::Dispatch => "a read batch (decode, on_message, on_read_complete)",
            Callback::ReadComplete => "on_read_complete",
            Callback::ReadClosed => "on_read_closed",
            Callback::Writability => "on_writability_changed / on_output_limit",
            Callback::Idle => "on_idle",
            Callback::Timer => "on_timer",
            Callback::Continuation => "a continuation (offload or Context::execute)",
            Callback::Inactive => "on_inactive",
            Callback::Task => "a task (Server::execute)",
        }
    }

    /// True for callbacks that run for a connection (all but tasks).
    pub(crate) fn has_connection(self) -> bool {
        !matches!(self, Callback::Task)
    }
}

/// One reactor's current callback.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    seq: AtomicU64,
    /// 0 between callbacks, else the callback's kind + 1.
    callback: AtomicU8,
    conn: AtomicU64,
}

/// What the watchdog saw: one particular callback (by its sequence number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sighting {
    pub(crate) seq: u64,
    pub(crate) callback: Callback,
    pub(crate) conn: u64,
}

impl Activity {
    /// Publishes the reactor's state. Only the owning thread may call it.
    #[inline]
    fn publish(&self, callback: u8, conn: u64) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.callback.store(callback, Ordering::Relaxed);
        self.conn.store(conn, Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// The reactor enters a callback.
    #[inline]
    pub(crate) fn enter(&self, callback: Callback, conn: u64) {
        self.publish(callback as u8 + 1, conn);
    }

    /// The reactor left the callback.
    #[inline]
    pub(crate) fn leave(&self) {
        self.publish(0, 0);
    }

    /// The callback running now, if any (read from any thread).
    pub(crate) fn sight(&self) -> Option<Sighting> {
        let seq = self.seq.load(Ordering::Acquire);
        if seq & 1 == 1 {
            return None; // being written: nothing worth reporting is that short
        }
        let callback = self.callback.load(Ordering::Relaxed);
        let conn = self.conn.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) != seq || callback == 0 {
            return None;
        }
        Some(Sighting {
            seq,
            callback: *Callback::ALL.get(usize::from(callback - 1))?,
            conn,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sighting_names_the_callback_running_and_none_between() {
        let a = Activity::default();
        assert_eq!(a.sight(), None);
        a.enter(Callback::Dispatch, 7);
        let s = a.sight().unwrap();
        assert_eq!((s.callback, s.conn), (Callback::Dispatch, 7));
        a.leave();
        assert_eq!(a.sight(), None);
        a.enter(Callback::Timer, 8);
        let t = a.sight().unwrap();
        assert_ne!(t.seq, s.seq, "each callback has its own sequence number");
        assert_eq!(t.callback, Callback::Timer);
    }
}
