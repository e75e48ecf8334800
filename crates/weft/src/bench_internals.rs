//! Thin handles on crate-private parts, for the micro-benchmarks in `benches/` only
//! (feature `bench-internals`; not part of the API, no stability promise).

#![allow(missing_docs, missing_debug_implementations)]

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mio::{Events, Poll, Waker};

use crate::clock::Moment;
use crate::config::WriteWatermarks;
use crate::conn::{Io, Outbound};
use crate::inbox::{Command, Inbox};
use crate::reactor::WAKER;
use crate::timer::{TimerKey, TimerWheel};

/// The reactor's timer wheel holding plain numbers.
pub struct Wheel {
    wheel: TimerWheel<u64>,
    origin: Moment,
    due: Vec<(TimerKey, u64)>,
}

/// A timer scheduled in a [`Wheel`].
#[derive(Clone, Copy)]
pub struct WheelKey(TimerKey);

impl Default for Wheel {
    fn default() -> Self {
        let origin = Moment::now();
        Wheel {
            wheel: TimerWheel::new(origin, Duration::from_millis(1)),
            origin,
            due: Vec::new(),
        }
    }
}

impl Wheel {
    pub fn insert(&mut self, at_ms: u64, value: u64) -> WheelKey {
        WheelKey(
            self.wheel
                .insert(self.origin + Duration::from_millis(at_ms), value),
        )
    }

    pub fn cancel(&mut self, key: WheelKey) -> Option<u64> {
        self.wheel.cancel(key.0)
    }

    /// Fires everything due at `now_ms`; returns how many fired.
    pub fn expire(&mut self, now_ms: u64) -> usize {
        self.due.clear();
        self.wheel
            .expire(self.origin + Duration::from_millis(now_ms), &mut self.due);
        self.due.len()
    }

    /// When the earliest timer is due, in milliseconds of the wheel's clock (rounded down).
    pub fn next_deadline(&mut self) -> Option<u64> {
        self.wheel
            .next_deadline()
            .map(|at| at.nanos_since(self.origin) / 1_000_000)
    }
}

/// A connection's outbound queue on a real socket (the peer must be drained elsewhere).
pub struct OutboundQueue {
    out: Outbound,
    io: Io,
}

impl OutboundQueue {
    /// The server side of a loopback pair; returns the peer to drain.
    pub fn connected() -> io::Result<(Self, std::net::TcpStream)> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let peer = std::net::TcpStream::connect(listener.local_addr()?)?;
        let (server, _) = listener.accept()?;
        server.set_nonblocking(true)?;
        let queue = OutboundQueue {
            out: Outbound::new(
                WriteWatermarks::new(1, usize::MAX).expect("valid"),
                usize::MAX,
            ),
            io: Io::Tcp(mio::net::TcpStream::from_std(server)),
        };
        Ok((queue, peer))
    }

    /// Appends bytes the way an encoder does (coalesced into the tail).
    pub fn encode(&mut self, bytes: &[u8]) {
        self.out.encode_with(|dst| dst.extend_from_slice(bytes));
    }

    /// Queues a shared chunk (as a broadcast does).
    pub fn push_chunk(&mut self, chunk: Bytes) {
        self.out.push_chunk(chunk, false);
    }

    /// One flush: returns the bytes the kernel took.
    pub fn flush(&mut self) -> io::Result<usize> {
        self.out.write_to(&mut self.io).map(|(n, _)| n)
    }

    pub fn pending(&self) -> usize {
        self.out.pending()
    }
}

/// A reactor inbox and the poll it wakes.
pub struct Wakeup {
    inbox: Arc<Inbox>,
    rx: crate::queue::Receiver<Command>,
    poll: Poll,
    events: Events,
}

impl Wakeup {
    pub fn new() -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let (inbox, rx) = Inbox::new(0, 1024, waker);
        Ok(Wakeup {
            inbox: Arc::new(inbox),
            rx,
            poll,
            events: Events::with_capacity(16),
        })
    }

    /// Posts `n` commands (one wake-up for all of them, as the flag coalesces), then does
    /// what a reactor does: poll, clear the flag, drain. Returns the commands drained.
    pub fn round_trip(&mut self, n: usize) -> io::Result<usize> {
        for _ in 0..n {
            let _ = self.inbox.send(Command::Task(Box::new(|| {})));
        }
        self.poll
            .poll(&mut self.events, Some(Duration::from_secs(1)))?;
        self.inbox.clear_notified();
        let mut drained = 0;
        while let Some(Command::Task(task)) = self.rx.try_recv() {
            task();
            drained += 1;
        }
        Ok(drained)
    }
}
