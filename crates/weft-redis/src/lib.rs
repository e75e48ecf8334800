//! A Redis client on weft's reactors: [`Redis`] sends pipelined commands over one link,
//! [`Subscriber`] receives pub/sub messages over another; both links are ordinary dialled
//! weft connections, kept up with back-off and jitter while the server is away.
//!
//! ```text
//!   any thread ── Redis::command(args, reply) ──► the link's reactor: written, queued
//!                                                  │  (bounded: max_in_flight)
//!   reply(Ok(value)) ◄── on that reactor ◄──────── │  replies come back in order
//!
//!   link down ─► every queued reply gets Err(Down); commands fail at once with Down
//!              ─► a supervisor thread dials again after Backoff::next_delay()
//! ```
//!
//! Guarantees:
//!
//! * **Bounded**: at most `max_in_flight` commands are queued or awaiting a reply; one more
//!   fails at once with [`RedisError::Busy`]. While the link is down nothing is queued:
//!   commands fail at once with [`RedisError::Down`], so memory does not grow during an
//!   outage, and the caller decides (retry later, tell its own client).
//! * **Every reply callback runs exactly once**: with the reply, or with `Err(Down)` if the
//!   link went away first. It runs on the link's reactor thread (or, for a command refused
//!   at once, on the caller's thread): keep it short, and post anything for a connection of
//!   your own with [`ConnectionHandle::execute`](weft::ConnectionHandle::execute).
//! * **In order**: replies come in the order the commands were sent from one thread.
//!
//! Replies decode with [`weft::codec::RespReplyCodec`] (RESP2, and
//! the RESP3 kinds); an error reply is [`RedisError::Server`]. The server must speak RESP2
//! (every Redis since 1.2 does by default).
//!
//! ```no_run
//! use std::time::Duration;
//! use weft::Client;
//! use weft_redis::{Redis, RedisConfig};
//!
//! let runtime = Client::builder().reactors(1).build_client()?;
//! let redis = Redis::start(runtime.dialer(), RedisConfig::new("127.0.0.1:6379")?, |up| {
//!     eprintln!("redis link {}", if up { "up" } else { "down" });
//! });
//! assert!(redis.wait_up(Duration::from_secs(5)));
//! let (tx, rx) = std::sync::mpsc::channel();
//! redis.command(["SET", "greeting", "hello"], move |reply| {
//!     let _ = tx.send(reply);
//! })?;
//! println!("{:?}", rx.recv()?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "test-util")]
pub mod testing;

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use weft::codec::{RespReplyCodec, RespValue};
use weft::{
    Backoff, CloseReason, ConnectErrorKind, ConnectionHandle, Context, Dial, Dialer, Handler,
    Pipeline,
};

/// Why a command got no reply value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisError {
    /// The link is down (or went down before the reply came).
    Down,
    /// `max_in_flight` commands are queued already.
    Busy,
    /// The server answered with an error reply (its text, such as `ERR unknown command`).
    Server(String),
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::Down => f.write_str("the Redis link is down"),
            RedisError::Busy => f.write_str("too many Redis commands in flight"),
            RedisError::Server(message) => write!(f, "Redis: {message}"),
        }
    }
}

impl std::error::Error for RedisError {}

/// Where a link goes and how it comes back.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// The server (one or more targets, with the connect timeout).
    pub dial: Dial,
    /// Commands queued or awaiting a reply at most (default 4,096).
    pub max_in_flight: usize,
    /// The first wait before dialling again (default 50 ms).
    pub backoff_initial: Duration,
    /// The longest wait between attempts (default 1 s).
    pub backoff_max: Duration,
    /// The reactor the link lives on (default 0).
    pub reactor: usize,
}

impl RedisConfig {
    /// The defaults, for `HOST:PORT`, with a 2 s connect timeout.
    pub fn new(target: &str) -> Result<RedisConfig, weft::Error> {
        Ok(RedisConfig {
            dial: Dial::to(target)?.timeout(Duration::from_secs(2)),
            max_in_flight: 4096,
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
            reactor: 0,
        })
    }
}

/// A reply callback.
type Reply = Box<dyn FnOnce(Result<RespValue, RedisError>) + Send>;

/// A command's place in the in-flight count and its callback, answered exactly once: by
/// the reply, or with `Err(Down)` when dropped unanswered.
struct Pending {
    reply: Option<Reply>,
    shared: Arc<Shared>,
}

impl Pending {
    fn answer(mut self, result: Result<RespValue, RedisError>) {
        if let Some(reply) = self.reply.take() {
            self.shared.release_one();
            reply(result);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(reply) = self.reply.take() {
            self.shared.release_one();
            reply(Err(RedisError::Down));
        }
    }
}

/// What the handle, the link and the supervisor share.
struct Shared {
    /// The link while it is up.
    link: Mutex<Option<ConnectionHandle>>,
    up: AtomicBool,
    in_flight: AtomicUsize,
    max_in_flight: usize,
    /// Callbacks of [`Redis::when_ready`], run once `in_flight` is down to half of
    /// `max_in_flight` or the link is down. At most one per caller that saw `Busy`.
    waiters: Mutex<Vec<Box<dyn FnOnce() + Send>>>,
    /// `waiters` is not empty: lets the reply path skip the lock. The wake-up handshake:
    /// a waiter is pushed and this flag set before the registrant looks at `in_flight`;
    /// a reply decrements `in_flight` before it looks at this flag (both `SeqCst`), so one
    /// of the two sees the other and no waiter sleeps through the drop.
    has_waiters: AtomicBool,
    /// Wakes the waker thread, which runs the waiters: started by the first
    /// [`Redis::when_ready`]. Waiters never run on the link's reactor, where a command
    /// they send would be posted to the reactor's local queue and could overtake commands
    /// other threads posted before it.
    waker: std::sync::OnceLock<Sender<()>>,
    /// Stops the supervisor.
    stop: AtomicBool,
}

impl Shared {
    fn new(max_in_flight: usize) -> Shared {
        Shared {
            link: Mutex::new(None),
            up: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            max_in_flight,
            waiters: Mutex::new(Vec::new()),
            has_waiters: AtomicBool::new(false),
            waker: std::sync::OnceLock::new(),
            stop: AtomicBool::new(false),
        }
    }

    /// The waker thread's doorbell, the thread started on first use. It holds the shared
    /// state weakly and ends when the last handle is dropped (and with it the sender).
    fn waker(self: &Arc<Self>) -> &Sender<()> {
        self.waker.get_or_init(|| {
            let (tx, rx) = bounded::<()>(1);
            let shared = Arc::downgrade(self);
            let spawned = std::thread::Builder::new()
                .name("weft-redis-ready".into())
                .spawn(move || {
                    while rx.recv().is_ok() {
                        match shared.upgrade() {
                            Some(shared) => shared.wake(),
                            None => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start the Redis waker thread");
            }
            tx
        })
    }

    fn link(&self) -> Option<ConnectionHandle> {
        self.link.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_link(&self, link: Option<ConnectionHandle>) {
        let down = link.is_none();
        self.up.store(!down, Ordering::SeqCst);
        *self.link.lock().unwrap_or_else(|p| p.into_inner()) = link;
        if down {
            self.wake(); // whoever waits for room learns the link is gone
        }
    }

    /// The in-flight count at which waiters are woken.
    fn low_water(&self) -> usize {
        self.max_in_flight / 2
    }

    /// One command left the in-flight count (answered, or dropped with the link).
    fn release_one(&self) {
        let now = self.in_flight.fetch_sub(1, Ordering::SeqCst) - 1;
        if now <= self.low_water() && self.has_waiters.load(Ordering::SeqCst) {
            if let Some(waker) = self.waker.get() {
                let _ = waker.try_send(()); // full: a wake-up is already due
            }
        }
    }

    /// Runs every waiter (outside the lock: a waiter may register again).
    fn wake(&self) {
        let waiters = {
            let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            self.has_waiters.store(false, Ordering::SeqCst);
            std::mem::take(&mut *waiters)
        };
        for waiter in waiters {
            waiter();
        }
    }
}

/// The command link's handler: writes commands, answers them in order.
struct Link {
    pending: VecDeque<Pending>,
    down: Sender<()>,
}

impl Handler for Link {
    type In<'a> = RespValue;
    type Out<'a> = Vec<Bytes>;

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, reply: RespValue) {
        let Some(pending) = self.pending.pop_front() else {
            tracing::warn!(conn = %ctx.id(), "Redis sent a reply nobody asked for; link closed");
            ctx.abort();
            return;
        };
        match reply {
            RespValue::Error(text) => pending.answer(Err(RedisError::Server(
                String::from_utf8_lossy(&text).into_owned(),
            ))),
            value => pending.answer(Ok(value)),
        }
    }

    fn on_read_closed(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.abort(); // the server went away: fail what waits now
    }

    fn on_inactive(&mut self, _ctx: &mut Context<'_, Self>, reason: CloseReason) {
        tracing::debug!(%reason, pending = self.pending.len(), "Redis link closed");
        self.pending.clear(); // each answered Err(Down)
        let _ = self.down.try_send(());
    }
}

/// A command link to Redis, kept up; `Send + Sync + Clone`. See the crate docs.
#[derive(Clone)]
pub struct Redis {
    shared: Arc<Shared>,
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("up", &self.is_up())
            .field("in_flight", &self.shared.in_flight.load(Ordering::Relaxed))
            .finish()
    }
}

impl Redis {
    /// Starts the link on `dialer`'s reactors (reactor `config.reactor`), and a supervisor
    /// thread that dials again with back-off whenever it goes down. `on_state` hears every
    /// change (`true`: up), on the link's reactor or the supervisor thread.
    pub fn start(
        dialer: Dialer,
        config: RedisConfig,
        on_state: impl Fn(bool) + Send + Sync + 'static,
    ) -> Redis {
        let shared = Arc::new(Shared::new(config.max_in_flight.max(1)));
        let redis = Redis {
            shared: shared.clone(),
        };
        let on_state = Arc::new(on_state);
        supervise("weft-redis", dialer, config, shared.clone(), move |down| {
            let on_state = on_state.clone();
            let shared = shared.clone();
            (
                move || {
                    Pipeline::new(
                        RespReplyCodec::default(),
                        Link {
                            pending: VecDeque::new(),
                            down,
                        },
                    )
                },
                move |link: Option<ConnectionHandle>| {
                    let up = link.is_some();
                    shared.set_link(link);
                    on_state(up);
                },
            )
        });
        redis
    }

    /// Sends a command (its arguments, such as `["SET", "k", "v"]`); `reply` runs once with
    /// the reply, or with `Err(Down)` if the link goes away first. Fails at once, without
    /// calling `reply`, when the link is down ([`RedisError::Down`]) or `max_in_flight`
    /// commands wait ([`RedisError::Busy`]).
    pub fn command<A, R>(&self, args: A, reply: R) -> Result<(), RedisError>
    where
        A: IntoIterator,
        A::Item: Into<Bytes>,
        R: FnOnce(Result<RespValue, RedisError>) + Send + 'static,
    {
        let Some(link) = self.shared.link() else {
            return Err(RedisError::Down);
        };
        let shared = &self.shared;
        if shared.in_flight.fetch_add(1, Ordering::SeqCst) >= shared.max_in_flight {
            shared.release_one();
            return Err(RedisError::Busy);
        }
        let args: Vec<Bytes> = args.into_iter().map(Into::into).collect();
        let pending = Pending {
            reply: Some(Box::new(reply)),
            shared: shared.clone(),
        };
        let posted = link.execute::<Link, _>(move |link, ctx| {
            if ctx.is_closing() {
                return; // `pending` is dropped: Err(Down)
            }
            ctx.write(args);
            link.pending.push_back(pending);
        });
        // Not posted (the link closed meanwhile): the closure was dropped, and with it
        // `pending`, which answered `Err(Down)` and gave its place back.
        let _ = posted;
        Ok(())
    }

    /// True while the link is up.
    pub fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::Acquire)
    }

    /// Waits until the link is up, at most `timeout`; true if it is.
    pub fn wait_up(&self, timeout: Duration) -> bool {
        wait_until(timeout, || self.is_up())
    }

    /// Runs `ready` once there is room again after a [`RedisError::Busy`]: when at most
    /// half of `max_in_flight` commands are in flight, or the link is down (a command then
    /// fails with `Down`). It runs at once, on this thread, if that is already so;
    /// otherwise on the client's own waker thread (or the supervisor's, when the link goes
    /// down), never on a reactor: commands it sends queue behind those other threads sent
    /// before, in order. Keep it short, and post to your own connection with
    /// [`ConnectionHandle::execute`](weft::ConnectionHandle::execute).
    ///
    /// This is how a caller holds work back instead of losing it: on `Busy`, keep the
    /// command (and stop taking more, say by pausing the client that asked), register
    /// here, and send it again from `ready`. Register once per `Busy` seen: every waiter
    /// is kept until it runs.
    ///
    /// ```no_run
    /// # fn demo(redis: weft_redis::Redis) {
    /// use weft_redis::RedisError;
    /// if let Err(RedisError::Busy) = redis.command(["INCR", "hits"], |_| {}) {
    ///     let again = redis.clone();
    ///     redis.when_ready(move || {
    ///         let _ = again.command(["INCR", "hits"], |_| {});
    ///     });
    /// }
    /// # }
    /// ```
    pub fn when_ready(&self, ready: impl FnOnce() + Send + 'static) {
        let shared = &self.shared;
        shared.waker();
        shared
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(ready));
        shared.has_waiters.store(true, Ordering::SeqCst);
        if shared.in_flight.load(Ordering::SeqCst) <= shared.low_water()
            || !shared.up.load(Ordering::SeqCst)
        {
            shared.wake();
        }
    }

    /// Commands queued or awaiting a reply now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Acquire)
    }

    /// Stops reconnecting and closes the link (commands then fail with `Down`).
    pub fn close(&self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(link) = self.shared.link() {
            link.close();
        }
    }
}

/// A pub/sub link to Redis, kept up and subscribed; see [`Subscriber::start`].
#[derive(Clone)]
pub struct Subscriber {
    shared: Arc<Shared>,
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("up", &self.is_up())
            .finish()
    }
}

/// What a message handler is given: the channel and the payload.
type OnMessage = Arc<dyn Fn(Bytes, Bytes) + Send + Sync>;

/// The subscriber link's handler.
struct SubLink {
    channels: Vec<Bytes>,
    confirmed: usize,
    on_message: OnMessage,
    on_subscribed: Arc<dyn Fn(ConnectionHandle) + Send + Sync>,
    down: Sender<()>,
}

impl Handler for SubLink {
    type In<'a> = RespValue;
    type Out<'a> = Vec<Bytes>;

    fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
        let mut args = vec![Bytes::from_static(b"SUBSCRIBE")];
        args.extend(self.channels.iter().cloned());
        ctx.write(args);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, value: RespValue) {
        let RespValue::Array(items) = value else {
            tracing::warn!("unexpected reply on a Redis subscriber link; closed");
            ctx.abort();
            return;
        };
        let mut items = items.into_iter();
        let kind = match items.next() {
            Some(RespValue::Bulk(kind)) => kind,
            _ => return,
        };
        match &kind[..] {
            b"message" => {
                if let (Some(RespValue::Bulk(channel)), Some(RespValue::Bulk(payload))) =
                    (items.next(), items.next())
                {
                    (self.on_message)(channel, payload);
                }
            }
            b"subscribe" => {
                self.confirmed += 1;
                if self.confirmed == self.channels.len() {
                    (self.on_subscribed)(ctx.handle());
                }
            }
            _ => {}
        }
    }

    fn on_read_closed(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.abort();
    }

    fn on_inactive(&mut self, _ctx: &mut Context<'_, Self>, _reason: CloseReason) {
        let _ = self.down.try_send(());
    }
}

impl Subscriber {
    /// Subscribes to `channels` over its own link (a subscribed connection takes no other
    /// command) and calls `on_message(channel, payload)` for every message, on the link's
    /// reactor; kept up like [`Redis::start`]'s link. `on_state(true)` once every channel
    /// is confirmed (messages published before that may be missed: that is pub/sub's own
    /// rule), `false` when the link goes down.
    pub fn start(
        dialer: Dialer,
        config: RedisConfig,
        channels: Vec<Bytes>,
        on_message: impl Fn(Bytes, Bytes) + Send + Sync + 'static,
        on_state: impl Fn(bool) + Send + Sync + 'static,
    ) -> Subscriber {
        assert!(!channels.is_empty(), "subscribe to at least one channel");
        let shared = Arc::new(Shared::new(1));
        let on_message: OnMessage = Arc::new(on_message);
        let on_state = Arc::new(on_state);
        let subscriber = Subscriber {
            shared: shared.clone(),
        };
        supervise(
            "weft-redis-sub",
            dialer,
            config,
            shared.clone(),
            move |down| {
                let (on_message, channels) = (on_message.clone(), channels.clone());
                let subscribed = {
                    let (shared, on_state) = (shared.clone(), on_state.clone());
                    Arc::new(move |link: ConnectionHandle| {
                        shared.set_link(Some(link));
                        on_state(true);
                    })
                };
                let (shared, on_state) = (shared.clone(), on_state.clone());
                (
                    move || {
                        Pipeline::new(
                            RespReplyCodec::default(),
                            SubLink {
                                channels,
                                confirmed: 0,
                                on_message,
                                on_subscribed: subscribed,
                                down,
                            },
                        )
                    },
                    move |link: Option<ConnectionHandle>| {
                        // Up only once subscribed (above); down at once.
                        if link.is_none() {
                            shared.set_link(None);
                            on_state(false);
                        }
                    },
                )
            },
        );
        subscriber
    }

    /// True while subscribed.
    pub fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::Acquire)
    }

    /// Waits until subscribed, at most `timeout`; true if it is.
    pub fn wait_up(&self, timeout: Duration) -> bool {
        wait_until(timeout, || self.is_up())
    }

    /// Stops reconnecting and closes the link.
    pub fn close(&self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(link) = self.shared.link() {
            link.close();
        }
    }
}

fn wait_until(timeout: Duration, up: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while !up() {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// The supervisor: dials, waits for the link to go down, waits a back-off, dials again,
/// until stopped or the runtime stops. `make(down)` gives the pipeline factory for one
/// link (whose handler signals `down` when it closes) and the state callback (`Some` once
/// dialled, `None` when down).
fn supervise<G, C, S, H, M, T>(
    name: &str,
    dialer: Dialer,
    config: RedisConfig,
    shared: Arc<Shared>,
    make: M,
) where
    M: Fn(Sender<()>) -> (G, T) + Send + 'static,
    G: FnOnce() -> Pipeline<C, S, H> + Send + 'static,
    C: weft::codec::Decoder + for<'m> weft::codec::Encoder<H::Out<'m>> + 'static,
    S: for<'m> weft::Stage<In<'m> = C::Item<'m>, Fwd<'m> = H::In<'m>>,
    H: Handler,
    T: Fn(Option<ConnectionHandle>) + Send + Sync + 'static,
{
    let spawned = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let mut backoff = Backoff::new(config.backoff_initial, config.backoff_max);
            let mut logged_down = false;
            while !shared.stop.load(Ordering::Acquire) {
                let (down_tx, down_rx) = bounded::<()>(1);
                let (factory, state) = make(down_tx);
                let state = Arc::new(state);
                let (done_tx, done_rx) = bounded(1);
                dialer.connect(Some(config.reactor), config.dial.clone(), factory, {
                    let state = state.clone();
                    move |result| {
                        let outcome = match result {
                            Ok(up) => {
                                state(Some(up.handle().clone()));
                                Ok(())
                            }
                            Err(e) => Err((e.kind(), e.to_string())),
                        };
                        let _ = done_tx.send(outcome);
                    }
                });
                match done_rx.recv() {
                    Ok(Ok(())) => {
                        tracing::info!(target = ?config.dial, "Redis link up");
                        logged_down = false;
                        backoff.reset();
                        wait_down(&down_rx, &shared);
                        state(None);
                        if !shared.stop.load(Ordering::Acquire) {
                            tracing::warn!("Redis link down; reconnecting");
                        }
                    }
                    Ok(Err((ConnectErrorKind::Stopped, _))) | Err(_) => return,
                    Ok(Err((_, error))) => {
                        if !logged_down {
                            tracing::warn!(%error, "cannot reach Redis; retrying with back-off");
                            logged_down = true;
                        }
                    }
                }
                std::thread::sleep(backoff.next_delay());
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the Redis supervisor thread");
    }
}

/// Blocks until the link signals down (or the stop flag is set).
fn wait_down(down: &Receiver<()>, shared: &Shared) {
    loop {
        match down.recv_timeout(Duration::from_millis(200)) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                if shared.stop.load(Ordering::Acquire) {
                    return;
                }
            }
        }
    }
}
