//! Building, running and stopping a server.
//!
//! The graceful shutdown is described on [`Server::shutdown`].

mod builder;

pub use builder::ServerBuilder;

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use weft_codec::{Decoder, Encoder};

use crate::admission::Admission;
use crate::config::deadline_after;
use crate::conn::{Drive, OnConnect, RemoteDial};
use crate::dial::{ConnectError, ConnectErrorKind, Connected, Dial};
use crate::inbox::{Command, Inbox};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::pipeline::{Handler, Pipeline, Stage};

/// A running server: its address, its live metrics, and the way to stop it.
///
/// Dropping a `Server` that was not shut down stops it at once (grace zero) and joins its
/// threads.
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// use std::time::Duration;
/// use weft::codec::LineCodec;
/// use weft::{Context, Handler, Pipeline, Server};
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
///     .addr("127.0.0.1:0")
///     .pipeline(|| Pipeline::new(LineCodec::new(8192), Echo))
///     .bind()
///     .unwrap();
///
/// let mut client = std::net::TcpStream::connect(server.local_addr()).unwrap();
/// client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
/// client.write_all(b"hello\n").unwrap();
/// let mut line = String::new();
/// BufReader::new(&client).read_line(&mut line).unwrap();
/// assert_eq!(line, "hello\n");
///
/// server.shutdown(Duration::from_secs(1));
/// ```
pub struct Server {
    /// The watchdog thread and its stop flag, stopped once every other thread has ended.
    watchdog: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
    local_addr: SocketAddr,
    metrics: Arc<Metrics>,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// What a [`ShutdownHandle`] needs.
struct Shared {
    admission: Arc<Admission>,
    inboxes: Vec<Arc<Inbox>>,
    stopping: AtomicBool,
    /// The reactor the next dial without a chosen one goes to (round-robin).
    next_dial: std::sync::atomic::AtomicUsize,
}

impl Shared {
    fn connect(
        &self,
        reactor: Option<usize>,
        dial: Dial,
        make: Box<dyn FnOnce() -> Box<dyn Drive> + Send>,
        then: OnConnect,
    ) {
        let count = self.inboxes.len();
        let index =
            reactor.unwrap_or_else(|| self.next_dial.fetch_add(1, Ordering::Relaxed)) % count;
        let request = RemoteDial { dial, make, then };
        if let Err(stopped) = self.inboxes[index].send(Command::Dial(Box::new(request))) {
            // The reactor has stopped: tell the caller here.
            if let Command::Dial(request) = stopped.0 {
                if let Ok(request) = request.downcast::<RemoteDial>() {
                    let err = ConnectError::new(ConnectErrorKind::Stopped, None);
                    (request.then)(Err(err));
                }
            }
        }
    }
}

impl Shared {
    fn begin_shutdown(&self, grace: Duration) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::info!(?grace, "shutting down");
        if let Some(acceptor) = self.admission.signal() {
            acceptor.stop();
        }
        let deadline = deadline_after(crate::clock::Moment::now(), grace);
        for inbox in &self.inboxes {
            // Fails only for a reactor that has stopped already.
            let _ = inbox.send(Command::Shutdown { deadline });
        }
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("reactors", &self.shared.inboxes.len())
            .finish()
    }
}

impl Server {
    /// A builder with every default: 127.0.0.1, an OS-chosen port, one reactor per core.
    pub fn builder() -> ServerBuilder<()> {
        ServerBuilder::new()
    }

    /// The address the server listens on (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The number of reactors.
    pub fn reactors(&self) -> usize {
        self.shared.inboxes.len()
    }

    /// The live counters, read now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    /// A `Send + Clone` handle that reads the live counters from anywhere (a metrics
    /// endpoint's handler, a reporting thread), for as long as it is kept.
    pub fn metrics_handle(&self) -> MetricsHandle {
        MetricsHandle(self.metrics.clone())
    }

    /// Runs `task` on reactor `reactor` (modulo the number of reactors). Returns false,
    /// running nothing, if that reactor already has
    /// [`inbox_capacity`](ServerBuilder::inbox_capacity) tasks waiting, or the server has
    /// stopped.
    pub fn execute(&self, reactor: usize, task: impl FnOnce() + Send + 'static) -> bool {
        let inbox = &self.shared.inboxes[reactor % self.shared.inboxes.len()];
        inbox.send_task(Box::new(task))
    }

    /// Opens a connection from any thread, on reactor `reactor` (modulo the number of
    /// reactors) or, with `None`, on the next one in turn. `factory` makes the
    /// connection's pipeline on that reactor; `then` runs there with the outcome (once the
    /// pipeline's `on_active` has run, or every target failed). Dialled connections are
    /// served as accepted ones are, and the server's shutdown closes them too. See
    /// [`Context::connect`](crate::Context::connect) to dial from a handler, onto its own
    /// reactor.
    pub fn connect<G, C, S, H>(
        &self,
        reactor: Option<usize>,
        dial: Dial,
        factory: G,
        then: impl FnOnce(Result<Connected, ConnectError>) + Send + 'static,
    ) where
        G: FnOnce() -> Pipeline<C, S, H> + Send + 'static,
        C: Decoder + for<'m> Encoder<H::Out<'m>> + 'static,
        S: for<'m> Stage<In<'m> = C::Item<'m>, Fwd<'m> = H::In<'m>>,
        H: Handler,
    {
        self.dialer().connect(reactor, dial, factory, then);
    }

    /// A `Send + Sync + Clone` handle that dials from any thread, as
    /// [`connect`](Server::connect) does, for as long as the server runs.
    pub fn dialer(&self) -> Dialer {
        Dialer {
            shared: self.shared.clone(),
        }
    }

    /// A handle that can start the shutdown from any thread (a signal handler thread, say).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: self.shared.clone(),
        }
    }

    /// Shuts down gracefully: stop accepting, flush owed output for at most `grace`, close
    /// everything, join every thread. In order:
    ///
    /// 1. The acceptor stops and drops the listener: new connections are refused from here
    ///    on (in `SO_REUSEPORT` mode each reactor drops its own listener in step 2).
    /// 2. Every reactor gets a shutdown command with the deadline `now + grace`. A
    ///    connection the acceptor handed over but the reactor had not registered yet is
    ///    dropped.
    /// 3. Each reactor closes every connection gracefully: reading stops, owed output is
    ///    flushed, FIN is sent, and the peer's end of stream is awaited (the connection
    ///    states are drawn in `docs/lifecycle.md`). [`Handler::on_inactive`] runs for each.
    /// 4. At the deadline, whatever is still open is aborted, its unsent output discarded: a
    ///    client that never reads cannot hold the server up.
    /// 5. Each reactor exits once it has no connection left; `shutdown` returns after
    ///    joining every thread.
    ///
    /// [`ShutdownHandle::shutdown`] starts the same from another thread.
    ///
    /// [`Handler::on_inactive`]: crate::Handler::on_inactive
    pub fn shutdown(mut self, grace: Duration) {
        self.shared.begin_shutdown(grace);
        self.join_threads();
    }

    /// Waits until the server has stopped (after a [`ShutdownHandle::shutdown`]).
    pub fn join(mut self) {
        self.join_threads();
    }

    fn join_threads(&mut self) {
        for thread in self.threads.drain(..) {
            let name = thread.thread().name().unwrap_or("weft").to_string();
            if thread.join().is_err() {
                tracing::error!(thread = %name, "thread panicked");
            }
        }
        if let Some((stop, thread)) = self.watchdog.take() {
            stop.store(true, Ordering::Release);
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shared.begin_shutdown(Duration::ZERO);
            self.join_threads();
        }
    }
}

/// Reactors that only dial out: a [`Server`] without a listener, for programs that are
/// clients (a load generator, a bridge, a test driver). Built with
/// [`ServerBuilder::build_client`]; every connection is dialled with
/// [`Client::connect`] (or from a handler with [`Context::connect`](crate::Context::connect)).
///
/// ```
/// use std::sync::mpsc;
/// use std::time::Duration;
/// use weft::codec::LineCodec;
/// use weft::{Client, ConnectErrorKind, Context, Dial, Handler, Pipeline};
///
/// struct Quiet;
///
/// impl Handler for Quiet {
///     type In<'a> = &'a [u8];
///     type Out<'a> = &'a [u8];
///     fn on_message(&mut self, _ctx: &mut Context<'_, Self>, _line: &[u8]) {}
/// }
///
/// let client = Client::builder().reactors(1).build_client()?;
/// // Nothing listens on port 1 of this machine: the dial is refused, and says so.
/// let (tx, rx) = mpsc::channel();
/// let dial = Dial::to("127.0.0.1:1")?.timeout(Duration::from_secs(2));
/// client.connect(None, dial, || Pipeline::new(LineCodec::new(1024), Quiet), move |result| {
///     let _ = tx.send(result.map(|_| ()).map_err(|e| e.kind()));
/// });
/// let outcome = rx.recv_timeout(Duration::from_secs(5)).expect("an outcome");
/// assert_eq!(outcome, Err(ConnectErrorKind::Refused));
/// client.shutdown(Duration::from_secs(1));
/// # Ok::<(), weft::Error>(())
/// ```
#[derive(Debug)]
pub struct Client {
    server: Server,
}

impl Client {
    /// A builder (the server's: every setting but the listening ones applies).
    pub fn builder() -> ServerBuilder<()> {
        ServerBuilder::new()
    }

    /// Opens a connection; see [`Server::connect`].
    pub fn connect<G, C, S, H>(
        &self,
        reactor: Option<usize>,
        dial: Dial,
        factory: G,
        then: impl FnOnce(Result<Connected, ConnectError>) + Send + 'static,
    ) where
        G: FnOnce() -> Pipeline<C, S, H> + Send + 'static,
        C: Decoder + for<'m> Encoder<H::Out<'m>> + 'static,
        S: for<'m> Stage<In<'m> = C::Item<'m>, Fwd<'m> = H::In<'m>>,
        H: Handler,
    {
        self.server.connect(reactor, dial, factory, then);
    }

    /// The number of reactors.
    pub fn reactors(&self) -> usize {
        self.server.reactors()
    }

    /// A `Send + Sync + Clone` handle that dials from any thread; see [`Server::dialer`].
    pub fn dialer(&self) -> Dialer {
        self.server.dialer()
    }

    /// The live counters, read now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.server.metrics()
    }

    /// Runs `task` on a reactor; see [`Server::execute`].
    pub fn execute(&self, reactor: usize, task: impl FnOnce() + Send + 'static) -> bool {
        self.server.execute(reactor, task)
    }

    /// A handle that starts the shutdown from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.server.shutdown_handle()
    }

    /// Closes every connection gracefully (within `grace`) and joins the threads; see
    /// [`Server::shutdown`].
    pub fn shutdown(self, grace: Duration) {
        self.server.shutdown(grace);
    }

    /// Waits until the runtime has stopped (after a [`ShutdownHandle::shutdown`]).
    pub fn join(self) {
        self.server.join();
    }
}

/// Dials from any thread onto a server's (or a client runtime's) reactors; see
/// [`Server::dialer`]. Once the server has stopped, dials fail with
/// [`ConnectErrorKind::Stopped`].
#[derive(Clone)]
pub struct Dialer {
    shared: Arc<Shared>,
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialer")
            .field("reactors", &self.shared.inboxes.len())
            .finish()
    }
}

impl Dialer {
    /// Opens a connection; see [`Server::connect`].
    pub fn connect<G, C, S, H>(
        &self,
        reactor: Option<usize>,
        dial: Dial,
        factory: G,
        then: impl FnOnce(Result<Connected, ConnectError>) + Send + 'static,
    ) where
        G: FnOnce() -> Pipeline<C, S, H> + Send + 'static,
        C: Decoder + for<'m> Encoder<H::Out<'m>> + 'static,
        S: for<'m> Stage<In<'m> = C::Item<'m>, Fwd<'m> = H::In<'m>>,
        H: Handler,
    {
        let make = Box::new(move || Box::new(factory()) as Box<dyn Drive>);
        self.shared.connect(reactor, dial, make, Box::new(then));
    }

    /// The number of reactors it dials onto.
    pub fn reactors(&self) -> usize {
        self.shared.inboxes.len()
    }
}

/// Reads a server's live counters from any thread; see [`Server::metrics_handle`].
#[derive(Clone)]
pub struct MetricsHandle(Arc<Metrics>);

impl MetricsHandle {
    /// The counters, read now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        self.0.snapshot()
    }
}

impl fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsHandle")
            .field("reactors", &self.0.reactors.len())
            .finish()
    }
}

/// Starts a server's graceful shutdown from any thread. `Clone + Send + Sync`.
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle")
            .field("stopping", &self.shared.stopping.load(Ordering::Relaxed))
            .finish()
    }
}

impl ShutdownHandle {
    /// Begins the graceful shutdown with `grace` to flush owed output; returns at once.
    /// [`Server::join`] waits for it to finish. Calling it again does nothing.
    pub fn shutdown(&self, grace: Duration) {
        self.shared.begin_shutdown(grace);
    }
}
