//! [`ServerBuilder`]: every knob of a server, with typed values and defaults.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::bounded;
use mio::{Poll, Waker};
use weft_codec::{Decoder, Encoder};

use super::{Client, Server, Shared};
use crate::admission::Admission;
use crate::config::{
    AcceptMode, Config, IdleTimeouts, ProxyProtocol, WriteWatermarks, MAX_TIMEOUT,
};
use crate::conn::{Drive, NoPipeline};
use crate::error::Error;
use crate::inbox::Inbox;
use crate::metrics::watchdog::{self, Thresholds};
use crate::metrics::Metrics;
use crate::net;
use crate::pipeline::{Handler, Pipeline, Stage};
use crate::reactor::{Acceptor, Reactor, ReactorParts, WAKER};

/// Configures and starts a [`Server`].
///
/// Every knob has a default; only [`pipeline`](ServerBuilder::pipeline) is required.
/// [`bind`](ServerBuilder::bind) validates the whole configuration, binds, starts every
/// thread and returns the running server.
///
/// ```
/// use std::time::Duration;
/// use weft::codec::LineCodec;
/// use weft::{Context, Handler, IdleTimeouts, Pipeline, Server};
///
/// struct Echo;
///
/// impl Handler for Echo {
///     type In<'a> = &'a [u8];
///     type Out<'a> = &'a [u8];
///     fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
///         ctx.write(line);
///     }
/// }
///
/// let server = Server::builder()
///     .addr("127.0.0.1:0") // any free port; a name such as "localhost:7000" works too
///     .reactors(2)
///     .output_limit(1024 * 1024) // a client this far behind is disconnected
///     .frame_timeout(Duration::from_secs(30)) // a line must be complete within 30 s
///     .idle_timeouts(IdleTimeouts {
///         read: Some(Duration::from_secs(300)), // on_idle after 5 min of silence
///         ..IdleTimeouts::default()
///     })
///     .pipeline(|| Pipeline::new(LineCodec::new(8192), Echo))
///     .bind()?;
/// assert_eq!(server.reactors(), 2);
/// assert_ne!(server.local_addr().port(), 0); // the port the OS chose
/// server.shutdown(Duration::from_secs(1));
///
/// // bind() checks the whole configuration before it starts anything.
/// let refused = Server::builder()
///     .reactors(0)
///     .pipeline(|| Pipeline::new(LineCodec::new(8192), Echo))
///     .bind();
/// assert!(refused.is_err());
/// # Ok::<(), weft::Error>(())
/// ```
pub struct ServerBuilder<F> {
    config: Config,
    /// What [`addr`](ServerBuilder::addr) resolved to (`None`: the default address); a
    /// failed lookup is reported by `bind`.
    addrs: Option<io::Result<Vec<SocketAddr>>>,
    factory: F,
}

impl<F> fmt::Debug for ServerBuilder<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

impl ServerBuilder<()> {
    pub(crate) fn new() -> Self {
        ServerBuilder {
            config: Config::default(),
            addrs: None,
            factory: (),
        }
    }

    /// The configuration built so far, checked as `bind` checks it (for the embedded
    /// pipeline).
    #[cfg_attr(not(feature = "test-util"), allow(dead_code))]
    pub(crate) fn into_config(self) -> Result<Config, Error> {
        validate(&self.config)?;
        Ok(self.config)
    }
}

impl<F> ServerBuilder<F> {
    /// The address to listen on: anything [`ToSocketAddrs`] takes, such as a
    /// [`SocketAddr`], `"127.0.0.1:7000"`, `"localhost:7000"` or `("::", 7000)`. Default
    /// `127.0.0.1:0` (the OS picks a port; see [`Server::local_addr`]).
    ///
    /// A host name is looked up here; [`bind`](ServerBuilder::bind) listens on the first of
    /// its addresses that it can bind, and fails if the lookup failed (an I/O error) or
    /// found no address (a configuration error).
    pub fn addr(mut self, addr: impl ToSocketAddrs) -> Self {
        self.addrs = Some(addr.to_socket_addrs().map(Iterator::collect));
        self
    }

    /// The number of reactors (event-loop threads), at least 1 (`bind` refuses 0).
    /// Default: the number of CPUs.
    pub fn reactors(mut self, reactors: usize) -> Self {
        self.config.reactors = reactors;
        self
    }

    /// Pins reactor `i` to CPU `i % cpus`. Default: pinned when there are no more reactors
    /// than CPUs.
    pub fn pin_reactors(mut self, pin: bool) -> Self {
        self.config.pin_reactors = Some(pin);
        self
    }

    /// How connections reach the reactors. Default [`AcceptMode::Acceptor`].
    pub fn accept_mode(mut self, mode: AcceptMode) -> Self {
        self.config.accept_mode = mode;
        self
    }

    /// The listen backlog. Default 1024.
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.config.backlog = backlog;
        self
    }

    /// `TCP_NODELAY` on accepted connections. Default on.
    pub fn nodelay(mut self, nodelay: bool) -> Self {
        self.config.child.nodelay = nodelay;
        self
    }

    /// `SO_RCVBUF` for accepted connections. Default: the OS's.
    pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
        self.config.child.recv_buffer_size = Some(bytes);
        self
    }

    /// `SO_SNDBUF` for accepted connections. Default: the OS's.
    pub fn send_buffer_size(mut self, bytes: usize) -> Self {
        self.config.child.send_buffer_size = Some(bytes);
        self
    }

    /// TCP keepalive on accepted connections, probing after `idle`. Default off.
    pub fn keepalive(mut self, idle: Duration) -> Self {
        self.config.child.keepalive = Some(idle);
        self
    }

    /// The default watermarks on each connection's unsent output (32 KiB / 64 KiB unless
    /// set). A handler can override them per connection.
    pub fn write_watermarks(mut self, watermarks: WriteWatermarks) -> Self {
        self.config.watermarks = watermarks;
        self
    }

    /// The hard limit on each connection's queued output, counted as memory (its bytes plus
    /// a small overhead per separately queued chunk; see `docs/flow-control.md`). Default
    /// 16 MiB; `usize::MAX` for none.
    ///
    /// Unlike the watermarks, which pause reading, this limit closes: a write (or a write
    /// from another thread, or a broadcast) that would take the queued output past it is not
    /// queued, [`Handler::on_output_limit`](crate::Handler::on_output_limit) may queue a last
    /// reply, and the connection closes with
    /// [`CloseReason::SlowConsumer`](crate::CloseReason::SlowConsumer) after flushing what
    /// was queued before. A handler can change it per connection with
    /// [`Context::set_output_limit`](crate::Context::set_output_limit).
    pub fn output_limit(mut self, bytes: usize) -> Self {
        self.config.output_limit = bytes;
        self
    }

    /// Whether weft stops reading from a connection while it is unwritable (above its high
    /// watermark) and resumes once it is writable again. Default on: a peer that sends
    /// without reading then costs at most the high watermark of output plus one read of
    /// input, whatever the handler does.
    pub fn pause_read_when_unwritable(mut self, pause: bool) -> Self {
        self.config.pause_read_when_unwritable = pause;
        self
    }

    /// At most this many open connections (at least 1; `bind` refuses 0); accepting pauses
    /// at the limit and resumes below it. Default: no limit.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.config.max_connections = Some(max);
        self
    }

    /// Idle times for [`Handler::on_idle`](crate::Handler::on_idle). Default: none.
    pub fn idle_timeouts(mut self, idle: IdleTimeouts) -> Self {
        self.config.idle = idle;
        self
    }

    /// How long a closing connection may take to flush its output and see the peer's EOF
    /// before it is aborted. Default 10 s.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.config.close_timeout = timeout;
        self
    }

    /// How long a connection that closed (sent its FIN) goes on reading and discarding
    /// input, waiting for the peer's own end of stream, before it lets go of the socket.
    /// Default 2 s; bounded by the close timeout too.
    ///
    /// Closing a socket with unread input makes the kernel send a reset, which can destroy
    /// replies the peer has received but not read yet (the last answer before a `QUIT`, an
    /// `ERR line too long`): the linger avoids that for a peer whose input is in flight. A
    /// peer that keeps its socket open after our FIN holds it for the whole linger; a
    /// protocol that closes on errors promptly (redis does, in about 40 ms) may want less.
    /// Zero closes right after the FIN.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.config.linger = linger;
        self
    }

    /// How long a frame may take to arrive once its first byte has: a connection whose
    /// decoder has been holding an incomplete frame for longer is closed with
    /// [`CloseReason::FrameTimeout`](crate::CloseReason::FrameTimeout), after the replies it
    /// is owed are flushed. Separate from the idle timeouts, which count silence: a peer
    /// trickling one byte at a time is never idle, but its frame still times out (nginx's
    /// `client_header_timeout`, generalised). The clock stops while reading is paused.
    /// Default: none.
    pub fn frame_timeout(mut self, timeout: Duration) -> Self {
        self.config.frame_timeout = Some(timeout);
        self
    }

    /// Whether every accepted connection must begin with a PROXY protocol header (version
    /// 1 or 2, as HAProxy's `send-proxy` and `send-proxy-v2` send it), and from which
    /// sources. Default [`ProxyProtocol::Off`].
    ///
    /// With [`ProxyProtocol::Required`], the header is read before anything else, below
    /// the codec: the pipeline sees none of its bytes, and bytes after it in the same read
    /// are its first. [`Handler::on_active`](crate::Handler::on_active) runs once the
    /// header is read, and from then on
    /// [`Context::peer_addr`](crate::Context::peer_addr) (and the logs) give the header's
    /// source, [`Context::local_addr`](crate::Context::local_addr) its destination, and
    /// [`Context::proxy_header`](crate::Context::proxy_header) the whole header with its
    /// TLVs; a version 2 `LOCAL` header (a balancer's health check) keeps the socket's
    /// addresses. A header that is missing, malformed, over the decoder's cap
    /// (`weft_codec::proxy_protocol::MAX_LEN`) or not complete within
    /// [`proxy_header_timeout`](ServerBuilder::proxy_header_timeout), or a connection from
    /// a source outside `trusted`, closes the connection without a reply and without its
    /// pipeline ever running: counted by cause (`weft_proxy_header_rejections_total`) and
    /// closed as [`CloseReason::ProxyHeader`](crate::CloseReason::ProxyHeader).
    ///
    /// While the header is awaited, the idle and frame timeouts do not run (the header
    /// timeout stands in for them); a shutdown closes the connection at once. Dialled
    /// connections never expect a header.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::net::TcpStream;
    /// use std::time::Duration;
    /// use weft::codec::LineCodec;
    /// use weft::{Context, Handler, Pipeline, ProxyProtocol, Server};
    ///
    /// /// Tells each client where it connects from.
    /// struct WhoAmI;
    ///
    /// impl Handler for WhoAmI {
    ///     type In<'a> = &'a [u8];
    ///     type Out<'a> = &'a [u8];
    ///     fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
    ///         ctx.write(format!("{}\n", ctx.peer_addr()).as_bytes());
    ///         ctx.close();
    ///     }
    ///     fn on_message(&mut self, _: &mut Context<'_, Self>, _: &[u8]) {}
    /// }
    ///
    /// let server = Server::builder()
    ///     .proxy_protocol(ProxyProtocol::required_from(["127.0.0.1".parse().unwrap()]))
    ///     .proxy_header_timeout(Duration::from_secs(2))
    ///     .pipeline(|| Pipeline::new(LineCodec::new(64), WhoAmI))
    ///     .bind()?;
    ///
    /// let mut client = TcpStream::connect(server.local_addr())?;
    /// client.set_read_timeout(Some(Duration::from_secs(5)))?;
    /// client.write_all(b"PROXY TCP4 192.0.2.7 198.51.100.1 51000 443\r\n")?;
    /// let mut answer = String::new();
    /// client.read_to_string(&mut answer)?;
    /// assert_eq!(answer, "192.0.2.7:51000\n");
    ///
    /// // No header: closed without a byte.
    /// let mut direct = TcpStream::connect(server.local_addr())?;
    /// direct.set_read_timeout(Some(Duration::from_secs(5)))?;
    /// direct.write_all(b"hello\n")?;
    /// assert_eq!(direct.read(&mut [0; 64])?, 0);
    /// server.shutdown(Duration::from_secs(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn proxy_protocol(mut self, proxy_protocol: ProxyProtocol) -> Self {
        self.config.proxy_protocol = proxy_protocol;
        self
    }

    /// How long an accepted connection may take to send its whole PROXY protocol header,
    /// counted from when it was registered, when
    /// [`proxy_protocol`](ServerBuilder::proxy_protocol) requires one. Default 5 s (the
    /// specification asks for at least 3, to cover a TCP retransmission).
    pub fn proxy_header_timeout(mut self, timeout: Duration) -> Self {
        self.config.proxy_header_timeout = timeout;
        self
    }

    /// Serves TLS on every accepted connection, with `acceptor`'s certificates (which
    /// [`TlsAcceptor::reload`](crate::tls::TlsAcceptor::reload) may replace while the
    /// server runs). The handshake runs before the pipeline: `on_active` comes once it is
    /// complete (after the PROXY header, when one is required), and codecs and handlers see
    /// plaintext. A handshake that fails or does not complete within
    /// [`tls_handshake_timeout`](ServerBuilder::tls_handshake_timeout) closes the
    /// connection as [`CloseReason::TlsHandshake`](crate::CloseReason::TlsHandshake),
    /// logged and counted by cause (`weft_tls_handshake_failures_total`). See `docs/tls.md`.
    pub fn tls(mut self, acceptor: crate::tls::TlsAcceptor) -> Self {
        self.config.tls = Some(acceptor);
        self
    }

    /// How long a TLS handshake may take: counted from the accept for connections of a
    /// server with [`tls`](ServerBuilder::tls) (a PROXY header read first counts against
    /// it), and from the connect for dialled ones with [`Dial::tls`](crate::Dial::tls).
    /// Default 10 s; it cannot be turned off.
    pub fn tls_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.tls_handshake_timeout = timeout;
        self
    }

    /// Bytes read from one connection per loop turn before the reactor serves the others
    /// (at least 1; `bind` refuses 0). Default 256 KiB.
    pub fn read_budget(mut self, bytes: usize) -> Self {
        self.config.read_budget = bytes;
        self
    }

    /// Tasks from other threads ([`Server::execute`]) that may wait in one reactor's inbox;
    /// `execute` returns false beyond it. At least 1 (`bind` refuses 0); default 65,536.
    /// (Writes through handles and broadcasts are bounded by each target's output limit
    /// instead, new connections by the acceptor waiting; see `docs/flow-control.md`.)
    pub fn inbox_capacity(mut self, commands: usize) -> Self {
        self.config.inbox_capacity = commands;
        self
    }

    /// Threads in the worker pool for [`Context::offload`](crate::Context::offload), at
    /// least 1 (`bind` refuses 0). Default: the number of CPUs.
    pub fn pool_threads(mut self, threads: usize) -> Self {
        self.config.pool_threads = threads;
        self
    }

    /// Jobs the worker pool's queue holds; `offload` fails with
    /// [`OffloadError::Full`](crate::OffloadError::Full) beyond it. At least 1 (`bind`
    /// refuses 0); default 1024.
    pub fn pool_queue(mut self, jobs: usize) -> Self {
        self.config.pool_queue = jobs;
        self
    }

    /// The watchdog's stall threshold: a callback into user code (handler, stage, decoder,
    /// encoder, continuation, task) seen running longer is reported at `warn`, naming the
    /// reactor, the connection, the callback and the handler's and stages' types, and
    /// counted (`weft_stalls_total`). `None` turns the watchdog off. Default 10 ms. See
    /// `docs/observability.md`.
    pub fn stall_threshold(mut self, threshold: Option<Duration>) -> Self {
        self.config.stall_threshold = threshold;
        self
    }

    /// How long a callback may run before the watchdog reports its reactor as stuck, at
    /// `error`, again once per threshold while it stays stuck. Default 1 s.
    pub fn stuck_threshold(mut self, threshold: Duration) -> Self {
        self.config.stuck_threshold = threshold;
        self
    }

    /// Offloaded jobs one connection may have queued or running at once; beyond it
    /// [`Context::offload`](crate::Context::offload) fails with
    /// [`OffloadError::Busy`](crate::OffloadError::Busy), so that one connection cannot fill
    /// the pool's queue ahead of everyone else. At least 1 (`bind` refuses 0); default 16.
    pub fn jobs_per_connection(mut self, jobs: usize) -> Self {
        self.config.jobs_per_connection = jobs;
        self
    }

    /// The factory that builds each connection's pipeline, called on the connection's
    /// reactor thread.
    pub fn pipeline<G, C, S, H>(self, factory: G) -> ServerBuilder<G>
    where
        G: Fn() -> Pipeline<C, S, H> + Send + Sync + 'static,
        C: Decoder + for<'m> Encoder<H::Out<'m>> + 'static,
        S: for<'m> Stage<In<'m> = C::Item<'m>, Fwd<'m> = H::In<'m>>,
        H: Handler,
    {
        ServerBuilder {
            config: self.config,
            addrs: self.addrs,
            factory,
        }
    }
}

impl<G, C, S, H> ServerBuilder<G>
where
    G: Fn() -> Pipeline<C, S, H> + Send + Sync + 'static,
    C: Decoder + for<'m> Encoder<H::Out<'m>> + 'static,
    S: for<'m> Stage<In<'m> = C::Item<'m>, Fwd<'m> = H::In<'m>>,
    H: Handler,
{
    /// Validates the configuration, binds, starts every thread, and returns the running
    /// server.
    pub fn bind(self) -> Result<Server, Error> {
        start(self.config, Some(self.addrs), self.factory)
    }
}

impl ServerBuilder<()> {
    /// Starts reactors that only dial out: no listener, no acceptor, no pipeline factory.
    /// Every setting but the listening ones (address, backlog, accept mode, connection
    /// limit) applies to the dialled connections. See [`Client`].
    pub fn build_client(self) -> Result<Client, Error> {
        let server = start(self.config, None, || NoPipeline)?;
        Ok(Client { server })
    }
}

/// Starts a server; `addrs` is `None` for a client runtime (no listener).
fn start<G, P>(
    config: Config,
    addrs: Option<Option<io::Result<Vec<SocketAddr>>>>,
    factory: G,
) -> Result<Server, Error>
where
    G: Fn() -> P + Send + Sync + 'static,
    P: Drive,
{
    validate(&config)?;
    let reactors = config.reactors;
    let reuse_port = config.accept_mode == AcceptMode::ReusePort;
    let listen = addrs.is_some();
    // Bind first, so a bad address fails before any thread starts.
    let mut listeners = Vec::new();
    let local_addr = match addrs {
        Some(addrs) => {
            let addrs = match addrs {
                None => vec![config.addr],
                Some(resolved) => resolved?,
            };
            let first = bind_first(&addrs, config.backlog, reuse_port)?;
            let local_addr = first.local_addr()?;
            listeners.push(first);
            if reuse_port {
                for _ in 1..reactors {
                    listeners.push(net::bind_listener(local_addr, config.backlog, true)?);
                }
            }
            local_addr
        }
        None => SocketAddr::from(([0, 0, 0, 0], 0)),
    };

    let mut metrics = Metrics::new(reactors);
    metrics.pipeline = P::type_names();
    let metrics = Arc::new(metrics);
    let mut polls = Vec::with_capacity(reactors);
    let mut inboxes = Vec::with_capacity(reactors);
    let mut receivers = Vec::with_capacity(reactors);
    for index in 0..reactors {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let (inbox, rx) = Inbox::new(index, config.inbox_capacity, waker);
        polls.push(poll);
        inboxes.push(Arc::new(inbox));
        receivers.push(rx);
    }

    let mut config = config;
    config.addr = local_addr;
    let config = Arc::new(config);
    let (acceptor, admission) = if reuse_port || !listen {
        (None, Admission::new(None))
    } else {
        let listener = listeners.pop().expect("one listener");
        let (acceptor, admission) =
            Acceptor::new(listener, inboxes.clone(), config.clone(), metrics.clone())?;
        (Some(acceptor), admission)
    };

    let (pool, pool_threads) =
        crate::pool::start(config.pool_threads, config.pool_queue, metrics.pool.clone())?;
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let pin = config
        .pin_reactors
        .unwrap_or(!cores.is_empty() && reactors <= cores.len());
    let factory = Arc::new(factory);
    let mut threads = Vec::with_capacity(reactors + 1);
    let (ready_tx, ready_rx) = bounded::<Result<(), std::io::Error>>(reactors);
    let mut listeners = listeners.into_iter();
    for (index, (poll, rx)) in polls.into_iter().zip(receivers).enumerate() {
        let parts = ReactorParts {
            index,
            poll,
            inbox: inboxes[index].clone(),
            rx,
            factory: factory.clone(),
            config: config.clone(),
            metrics: metrics.clone(),
            admission: admission.clone(),
            listener: listeners.next(),
            pool: pool.clone(),
        };
        let core = pin.then(|| cores[index % cores.len()]);
        let ready_tx = ready_tx.clone();
        let thread = std::thread::Builder::new()
            .name(format!("weft-reactor-{index}"))
            .spawn(move || {
                if let Some(core) = core {
                    if !core_affinity::set_for_current(core) {
                        tracing::warn!(reactor = index, "could not pin reactor to a CPU");
                    }
                }
                match Reactor::new(parts) {
                    Ok(reactor) => {
                        let _ = ready_tx.send(Ok(()));
                        reactor.run();
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })?;
        threads.push(thread);
    }
    if let Some(acceptor) = acceptor {
        threads.push(
            std::thread::Builder::new()
                .name("weft-acceptor".into())
                .spawn(move || acceptor.run())?,
        );
    }

    // The reactors hold the only senders: the pool threads end after the reactors do.
    drop(pool);
    threads.extend(pool_threads);

    let watchdog = match config.stall_threshold {
        Some(stall) => {
            let stop = Arc::new(AtomicBool::new(false));
            let thresholds = Thresholds {
                stall,
                stuck: config.stuck_threshold,
            };
            let (metrics, flag) = (metrics.clone(), stop.clone());
            let thread = std::thread::Builder::new()
                .name("weft-watchdog".into())
                .spawn(move || watchdog::run(metrics, thresholds, flag))?;
            Some((stop, thread))
        }
        None => None,
    };
    let server = Server {
        watchdog,
        local_addr,
        metrics,
        shared: Arc::new(Shared {
            admission,
            inboxes,
            stopping: AtomicBool::new(false),
            next_dial: std::sync::atomic::AtomicUsize::new(0),
        }),
        threads,
    };
    for _ in 0..reactors {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.into()), // dropping `server` stops the rest
            Err(_) => return Err(Error::config("a reactor thread died while starting")),
        }
    }
    if listen {
        tracing::info!(addr = %local_addr, reactors, pinned = pin, mode = ?config.accept_mode, "server started");
    } else {
        tracing::info!(reactors, pinned = pin, "client runtime started");
    }
    Ok(server)
}

/// A listener on the first of `addrs` that binds (as `std::net::TcpListener::bind` does).
fn bind_first(
    addrs: &[SocketAddr],
    backlog: u32,
    reuse_port: bool,
) -> Result<mio::net::TcpListener, Error> {
    let mut last = None;
    for &addr in addrs {
        match net::bind_listener(addr, backlog, reuse_port) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => Error::io(e),
        None => Error::config("the listen address (addr) resolves to no socket address"),
    })
}

/// Checks every setting `bind` needs valid; the embedded pipeline checks the same.
pub(crate) fn validate(config: &Config) -> Result<(), Error> {
    for (name, value) in [
        ("reactors", Some(config.reactors)),
        ("max_connections", config.max_connections),
        ("read_budget", Some(config.read_budget)),
        ("inbox_capacity", Some(config.inbox_capacity)),
        ("pool_threads", Some(config.pool_threads)),
        ("pool_queue", Some(config.pool_queue)),
        ("jobs_per_connection", Some(config.jobs_per_connection)),
    ] {
        if value == Some(0) {
            return Err(Error::config(format!("{name} must be at least 1, not 0")));
        }
    }
    for (name, value) in [
        ("close", Some(config.close_timeout)),
        ("read idle", config.idle.read),
        ("write idle", config.idle.write),
        ("all idle", config.idle.all),
        ("frame", config.frame_timeout),
        ("PROXY header", Some(config.proxy_header_timeout)),
        ("TLS handshake", Some(config.tls_handshake_timeout)),
        ("stall", config.stall_threshold),
        ("stuck", Some(config.stuck_threshold)),
    ] {
        if value.is_some_and(|d| d.is_zero()) {
            return Err(Error::config(format!("{name} timeout must be positive")));
        }
        if value.is_some_and(|d| d > MAX_TIMEOUT) {
            return Err(Error::config(format!(
                "{name} timeout must be at most {} seconds",
                MAX_TIMEOUT.as_secs()
            )));
        }
    }
    if config.linger > MAX_TIMEOUT {
        return Err(Error::config("linger must be at most 100 years"));
    }
    if config.output_limit == 0 {
        return Err(Error::config("output limit must be at least 1 byte"));
    }
    if config.backlog == 0 {
        return Err(Error::config("backlog must be at least 1"));
    }
    Ok(())
}
