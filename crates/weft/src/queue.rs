//! The channel under a reactor's inbox: many senders, one receiver, unbounded (what bounds
//! it is who may send what, see `inbox`), and without a heap allocation per message.
//!
//! `crossbeam_channel::unbounded`, which the inbox used before, allocates a block of 31
//! slots as its tail fills and frees it once drained: one allocation per 31 messages
//! written across reactors, forever. This one is two `VecDeque`s that trade places:
//! senders push onto the shared one under a mutex; the receiver, when its own is empty,
//! swaps the two under the mutex and then takes from its own without it. Both keep their
//! capacity, so in steady state nothing is allocated; a burst's capacity is given back
//! (see [`RETAIN`]) once the receiver has drained it.
//!
//! The lock is held for one push or one swap, never while a command runs. The receiver
//! takes the lock once per batch rather than once per message, which is also fewer atomic
//! operations per message than the list channel's.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Slots a drained buffer may keep: past this a burst's capacity is freed rather than held
/// for the life of the reactor.
const RETAIN: usize = 4096;

struct Shared<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    queue: VecDeque<T>,
    /// False once the receiver is gone: sends fail, handing their message back.
    open: bool,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing that can panic runs under the lock (a push, a swap), so a poisoned lock
        // still holds a consistent queue.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A channel: the sending side, which may be shared, and the one receiver.
pub(crate) fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            open: true,
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver {
            shared,
            batch: VecDeque::new(),
        },
    )
}

/// The sending side.
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queues `msg`; fails, handing it back, once the receiver is gone.
    pub(crate) fn send(&self, msg: T) -> Result<(), T> {
        let mut state = self.shared.lock();
        if !state.open {
            return Err(msg);
        }
        state.queue.push_back(msg);
        Ok(())
    }

    /// Messages sent and not yet taken by the receiver's swap (a diagnostic).
    pub(crate) fn len(&self) -> usize {
        self.shared.lock().queue.len()
    }
}

/// The receiving side: owned by the reactor.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// Taken from the shared queue in one swap, handed out without the lock.
    batch: VecDeque<T>,
}

impl<T> Receiver<T> {
    /// The oldest message not yet taken, if any.
    #[inline]
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        if let Some(msg) = self.batch.pop_front() {
            return Some(msg);
        }
        self.refill()
    }

    /// The batch is empty: swap it with the shared queue.
    fn refill(&mut self) -> Option<T> {
        if self.batch.capacity() > RETAIN {
            self.batch = VecDeque::new();
        }
        {
            let mut state = self.shared.lock();
            if state.queue.is_empty() {
                return None;
            }
            std::mem::swap(&mut state.queue, &mut self.batch);
        }
        self.batch.pop_front()
    }

    /// Messages waiting: those of the current batch and those sent since.
    pub(crate) fn len(&self) -> usize {
        self.batch.len() + self.shared.lock().queue.len()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Later sends fail; what was queued is dropped here, outside the lock (a message's
        // drop may send to another channel).
        let queued = {
            let mut state = self.shared.lock();
            state.open = false;
            std::mem::take(&mut state.queue)
        };
        drop(queued);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_arrive_in_order_across_swaps() {
        let (tx, mut rx) = channel();
        for i in 0..10 {
            tx.send(i).unwrap();
        }
        assert_eq!(rx.try_recv(), Some(0));
        tx.send(10).unwrap(); // lands in the shared queue while the batch holds 1..10
        assert_eq!(rx.len(), 10);
        let rest: Vec<_> = std::iter::from_fn(|| rx.try_recv()).collect();
        assert_eq!(rest, (1..=10).collect::<Vec<_>>());
        assert_eq!(rx.try_recv(), None);
    }

    #[test]
    fn a_send_after_the_receiver_is_gone_hands_the_message_back() {
        let (tx, rx) = channel();
        tx.send(1).unwrap();
        drop(rx);
        assert_eq!(tx.send(2), Err(2));
        assert_eq!(tx.len(), 0, "what was queued is dropped with the receiver");
    }

    #[test]
    fn a_burst_s_capacity_is_given_back_once_drained() {
        let (tx, mut rx) = channel();
        for round in 0..2 {
            for i in 0..RETAIN * 4 {
                tx.send(i).unwrap();
            }
            let mut n = 0;
            while rx.try_recv().is_some() {
                n += 1;
            }
            assert_eq!(n, RETAIN * 4, "round {round}");
        }
        // Each empty buffer past `RETAIN` is dropped at the next refill; two refills and
        // neither buffer holds the burst.
        tx.send(0).unwrap();
        assert_eq!(rx.try_recv(), Some(0));
        tx.send(0).unwrap();
        assert_eq!(rx.try_recv(), Some(0));
        assert!(rx.batch.capacity() <= RETAIN);
        assert!(tx.shared.lock().queue.capacity() <= RETAIN);
    }

    #[test]
    fn senders_on_many_threads_lose_nothing() {
        let (tx, mut rx) = channel();
        let tx = Arc::new(tx);
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        tx.send((t, i)).unwrap();
                    }
                })
            })
            .collect();
        let mut next = [0u64; 4];
        let mut got = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while got < 40_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "{got} of 40,000 arrived"
            );
            match rx.try_recv() {
                Some((t, i)) => {
                    assert_eq!(i, next[t as usize], "per-sender order");
                    next[t as usize] += 1;
                    got += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(rx.try_recv(), None);
    }
}
