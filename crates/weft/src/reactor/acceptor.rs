//! The acceptor (the "boss" reactor): owns the listening socket, accepts, and hands each new
//! connection to the next reactor, round-robin.
//!
//! # Pausing
//!
//! Accepting pauses in three cases, and none may spin:
//!
//! * **At the connection limit.** The acceptor sets `paused`, re-checks the count, and sleeps
//!   without a timeout; a reactor that closes a connection decrements the count and, seeing
//!   `paused`, wakes it. Either the acceptor's re-check sees the decrement, or the reactor
//!   sees `paused` and wakes it. Every access in this handshake is a read-modify-write
//!   (a re-check is `fetch_add(0)`, a look at `paused` is `fetch_or(false)`): an RMW reads
//!   the latest value of its location, so the argument holds under acquire/release alone,
//!   and the loom model below (loom treats `SeqCst` as acquire/release) can check it.
//! * **Every reactor's inbox holds its maximum of new connections** (a reactor busy for a
//!   long turn while connections pour in). The same handshake: the acceptor sets `paused`
//!   and re-checks for room; a reactor that takes a new connection from a full inbox wakes
//!   it. A connection is never accepted unless a reactor has room for it, so none is
//!   dropped; the ones that wait stay in the listen backlog.
//! * **Out of descriptors or memory** (EMFILE, ENFILE, ENOBUFS, ENOMEM). Retrying at once
//!   would fail at once, forever: the acceptor logs once per episode, sleeps for
//!   [`BACKOFF`] (or until a connection closes, which frees a descriptor) and tries again.
//!   Connections that arrive meanwhile wait in the listen backlog.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Waker};

use super::{LISTENER, WAKER};
use crate::admission::{AcceptorSignal, Admission, OpenPermit};
use crate::config::Config;
use crate::id::ConnectionId;
use crate::inbox::{Command, Inbox};
use crate::metrics::Metrics;
use crate::net::{self, AcceptError};

/// How long accepting pauses after running out of descriptors.
pub(crate) const BACKOFF: Duration = Duration::from_millis(100);

/// Accepts handled per readiness event before the acceptor polls again.
const ACCEPT_BATCH: usize = 1024;

/// How an accept batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AcceptOutcome {
    /// Nothing more to accept now.
    Drained,
    /// The batch limit was reached with connections possibly still waiting.
    More,
    /// At the connection limit: wait for a close.
    AtLimit,
    /// No reactor can take another new connection now: wait for one to make room.
    ReactorsBusy,
    /// Out of descriptors (or similar; the OS error code): wait [`BACKOFF`].
    BackOff(Option<i32>),
}

/// Accepts until `WouldBlock`, the batch limit, the connection limit, a lack of room
/// (`has_room`, asked before each accept) or an error, applying the child options and
/// handing each connection to `deliver`.
pub(crate) fn accept_batch(
    listener: &TcpListener,
    config: &Config,
    metrics: &Metrics,
    admission: &Arc<Admission>,
    has_room: impl Fn() -> bool,
    mut deliver: impl FnMut(TcpStream, SocketAddr, ConnectionId, OpenPermit),
) -> AcceptOutcome {
    let signal = admission.signal();
    for _ in 0..ACCEPT_BATCH {
        if !has_room() {
            if let Some(signal) = signal {
                signal.raise_pause();
            }
            if !has_room() {
                return AcceptOutcome::ReactorsBusy;
            }
        }
        if let Some(max) = config.max_connections {
            if admission.open() >= max {
                if let Some(signal) = signal {
                    signal.raise_pause();
                }
                if admission.open() >= max {
                    return AcceptOutcome::AtLimit;
                }
            }
        }
        match listener.accept() {
            Ok((stream, peer)) => {
                if let Some(signal) = signal {
                    signal.clear_pause();
                }
                if let Err(e) = net::apply_child_options(&stream, &config.child) {
                    tracing::debug!(%peer, error = %e, "cannot set socket options; connection dropped");
                    continue;
                }
                let permit = admission.admit();
                deliver(stream, peer, metrics.next_connection_id(), permit);
            }
            Err(e) => match net::classify_accept_error(&e) {
                AcceptError::Drained => return AcceptOutcome::Drained,
                AcceptError::Skip => {
                    tracing::debug!(error = %e, "accept failed for one connection");
                }
                AcceptError::BackOff | AcceptError::Unexpected => {
                    metrics.accept_errors.fetch_add(1, SeqCst);
                    if let Some(signal) = signal {
                        signal.raise_pause();
                    }
                    return AcceptOutcome::BackOff(e.raw_os_error());
                }
            },
        }
    }
    AcceptOutcome::More
}

/// The acceptor thread's state.
pub(crate) struct Acceptor {
    poll: Poll,
    listener: TcpListener,
    inboxes: Vec<Arc<Inbox>>,
    next: usize,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    admission: Arc<Admission>,
}

impl Acceptor {
    /// Creates the acceptor's poll (and its waker, inside the returned admission's signal).
    pub(crate) fn new(
        mut listener: TcpListener,
        inboxes: Vec<Arc<Inbox>>,
        config: Arc<Config>,
        metrics: Arc<Metrics>,
    ) -> io::Result<(Self, Arc<Admission>)> {
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let signal = Arc::new(AcceptorSignal::new(Waker::new(poll.registry(), WAKER)?));
        let admission = Admission::new(Some(signal));
        let acceptor = Acceptor {
            poll,
            listener,
            inboxes,
            next: 0,
            config,
            metrics,
            admission: admission.clone(),
        };
        Ok((acceptor, admission))
    }

    /// The acceptor loop: returns (dropping the listener) once stopped.
    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(64);
        let mut timeout = None;
        let mut in_episode = false;
        loop {
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "acceptor poll failed; accepting stops");
                    return;
                }
            }
            if self.admission.signal().is_some_and(|s| s.is_stopping()) {
                tracing::debug!("acceptor stopped");
                return;
            }
            let Acceptor {
                listener,
                inboxes,
                next,
                config,
                metrics,
                admission,
                ..
            } = &mut self;
            let outcome = accept_batch(
                listener,
                config,
                metrics,
                admission,
                || inboxes.iter().any(|inbox| inbox.has_registration_room()),
                |stream, peer, id, permit| {
                    hand_off(inboxes, next, stream, peer, id, permit);
                },
            );
            timeout = match outcome {
                AcceptOutcome::Drained => None,
                AcceptOutcome::More => Some(Duration::ZERO),
                AcceptOutcome::AtLimit => {
                    if !in_episode {
                        metrics.accept_pauses.fetch_add(1, SeqCst);
                        tracing::info!(limit = ?config.max_connections, "at the connection limit; accepting paused");
                    }
                    None
                }
                AcceptOutcome::ReactorsBusy => {
                    if !in_episode {
                        metrics.accept_pauses.fetch_add(1, SeqCst);
                        tracing::warn!(
                            "every reactor has a full inbox of new connections; accepting paused"
                        );
                    }
                    None
                }
                AcceptOutcome::BackOff(code) => {
                    if !in_episode {
                        metrics.accept_pauses.fetch_add(1, SeqCst);
                        let error = code.map_or_else(
                            || "unknown error".to_string(),
                            |c| io::Error::from_raw_os_error(c).to_string(),
                        );
                        tracing::warn!(
                            %error,
                            "accept failing (out of descriptors?); retrying every {BACKOFF:?}"
                        );
                    }
                    Some(BACKOFF)
                }
            };
            let paused = matches!(
                outcome,
                AcceptOutcome::AtLimit | AcceptOutcome::ReactorsBusy | AcceptOutcome::BackOff(_)
            );
            if in_episode && !paused {
                tracing::info!("accepting again");
            }
            in_episode = paused;
        }
    }
}

/// Gives a new connection to the next reactor in turn that has room for it (one has: the
/// batch checked before accepting).
fn hand_off(
    inboxes: &[Arc<Inbox>],
    next: &mut usize,
    stream: TcpStream,
    peer: SocketAddr,
    id: ConnectionId,
    permit: OpenPermit,
) {
    let count = inboxes.len();
    let chosen = (0..count)
        .map(|i| (*next + i) % count)
        .find(|&i| inboxes[i].has_registration_room())
        .unwrap_or(*next);
    *next = (chosen + 1) % count;
    let inbox = &inboxes[chosen];
    if inbox
        .send_registration(Command::Register {
            stream,
            peer,
            id,
            permit,
        })
        .is_err()
    {
        // The reactor has stopped: the server is shutting down, so refusing is right (the
        // permit went with the command).
        tracing::debug!(conn = %id, reactor = inbox.index(), "reactor stopped; connection refused");
    }
}

/// A loom model of the pause handshake (module docs, "Pausing"), with the orderings the
/// acceptor and the reactors use: the acceptor raises `paused` and re-checks for room
/// before sleeping; a reactor frees room (a registration taken, or a connection closed) and
/// then looks at `paused`. Whatever the interleaving, an acceptor that goes to sleep is
/// woken. Run with `RUSTFLAGS="--cfg loom" cargo test -p weft-reactor --lib --release loom`.
#[cfg(all(test, loom))]
mod loom_model {
    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use loom::sync::Arc;
    use loom::thread;

    const CAP: usize = 1;

    struct World {
        paused: AtomicBool,
        /// Registrations waiting in the reactor's inbox (at `CAP`: no room).
        waiting: AtomicUsize,
        wakes: AtomicUsize,
    }

    #[test]
    fn loom_a_sleeping_acceptor_is_always_woken() {
        loom::model(|| {
            let world = Arc::new(World {
                paused: AtomicBool::new(false),
                waiting: AtomicUsize::new(CAP),
                wakes: AtomicUsize::new(0),
            });
            let reactor = {
                let world = world.clone();
                thread::spawn(move || {
                    // `Inbox::registration_taken`, then `AcceptorSignal::wake_if_paused`.
                    let was_full = world.waiting.fetch_sub(1, SeqCst) >= CAP;
                    if was_full && world.paused.fetch_or(false, SeqCst) {
                        world.wakes.fetch_add(1, SeqCst);
                    }
                })
            };
            // `accept_batch`: no room, so raise `paused` and look again before sleeping.
            let sleeps = if world.waiting.load(SeqCst) >= CAP {
                world.paused.swap(true, SeqCst);
                world.waiting.fetch_add(0, SeqCst) >= CAP
            } else {
                false
            };
            reactor.join().unwrap();
            assert!(
                !sleeps || world.wakes.load(SeqCst) > 0,
                "the acceptor slept with room freed and no wake-up"
            );
        });
    }
}
