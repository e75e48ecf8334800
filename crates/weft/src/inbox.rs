//! A reactor's inbox: how other threads (the acceptor, pool jobs, other reactors, user
//! threads) hand it work.
//!
//! # The wake-up handshake
//!
//! A sender must wake the reactor out of `poll`, but a `Waker::wake` is a syscall (an
//! `eventfd` write), and a busy reactor receives many commands per turn. One atomic flag,
//! `notified`, coalesces them:
//!
//! 1. The sender pushes its command onto the channel.
//! 2. The sender sets `notified`; only if it was clear does it call `wake`.
//! 3. The reactor clears `notified` (once per loop turn, after `poll` returns).
//! 4. The reactor then drains the channel, if the flag was set (or the last drain stopped
//!    at its batch limit): a turn woken only by sockets skips the channel.
//!
//! Why no command is stranded: if a push (1) happens before the reactor's clear (3), the
//! drain (4) that follows the clear sees it; if it happens after the clear, the sender finds
//! the flag clear (2) and wakes the reactor, whose next `poll` returns at once. Both orders
//! use `SeqCst` so the push cannot be reordered after the flag test. The skipped drain of
//! step 4 is safe by the same argument: a clear flag at (3) means every command pushed
//! before the previous clear was drained then, and any later one has a raise still to
//! come, which wakes the reactor again.
//!
//! # Nothing is dropped: what bounds the inbox
//!
//! The channel itself (`queue`) is unbounded, so no sender ever has a command refused for want of
//! room (the first draft's bounded channel dropped broadcasts and new connections in a
//! burst). What it holds is bounded by who may send what:
//!
//! | command | bounded by |
//! |---|---|
//! | `Write`, `Broadcast` | bytes: charged to each target connection's output limit when posted (`ConnShared`); a target over its limit is refused or closed, never queued for. And the inbox's own congestion control, below |
//! | `Register` | at most [`MAX_REGISTRATIONS`] waiting per reactor: the acceptor stops accepting while every reactor is at it, and the reactor wakes it as it registers |
//! | `Continue` | offloaded jobs: the pool's queue and the per-connection job cap |
//! | `Task` from another thread | the inbox capacity: `Server::execute` returns false beyond it |
//! | `Close`, `Shutdown`, `Resume` | one per connection or server action |
//!
//! # Congestion: the producer waits, not the readers
//!
//! A reactor can fall behind its inbox (a burst of broadcasts from another reactor, on a
//! machine with fewer cores than threads). The bytes waiting in its channel are then nobody's
//! fault among the receivers: they read everything they were given. So the inbox counts the
//! bytes of writes and broadcasts in its channel (`posted`), and above [`CONGESTED`] the
//! *producers* are slowed:
//!
//! 1. A handler whose broadcast or handle write found a target inbox congested is noted in
//!    its reactor's thread-local state; after the callback, its connection stops reading
//!    (`Reading::congestion_paused`) and registers as a waiter of that inbox.
//! 2. It then looks at the inbox once more: if it has drained meanwhile, reading resumes
//!    at once (the check after registering is what closes the race with step 3).
//! 3. The congested reactor, after a drain that took data commands, finds `posted` below
//!    [`DECONGESTED`], takes its waiters under the lock and sends each a `Resume`.
//!
//! Either the waiter is registered before the drain's lock (and the drain resumes it), or
//! after (and the re-check in step 2 sees the drained count): the loom model below checks
//! it. A thread that is not a reactor has no reading to pause: its broadcast waits (up to
//! a second) for a congested inbox to drain instead. Receivers are judged on their own
//! queue alone, so a reader that keeps up is never closed because a reactor lagged.
//!
//! # Commands from the reactor's own thread
//!
//! A handler writing through a [`ConnectionHandle`](crate::ConnectionHandle) to a
//! connection of its own reactor does not need a channel or a wake-up: such commands go to a
//! thread-local queue that the reactor drains in the same turn.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use mio::net::TcpStream;
use mio::{Token, Waker};

use crate::admission::OpenPermit;
use crate::id::ConnectionId;
use crate::queue;

/// Work for a reactor.
pub(crate) enum Command {
    /// A connection accepted by the acceptor, to be served by this reactor.
    Register {
        stream: TcpStream,
        peer: SocketAddr,
        id: ConnectionId,
        permit: OpenPermit,
    },
    /// Pre-encoded bytes for one connection, already charged to it (see `ConnShared`).
    Write { token: Token, bytes: Bytes },
    /// The same bytes for several connections of this reactor (one group broadcast),
    /// skipping `except` and the members in `refused` (not charged: over their limit).
    Broadcast {
        tokens: Arc<[Token]>,
        except: Option<Token>,
        refused: Vec<Token>,
        bytes: Bytes,
    },
    /// Close a connection.
    Close { token: Token, how: CloseHow },
    /// A continuation: a closure run with one connection's handler and context (an
    /// offload's `then`, or `Context::execute`), typed by the pipeline that made it.
    Continuation {
        token: Token,
        call: Box<dyn Any + Send>,
    },
    /// A task: a closure run on the reactor thread with no connection (`Server::execute`).
    Task(Box<dyn FnOnce() + Send>),
    /// Stop: close every connection gracefully, abort what is left at `deadline`.
    Shutdown { deadline: crate::clock::Moment },
    /// A connection paused for a congested inbox may read again.
    Resume { token: Token },
    /// A dial from another thread (a `conn::RemoteDial`, typed there).
    Dial(Box<dyn Any + Send>),
    /// A dialled connection's name lookup, done on the pool.
    Resolved {
        token: Token,
        attempt: u64,
        result: std::io::Result<Vec<SocketAddr>>,
    },
}

impl Command {
    /// What a data command (a write or a broadcast) adds to its inbox's congestion count.
    fn posted_bytes(&self) -> usize {
        match self {
            Command::Write { bytes, .. } | Command::Broadcast { bytes, .. } => {
                crate::shared::posted_cost(bytes.len())
            }
            _ => 0,
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Payloads are not printed: they are user data.
        match self {
            Command::Register { id, peer, .. } => write!(f, "Register({id}, {peer})"),
            Command::Write { token, bytes } => write!(f, "Write({token:?}, {} bytes)", bytes.len()),
            Command::Broadcast { tokens, bytes, .. } => {
                write!(
                    f,
                    "Broadcast({} targets, {} bytes)",
                    tokens.len(),
                    bytes.len()
                )
            }
            Command::Close { token, how } => write!(f, "Close({token:?}, {how:?})"),
            Command::Continuation { token, .. } => write!(f, "Continuation({token:?})"),
            Command::Task(_) => f.write_str("Task"),
            Command::Shutdown { .. } => f.write_str("Shutdown"),
            Command::Resume { token } => write!(f, "Resume({token:?})"),
            Command::Dial(_) => f.write_str("Dial"),
            Command::Resolved { token, .. } => write!(f, "Resolved({token:?})"),
        }
    }
}

/// How a `Close` command closes its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseHow {
    /// Flush what is queued, then close (`ConnectionHandle::close`).
    Graceful,
    /// Close now, discarding what is queued (`ConnectionHandle::abort`).
    Abort,
    /// A broadcast found it over its output limit.
    SlowConsumer,
}

/// Bytes of writes and broadcasts waiting in one inbox above which their producers are
/// slowed (see "Congestion" in the module docs).
pub(crate) const CONGESTED: usize = 1 << 20;

/// The level below which the producers slowed by a congested inbox are resumed.
pub(crate) const DECONGESTED: usize = CONGESTED / 2;

/// New connections that may wait in one reactor's inbox before the acceptor waits too.
pub(crate) const MAX_REGISTRATIONS: usize = 1024;

#[cfg(all(test, loom))]
use loom::sync::atomic::AtomicBool;
#[cfg(not(all(test, loom)))]
use std::sync::atomic::AtomicBool;

/// The flag of the wake-up handshake (steps 2 and 3 in the module docs), on its own so
/// that the loom model below checks the very code the inbox runs.
pub(crate) struct WakeFlag(AtomicBool);

impl WakeFlag {
    pub(crate) fn new() -> Self {
        WakeFlag(AtomicBool::new(false))
    }

    /// Step 2, after the push: true if this sender must wake the reactor.
    pub(crate) fn raise(&self) -> bool {
        !self.0.swap(true, SeqCst)
    }

    /// Step 3, before the drain; true if it was set. When it was not, every command in
    /// the channel was either drained last turn or belongs to a sender that has yet to
    /// raise the flag, and will then wake the reactor: the drain can wait for that turn.
    pub(crate) fn clear(&self) -> bool {
        self.0.swap(false, SeqCst)
    }
}

/// The command could not be queued because the reactor has stopped; it is handed back.
pub(crate) struct Stopped(pub(crate) Command);

/// The sending side of a reactor's inbox, shared by every thread that talks to it.
pub(crate) struct Inbox {
    index: usize,
    tx: queue::Sender<Command>,
    waker: Waker,
    /// Set by a sender that woke the reactor; cleared by the reactor before it drains.
    notified: WakeFlag,
    /// Tasks from other threads waiting in the channel, and their cap.
    tasks: AtomicUsize,
    task_capacity: usize,
    /// New connections waiting in the channel (at most [`MAX_REGISTRATIONS`]).
    registrations: AtomicUsize,
    /// Bytes of writes and broadcasts waiting in the channel.
    posted: AtomicUsize,
    /// Connections (their reactor's inbox, their token) paused until this one drains.
    waiters: Mutex<Vec<(Arc<Inbox>, Token)>>,
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("reactor", &self.index)
            .field("queued", &self.tx.len())
            .finish()
    }
}

impl Inbox {
    /// The inbox of reactor `index`, waking it through `waker`; at most `task_capacity`
    /// tasks from other threads wait in it at once.
    pub(crate) fn new(
        index: usize,
        task_capacity: usize,
        waker: Waker,
    ) -> (Self, queue::Receiver<Command>) {
        let (tx, rx) = queue::channel();
        let inbox = Inbox {
            index,
            tx,
            waker,
            notified: WakeFlag::new(),
            tasks: AtomicUsize::new(0),
            task_capacity,
            registrations: AtomicUsize::new(0),
            posted: AtomicUsize::new(0),
            waiters: Mutex::new(Vec::new()),
        };
        (inbox, rx)
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Queues `cmd` for the reactor. From the reactor's own thread it goes to the local
    /// queue (no channel, no wake-up); from any other thread through the channel. Fails only
    /// once the reactor has stopped. The caller has accounted for what `cmd` holds (see the
    /// module docs).
    pub(crate) fn send(&self, cmd: Command) -> Result<(), Stopped> {
        let cmd = match push_local(self, cmd) {
            Ok(()) => return Ok(()),
            Err(cmd) => cmd,
        };
        let posted = cmd.posted_bytes();
        if posted > 0 {
            self.posted.fetch_add(posted, SeqCst);
        }
        if let Err(cmd) = self.tx.send(cmd) {
            self.posted.fetch_sub(posted, SeqCst);
            return Err(Stopped(cmd));
        }
        self.wake();
        Ok(())
    }

    /// The reactor took a command from the channel (not the local queue): its bytes no
    /// longer count toward congestion.
    pub(crate) fn taken(&self, cmd: &Command) {
        let posted = cmd.posted_bytes();
        if posted > 0 {
            self.posted.fetch_sub(posted, SeqCst);
        }
    }

    /// True while more than [`CONGESTED`] bytes of writes wait in the channel.
    pub(crate) fn is_congested(&self) -> bool {
        self.posted.load(SeqCst) > CONGESTED
    }

    /// True once the channel has drained below [`DECONGESTED`] (a read-modify-write: see
    /// "Congestion" in the module docs).
    pub(crate) fn has_drained(&self) -> bool {
        self.posted.fetch_add(0, SeqCst) < DECONGESTED
    }

    /// Registers a paused connection to be resumed once this inbox drains (step 1).
    pub(crate) fn add_waiter(&self, inbox: Arc<Inbox>, token: Token) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if !waiters
            .iter()
            .any(|(i, t)| *t == token && Arc::ptr_eq(i, &inbox))
        {
            waiters.push((inbox, token));
        }
    }

    /// After a drain that took data commands: resumes the waiters if the channel is below
    /// [`DECONGESTED`] (step 3).
    pub(crate) fn resume_waiters(&self) {
        if !self.has_drained() {
            return;
        }
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|p| p.into_inner()));
        for (inbox, token) in waiters {
            // Fails only for a reactor that has stopped: its connections are gone.
            let _ = inbox.send(Command::Resume { token });
        }
    }

    /// From a thread that is not a reactor: waits (up to a second) while this inbox is
    /// congested, so that a producer without a connection to pause cannot outrun the
    /// reactor either.
    pub(crate) fn wait_while_congested(&self) {
        let deadline = Instant::now() + std::time::Duration::from_secs(1);
        while self.is_congested() && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }

    /// Queues a task from another thread, unless `task_capacity` tasks are waiting already;
    /// true if queued. (From the reactor's own thread it always goes to the local queue.)
    pub(crate) fn send_task(&self, task: Box<dyn FnOnce() + Send>) -> bool {
        let cmd = match push_local(self, Command::Task(task)) {
            Ok(()) => return true,
            Err(cmd) => cmd,
        };
        if self.tasks.fetch_add(1, AcqRel) >= self.task_capacity {
            self.tasks.fetch_sub(1, AcqRel);
            return false;
        }
        if self.tx.send(cmd).is_err() {
            self.tasks.fetch_sub(1, AcqRel);
            return false;
        }
        self.wake();
        true
    }

    /// The reactor took a task from the channel.
    pub(crate) fn task_taken(&self) {
        self.tasks.fetch_sub(1, AcqRel);
    }

    /// True if the reactor can take another new connection now. (A read-modify-write, so
    /// that the acceptor's pause handshake holds; see `acceptor`.)
    pub(crate) fn has_registration_room(&self) -> bool {
        self.registrations.fetch_add(0, SeqCst) < MAX_REGISTRATIONS
    }

    /// Hands a new connection to the reactor (the acceptor checked for room first).
    pub(crate) fn send_registration(&self, cmd: Command) -> Result<(), Stopped> {
        self.registrations.fetch_add(1, SeqCst);
        self.send(cmd).inspect_err(|_| {
            self.registrations.fetch_sub(1, SeqCst);
        })
    }

    /// The reactor took a new connection from the channel; true if the inbox was full of
    /// them (the acceptor may be waiting for room).
    pub(crate) fn registration_taken(&self) -> bool {
        self.registrations.fetch_sub(1, SeqCst) >= MAX_REGISTRATIONS
    }

    /// Wakes the reactor unless a wake-up is already on its way.
    pub(crate) fn wake(&self) {
        if self.notified.raise() {
            if let Err(e) = self.waker.wake() {
                tracing::error!(reactor = self.index, error = %e, "cannot wake reactor");
            }
        }
    }

    /// Step 3 of the handshake: called by the reactor before it drains; false if no
    /// sender raised the flag since the last call (see `WakeFlag::clear`).
    pub(crate) fn clear_notified(&self) -> bool {
        self.notified.clear()
    }
}

struct LocalQueue {
    /// Address of the `Inbox` of the reactor running on this thread (identity only).
    owner: usize,
    queue: VecDeque<Command>,
    /// Inboxes a callback on this thread found congested (see "Congestion").
    congested: Vec<Arc<Inbox>>,
}

thread_local! {
    static LOCAL: RefCell<Option<LocalQueue>> = const { RefCell::new(None) };
    /// Set when a command goes into this thread's local queue, cleared when the queue is
    /// taken: the reactor asks twice per turn whether anything waits there, and the answer
    /// is almost always no, which this flag gives without borrowing the queue.
    static LOCAL_QUEUED: Cell<bool> = const { Cell::new(false) };
    /// Set when a callback on this thread finds an inbox congested, cleared when the list
    /// is taken (after every callback: the same shortcut).
    static LOCAL_CONGESTED: Cell<bool> = const { Cell::new(false) };
}

fn push_local(inbox: &Inbox, cmd: Command) -> Result<(), Command> {
    LOCAL.with(|local| match &mut *local.borrow_mut() {
        Some(q) if q.owner == inbox as *const Inbox as usize => {
            q.queue.push_back(cmd);
            LOCAL_QUEUED.set(true);
            Ok(())
        }
        _ => Err(cmd),
    })
}

/// Marks the current thread as the one running the reactor of `inbox`.
pub(crate) fn install_local(inbox: &Inbox) {
    let owner = inbox as *const Inbox as usize;
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        if local.as_ref().is_some_and(|q| q.owner == owner) {
            return; // installed already: keep what is queued (an embedded reactor's calls)
        }
        *local = Some(LocalQueue {
            owner,
            queue: VecDeque::new(),
            congested: Vec::new(),
        });
    });
}

/// Forgets the thread's local queue if it is `inbox`'s (an embedded reactor going away), so
/// that a later inbox at the same address does not inherit its commands.
#[cfg_attr(not(feature = "test-util"), allow(dead_code))]
pub(crate) fn uninstall_local(inbox: &Inbox) {
    let owner = inbox as *const Inbox as usize;
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        if local.as_ref().is_some_and(|q| q.owner == owner) {
            *local = None;
        }
    });
}

/// Takes every command queued locally so far (they are run outside the borrow, so running
/// them may queue more, which the next call returns). `into` must be empty: it is swapped
/// with the queue, so that draining allocates nothing.
#[inline]
pub(crate) fn take_local(into: &mut VecDeque<Command>) {
    if !LOCAL_QUEUED.replace(false) {
        return;
    }
    LOCAL.with(|local| {
        if let Some(q) = &mut *local.borrow_mut() {
            debug_assert!(into.is_empty());
            std::mem::swap(into, &mut q.queue);
        }
    });
}

/// After posting to `inbox`: if it is congested, slows the producer. On a reactor thread
/// the inbox is noted for the connection whose callback is running (see
/// [`take_congested`]); on any other thread the call waits for it to drain.
pub(crate) fn note_post(inbox: &Arc<Inbox>) {
    if !inbox.is_congested() {
        return;
    }
    let on_reactor = LOCAL.with(|local| match &mut *local.borrow_mut() {
        Some(q) => {
            if !q.congested.iter().any(|i| Arc::ptr_eq(i, inbox)) {
                q.congested.push(inbox.clone());
            }
            LOCAL_CONGESTED.set(true);
            true
        }
        None => false,
    });
    if !on_reactor {
        inbox.wait_while_congested();
    }
}

/// The inboxes the last callback on this reactor thread found congested, if any (`into`
/// must be empty; it is swapped in, so the common case allocates nothing).
#[inline]
pub(crate) fn take_congested(into: &mut Vec<Arc<Inbox>>) {
    if !LOCAL_CONGESTED.replace(false) {
        return;
    }
    LOCAL.with(|local| {
        if let Some(q) = &mut *local.borrow_mut() {
            if !q.congested.is_empty() {
                std::mem::swap(into, &mut q.congested);
            }
        }
    });
}

/// True when commands are waiting in this thread's local queue.
#[inline]
pub(crate) fn has_local() -> bool {
    LOCAL_QUEUED.get()
}

/// A loom model of the wake-up handshake: whatever the interleaving, a command pushed by a
/// sender is either drained by the reactor's turn or leaves a wake-up pending (so the
/// reactor's next `poll` returns and drains it). Run with
/// `RUSTFLAGS="--cfg loom" cargo test -p weft-reactor --lib --release loom`.
#[cfg(all(test, loom))]
mod loom_model {
    use super::WakeFlag;
    use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use loom::sync::{Arc, Mutex};
    use loom::thread;
    use std::collections::VecDeque;

    /// The reactor's side of the world: a queue (the channel), the eventfd counter.
    struct World {
        flag: WakeFlag,
        queue: Mutex<VecDeque<u32>>,
        eventfd: AtomicUsize,
    }

    fn send(world: &World, cmd: u32) {
        world.queue.lock().unwrap().push_back(cmd); // step 1
        if world.flag.raise() {
            world.eventfd.fetch_add(1, SeqCst); // step 2: wake
        }
    }

    /// One loop turn: `poll` consumes the eventfd, then steps 3 and 4.
    fn turn(world: &World) -> usize {
        world.eventfd.swap(0, SeqCst);
        if !world.flag.clear() {
            return 0; // nobody raised the flag: the drain waits for the wake-up
        }
        let mut drained = 0;
        while world.queue.lock().unwrap().pop_front().is_some() {
            drained += 1;
        }
        drained
    }

    #[test]
    fn loom_no_command_is_stranded() {
        loom::model(|| {
            let world = Arc::new(World {
                flag: WakeFlag::new(),
                queue: Mutex::new(VecDeque::new()),
                eventfd: AtomicUsize::new(0),
            });
            let senders: Vec<_> = (0..2)
                .map(|i| {
                    let world = world.clone();
                    thread::spawn(move || send(&world, i))
                })
                .collect();
            let drained = turn(&world);
            for s in senders {
                s.join().unwrap();
            }
            let left = world.queue.lock().unwrap().len();
            assert_eq!(drained + left, 2);
            assert!(
                left == 0 || world.eventfd.load(SeqCst) > 0,
                "{left} command(s) stranded with no wake-up pending"
            );
        });
    }

    /// The congestion handshake ("Congestion" in the module docs), with the orderings the
    /// inbox uses: a producer registers as a waiter under the lock, then re-reads `posted`
    /// with a read-modify-write; the congested reactor lowers `posted`, then takes the
    /// waiters under the lock. Whatever the interleaving, the producer is resumed: by the
    /// reactor, or by its own re-check.
    #[test]
    fn loom_a_paused_producer_is_always_resumed() {
        const DRAINED: usize = 1;
        loom::model(|| {
            let posted = Arc::new(AtomicUsize::new(2)); // congested
            let waiters = Arc::new(Mutex::new(Vec::<u32>::new()));
            let resumed_by_reactor = Arc::new(AtomicUsize::new(0));
            let reactor = {
                let (posted, waiters, resumed) =
                    (posted.clone(), waiters.clone(), resumed_by_reactor.clone());
                thread::spawn(move || {
                    posted.fetch_sub(2, SeqCst); // `taken`
                    if posted.fetch_add(0, SeqCst) < DRAINED {
                        // `resume_waiters`
                        let taken = std::mem::take(&mut *waiters.lock().unwrap());
                        resumed.fetch_add(taken.len(), SeqCst);
                    }
                })
            };
            // The producer: `add_waiter`, then the re-check of `check_congestion`.
            waiters.lock().unwrap().push(7);
            let resumed_itself = posted.fetch_add(0, SeqCst) < DRAINED;
            reactor.join().unwrap();
            assert!(
                resumed_itself || resumed_by_reactor.load(SeqCst) == 1,
                "a producer stayed paused with its inbox drained"
            );
        });
    }
}
