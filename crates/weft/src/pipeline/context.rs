//! [`Context`]: what a handler can do to its connection.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use weft_codec::{Decoder, Encoder};

use crate::config::WriteWatermarks;
use crate::conn::{ConnCore, DialRequest, Notify};
use crate::dial::{ConnectError, Connected, Dial};
use crate::error::{CloseReason, Error};
use crate::group::Group;
use crate::handle::ConnectionHandle;
use crate::id::{ConnectionId, TimerId};
use crate::inbox::Command;
use crate::pipeline::drive::Continuation;
use crate::pipeline::{Handler, Pipeline, Stage};
use crate::pool::{Cancellation, OffloadError};
use crate::services::ReactorCore;
use crate::shared::ConnShared;

/// An encoder seen through the one item type a handler writes (so that [`Context`] need not
/// name the codec's type).
pub(crate) trait ErasedEncoder<T> {
    fn encode_item(&mut self, item: T, dst: &mut BytesMut) -> Result<(), Error>;
}

impl<T, E: Encoder<T>> ErasedEncoder<T> for E {
    #[inline]
    fn encode_item(&mut self, item: T, dst: &mut BytesMut) -> Result<(), Error> {
        self.encode(item, dst).map_err(Error::encode)
    }
}

/// An encoder refused a message: nothing of it stays queued, and the connection closes.
#[cold]
#[inline(never)]
fn encode_failed(conn: &mut ConnCore, before: usize, err: &Error) {
    conn.out.truncate_tail(before);
    conn.fail(CloseReason::EncodeError, &crate::error::Chain(err));
}

/// A handler's view of its connection, passed to every [`Handler`] and
/// [`Stage`](crate::Stage) callback.
///
/// Everything here acts on the connection the callback is running for, on its own reactor
/// thread, without locks:
///
/// * **output**: [`write`](Context::write) encodes a message into the connection's outbound
///   queue; [`write_bytes`](Context::write_bytes) queues pre-encoded bytes without copying.
///   Queued output is flushed once at the end of the read batch (or of the timer, task or
///   command that produced it), so many writes cost one `send`; [`flush`](Context::flush)
///   sends now.
/// * **closing**: [`close`](Context::close) flushes what is queued, then closes;
///   [`abort`](Context::abort) closes at once and discards it. Writes after either are
///   discarded.
/// * **flow control**: [`is_writable`](Context::is_writable) and the watermarks;
///   [`pause_read`](Context::pause_read) and [`resume_read`](Context::resume_read).
/// * **time**: [`schedule`](Context::schedule) a timer, delivered to
///   [`Handler::on_timer`].
/// * **other threads**: [`handle`](Context::handle) gives a `Send` handle to write to this
///   connection from anywhere.
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// use std::net::TcpStream;
/// use std::time::Duration;
/// use weft::codec::{line::Terminator, LineCodec};
/// use weft::{Context, Handler, Pipeline, Server};
///
/// #[derive(Default)]
/// struct Counter {
///     lines: u64,
/// }
///
/// impl Handler for Counter {
///     type In<'a> = &'a [u8];
///     type Out<'a> = &'a [u8];
///
///     fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
///         ctx.write(b"hello\n");
///     }
///
///     fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
///         self.lines += 1;
///         if &line[..] == b"bye" {
///             ctx.write(format!("{} lines, bye\n", self.lines).as_bytes());
///             ctx.close(); // once the reply is flushed
///         } else {
///             ctx.write(line); // queued; one send at the end of the batch
///         }
///     }
/// }
///
/// let server = Server::builder()
///     .addr("127.0.0.1:0")
///     .pipeline(|| {
///         let codec = LineCodec::new(1024).terminator(Terminator::Strip);
///         Pipeline::new(codec, Counter::default())
///     })
///     .bind()?;
///
/// let mut client = TcpStream::connect(server.local_addr())?;
/// client.set_read_timeout(Some(Duration::from_secs(5)))?;
/// client.write_all(b"one\nbye\n")?;
/// let mut replies = String::new();
/// let mut reader = BufReader::new(&client);
/// while reader.read_line(&mut replies)? > 0 {} // until the server closes
/// assert_eq!(replies, "hello\none\n2 lines, bye\n");
///
/// server.shutdown(Duration::from_secs(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Context<'a, H: Handler> {
    pub(crate) encoder: &'a mut dyn for<'m> ErasedEncoder<H::Out<'m>>,
    pub(crate) conn: &'a mut ConnCore,
    pub(crate) reactor: &'a mut ReactorCore,
}

impl<H: Handler> fmt::Debug for Context<'_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("id", &self.conn.id)
            .field("peer", &self.conn.peer)
            .field("reactor", &self.reactor.index())
            .field("pending", &self.conn.out.pending())
            .finish()
    }
}

impl<'a, H: Handler> Context<'a, H> {
    /// This connection's id, unique within the server.
    pub fn id(&self) -> ConnectionId {
        self.conn.id
    }

    /// The peer's address: the client's. Behind a load balancer that sends a PROXY
    /// protocol header ([`ServerBuilder::proxy_protocol`](crate::ServerBuilder::proxy_protocol)),
    /// the header's source; the socket's own peer is
    /// [`socket_peer_addr`](Context::socket_peer_addr).
    pub fn peer_addr(&self) -> SocketAddr {
        self.conn.peer
    }

    /// The socket's peer address: the same as [`peer_addr`](Context::peer_addr), unless a
    /// PROXY header named another source (then this is the balancer's address).
    pub fn socket_peer_addr(&self) -> SocketAddr {
        self.conn.socket_peer()
    }

    /// This end's address: where the peer connected to, for an accepted connection (the
    /// PROXY header's destination, when it carried one: the balancer's listening address);
    /// `None` in an embedded pipeline (`testing::EmbeddedPipeline`, feature `test-util`).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.proxy_header()
            .and_then(|h| h.destination())
            .or_else(|| self.conn.io.local_addr())
    }

    /// The socket's own local address (see [`local_addr`](Context::local_addr)).
    pub fn socket_local_addr(&self) -> Option<SocketAddr> {
        self.conn.io.local_addr()
    }

    /// The PROXY protocol header this connection began with (its version, command,
    /// addresses and TLVs such as [`alpn`](crate::ProxyHeader::alpn),
    /// [`authority`](crate::ProxyHeader::authority) and
    /// [`unique_id`](crate::ProxyHeader::unique_id)); `None` unless the server requires
    /// one ([`ServerBuilder::proxy_protocol`](crate::ServerBuilder::proxy_protocol)).
    pub fn proxy_header(&self) -> Option<&crate::ProxyHeader> {
        self.conn.proxy_header()
    }

    /// The ALPN protocol the TLS handshake settled on (`h2`, `http/1.1`, ...); `None` on a
    /// plaintext connection, or when the peer offered none (see
    /// [`TlsConfig::alpn`](crate::tls::TlsConfig::alpn)).
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// True when the connection speaks TLS (see [`ServerBuilder::tls`](crate::ServerBuilder::tls)
    /// and [`Dial::tls`](crate::Dial::tls)).
    pub fn is_tls(&self) -> bool {
        self.conn.io.tls().is_some()
    }

    /// The server name (SNI) the TLS client asked for, on an accepted TLS connection.
    pub fn tls_server_name(&self) -> Option<&str> {
        self.conn.tls_server_name()
    }

    /// The peer's certificate chain (DER, its own certificate first): a client's under
    /// mutual TLS ([`TlsConfig::client_ca`](crate::tls::TlsConfig::client_ca)), the
    /// server's on a dialled TLS connection.
    pub fn peer_certificates(&self) -> Option<&[rustls_pki_types::CertificateDer<'static>]> {
        self.conn.peer_certificates()
    }

    /// The index of the reactor that owns this connection.
    pub fn reactor_index(&self) -> usize {
        self.reactor.index()
    }

    /// The reactor's clock, read once per loop turn: the same instant for every callback of
    /// the turn (within a microsecond of `Instant::now` at the turn's start; an embedded
    /// reactor's virtual clock in tests).
    pub fn now(&self) -> Instant {
        self.reactor.now().to_instant()
    }

    /// Encodes `msg` into the outbound queue.
    ///
    /// Discarded once the connection is closing. If the encoder fails, nothing of the
    /// message is queued and the connection closes (after flushing what came before), with
    /// the reason logged. If the encoded message would take the queued output past the
    /// [output limit](crate::ServerBuilder::output_limit), it is not queued either, and the
    /// connection closes as a slow consumer (see [`Handler::on_output_limit`]); the check is
    /// made once the encoder has run, so a reply that refers to large stored data is better
    /// sent with [`write_shared`](Context::write_shared).
    #[inline]
    pub fn write(&mut self, msg: H::Out<'_>) {
        if !self.conn.accepts_writes() {
            return;
        }
        let out = &mut self.conn.out;
        let before = out.tail_len();
        let encoder = &mut *self.encoder;
        match out.encode_checked(|dst| encoder.encode_item(msg, dst)) {
            (Ok(()), false) => {}
            (Ok(()), true) => self.conn.over_limit_after_encode(before),
            (Err(err), _) => encode_failed(self.conn, before, &err),
        }
    }

    /// Queues already-encoded bytes, without copying them (a `Bytes` shared with other
    /// connections stays shared). Discarded once the connection is closing; counted in full
    /// against the output limit.
    pub fn write_bytes(&mut self, bytes: Bytes) {
        self.conn.queue_chunk(bytes, false);
    }

    /// Queues already-encoded bytes that the server holds anyway (a stored value the reply
    /// refers to without copying it): they count against the output limit only for their
    /// bookkeeping (128 bytes), not their length, so a large stored value can be sent to a
    /// connection whose limit is smaller. The watermarks count them the same way, so a
    /// client that asks for the same large value many times is still paused.
    ///
    /// Use it only for bytes that stay alive without this connection (a value in a shared
    /// store, a static file cached in memory): otherwise the limit no longer bounds what
    /// the connection holds.
    pub fn write_shared(&mut self, bytes: Bytes) {
        self.conn.queue_chunk(bytes, true);
    }

    /// Sends queued output now instead of at the end of the batch.
    pub fn flush(&mut self) {
        self.conn.flush(self.reactor);
    }

    /// Closes the connection once everything queued has been sent. Reading stops now.
    pub fn close(&mut self) {
        self.conn.request_close(CloseReason::Closed);
    }

    /// Closes the connection now, discarding queued output.
    pub fn abort(&mut self) {
        self.conn.abort(CloseReason::Aborted);
    }

    /// True once the connection is closing (no more writes are accepted).
    pub fn is_closing(&self) -> bool {
        !self.conn.accepts_writes()
    }

    /// Stops reading from the connection (the peer's data waits in the kernel, and TCP
    /// flow control eventually stops the peer) until [`resume_read`](Context::resume_read).
    /// Messages already decoded in this batch are still delivered; undecoded bytes stay
    /// buffered.
    pub fn pause_read(&mut self) {
        self.conn.reading.user_paused = true;
    }

    /// Resumes reading after [`pause_read`](Context::pause_read). Buffered bytes are decoded
    /// first, in this same loop turn.
    pub fn resume_read(&mut self) {
        if std::mem::take(&mut self.conn.reading.user_paused) {
            self.reactor.mark_ready(self.conn.token);
        }
    }

    /// True while reading is paused by [`pause_read`](Context::pause_read).
    pub fn is_read_paused(&self) -> bool {
        self.conn.reading.user_paused
    }

    /// False while unsent output is above the high watermark (until it falls below the low
    /// one). See [`Handler::on_writability_changed`].
    pub fn is_writable(&self) -> bool {
        self.conn.out.is_writable()
    }

    /// Bytes queued but not yet accepted by the kernel.
    pub fn pending_bytes(&self) -> usize {
        self.conn.out.pending()
    }

    /// This connection's watermarks.
    pub fn watermarks(&self) -> WriteWatermarks {
        self.conn.out.watermarks()
    }

    /// Overrides the server's watermarks for this connection.
    pub fn set_watermarks(&mut self, watermarks: WriteWatermarks) {
        self.conn.out.set_watermarks(watermarks);
    }

    /// This connection's output limit (see
    /// [`ServerBuilder::output_limit`](crate::ServerBuilder::output_limit)).
    pub fn output_limit(&self) -> usize {
        self.conn.out.limit()
    }

    /// Overrides the server's output limit for this connection (at least 1 byte). Output
    /// already queued stays queued; the new limit applies to what comes next.
    pub fn set_output_limit(&mut self, bytes: usize) {
        self.conn.out.set_limit(bytes.max(1));
    }

    /// Schedules [`Handler::on_timer`] once, after `delay`.
    pub fn schedule(&mut self, delay: Duration) -> TimerId {
        self.conn.schedule(self.reactor, delay, None)
    }

    /// Schedules [`Handler::on_timer`] every `period`, until cancelled or closed.
    pub fn schedule_repeating(&mut self, period: Duration) -> TimerId {
        let period = period.max(Duration::from_millis(1));
        self.conn.schedule(self.reactor, period, Some(period))
    }

    /// Cancels a timer of this connection. Returns false if it already fired (one-shot) or
    /// was cancelled before.
    pub fn cancel_timer(&mut self, timer: TimerId) -> bool {
        self.conn.cancel_timer(self.reactor, timer)
    }

    /// A `Send + Clone` handle through which any thread can write to or close this
    /// connection.
    pub fn handle(&mut self) -> ConnectionHandle {
        let shared = self.conn.shared_state().clone();
        ConnectionHandle::new(
            self.reactor.inbox().clone(),
            self.conn.token,
            self.conn.id,
            shared,
        )
    }

    /// Adds this connection to `group`; it leaves automatically when it closes.
    pub fn join_group(&mut self, group: &Group) {
        group.insert(self.handle());
        self.conn.cold_mut().groups.push(group.downgrade());
    }

    /// Runs `job` on the worker pool, then `then` with its result back on this reactor,
    /// with this connection's handler and context. If the connection has closed by then,
    /// `then` is dropped unrun.
    ///
    /// If the connection has closed before a pool thread picks the job up, the job is
    /// skipped.
    ///
    /// Fails at once (running nothing) when the pool's queue is full, or this connection
    /// already has its maximum of jobs out ([`OffloadError::Busy`]): the reactor never
    /// waits. See the [`pool`](crate::pool) docs.
    pub fn offload<R, J, T>(&mut self, job: J, then: T) -> Result<(), OffloadError>
    where
        J: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
        T: FnOnce(&mut H, &mut Context<'_, H>, R) + Send + 'static,
    {
        self.offload_cancellable(move |_| job(), then)
    }

    /// Like [`offload`](Context::offload), and the job is given a [`Cancellation`] it can
    /// poll to stop early once the connection has gone (a long computation for a client
    /// that reset has no one to answer).
    pub fn offload_cancellable<R, J, T>(&mut self, job: J, then: T) -> Result<(), OffloadError>
    where
        J: FnOnce(&Cancellation) -> R + Send + 'static,
        R: Send + 'static,
        T: FnOnce(&mut H, &mut Context<'_, H>, R) + Send + 'static,
    {
        let shared = self.conn.shared_state().clone();
        if !shared.start_job(self.reactor.config().jobs_per_connection) {
            return Err(OffloadError::Busy);
        }
        let inbox = self.reactor.inbox().clone();
        let token = self.conn.token;
        let submitted = self.reactor.pool().submit(Box::new({
            let shared = shared.clone();
            move || {
                // Ends the job's place in its connection's count however the job ends.
                struct Slot(std::sync::Arc<ConnShared>);
                impl Drop for Slot {
                    fn drop(&mut self) {
                        self.0.end_job();
                    }
                }
                let slot = Slot(shared);
                if slot.0.is_closed() {
                    return; // nobody is waiting for the answer
                }
                let cancel = Cancellation::new(slot.0.clone());
                let result = job(&cancel);
                drop(slot);
                let call: Continuation<H> =
                    Box::new(move |handler, ctx| then(handler, ctx, result));
                // Fails only once the reactor has stopped: the connection is gone.
                let _ = inbox.send(Command::Continuation {
                    token,
                    call: Box::new(call),
                });
            }
        }));
        if submitted.is_err() {
            shared.end_job();
        }
        submitted
    }

    /// Opens a connection to `dial` on this connection's own reactor, with `pipeline`, and
    /// runs `then` with this handler once it is up (the new pipeline's `on_active` has
    /// run) or every target failed. The new connection is served like an accepted one
    /// (the server's output limit, watermarks, idle and frame timeouts, half-close), and
    /// lives on its own: it stays open when this one closes, unless its handler closes it.
    ///
    /// Nothing blocks: a host name is looked up on the worker pool, and each attempt is
    /// bounded by [`Dial::timeout`]. `then` is dropped unrun if this connection has closed
    /// by then. See `docs/client.md`.
    ///
    /// ```no_run
    /// use weft::codec::LineCodec;
    /// use weft::{Bytes, Context, Dial, Handler, Pipeline};
    ///
    /// /// The backend side: hands every line it gets to the client through its handle.
    /// struct Backend(weft::ConnectionHandle);
    ///
    /// impl Handler for Backend {
    ///     type In<'a> = &'a [u8];
    ///     type Out<'a> = &'a [u8];
    ///     fn on_message(&mut self, _ctx: &mut Context<'_, Self>, line: &[u8]) {
    ///         let mut line = line.to_vec();
    ///         line.push(b'\n');
    ///         let _ = self.0.write(Bytes::from(line));
    ///     }
    /// }
    ///
    /// /// The client side: dials the backend when the client connects.
    /// #[derive(Default)]
    /// struct Front {
    ///     backend: Option<weft::ConnectionHandle>,
    /// }
    ///
    /// impl Handler for Front {
    ///     type In<'a> = &'a [u8];
    ///     type Out<'a> = &'a [u8];
    ///     fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
    ///         let me = ctx.handle();
    ///         let dial = Dial::to("127.0.0.1:7000").expect("an address");
    ///         let backend = Pipeline::new(LineCodec::new(8192), Backend(me));
    ///         ctx.connect(dial, backend, |front, ctx, result| match result {
    ///             Ok(up) => front.backend = Some(up.into_handle()),
    ///             Err(e) => {
    ///                 ctx.write(format!("backend down: {e}").as_bytes());
    ///                 ctx.close();
    ///             }
    ///         });
    ///     }
    ///     fn on_message(&mut self, _ctx: &mut Context<'_, Self>, line: &[u8]) {
    ///         if let Some(backend) = &self.backend {
    ///             let mut line = line.to_vec();
    ///             line.push(b'\n');
    ///             let _ = backend.write(Bytes::from(line));
    ///         }
    ///     }
    /// }
    /// ```
    pub fn connect<C2, S2, H2, T>(&mut self, dial: Dial, pipeline: Pipeline<C2, S2, H2>, then: T)
    where
        C2: Decoder + for<'m> Encoder<H2::Out<'m>> + 'static,
        S2: for<'m> Stage<In<'m> = C2::Item<'m>, Fwd<'m> = H2::In<'m>>,
        H2: Handler,
        T: FnOnce(&mut H, &mut Context<'_, H>, Result<Connected, ConnectError>) + Send + 'static,
    {
        let notify = self.notify(then);
        self.conn.request_dial(DialRequest {
            dial,
            pipeline: Some(Box::new(pipeline)),
            notify,
            splice_with: None,
        });
    }

    /// Dials `dial` and splices this connection to the new one: from now on weft relays
    /// bytes between the two sockets itself, in both directions, without the codec, and
    /// this handler receives no more messages (it still gets timers, idle events and
    /// `on_inactive`). `then` runs once the other side is up, or every target failed.
    ///
    /// The coupling is complete (see `docs/client.md`):
    ///
    /// * bytes this connection sends before the other side is up are held, up to the
    ///   output limit (then reading stops), and sent first once it is (after the dial's
    ///   [`preamble`](Dial::preamble));
    /// * neither side queues more than its output limit: a side stops reading while its
    ///   peer's queue is above the high watermark and resumes below the low one;
    /// * an end of stream on one side shuts down the other's sending side once its queue
    ///   is flushed; a side whose two directions have both ended closes;
    /// * a reset (or an abort) of either side resets the other at once; any other close of
    ///   one side closes the other gracefully;
    /// * at a graceful server shutdown a spliced session runs on until the shutdown
    ///   deadline.
    ///
    /// If the dial fails, the connection is not spliced any more: the bytes it held are
    /// given back to its decoder, and `then` decides (close, or try elsewhere).
    pub fn splice<T>(&mut self, dial: Dial, then: T)
    where
        T: FnOnce(&mut H, &mut Context<'_, H>, Result<Connected, ConnectError>) + Send + 'static,
    {
        if self.conn.splice_peer().is_some() || self.conn.is_spliced() {
            tracing::warn!(conn = %self.conn.id, "splice: this connection is spliced already");
            return;
        }
        if !self.conn.accepts_writes() {
            return;
        }
        let notify = self.notify(then);
        self.conn.begin_splice();
        self.conn.request_dial(DialRequest {
            dial,
            pipeline: None,
            notify,
            splice_with: Some(self.conn.token),
        });
    }

    /// A dial's result, delivered to this connection as a continuation.
    fn notify<T>(&mut self, then: T) -> Notify
    where
        T: FnOnce(&mut H, &mut Context<'_, H>, Result<Connected, ConnectError>) + Send + 'static,
    {
        Notify::Conn {
            token: self.conn.token,
            make: Box::new(move |result| {
                let call: Continuation<H> =
                    Box::new(move |handler, ctx| then(handler, ctx, result));
                Box::new(call)
            }),
        }
    }

    /// Runs `continuation` later on this reactor (after the current batch), with this
    /// connection's handler and context; dropped if the connection has closed by then.
    /// (weft's words: a *continuation* runs with a connection, as here and after an
    /// offload; a *task* runs on a reactor with none, as with
    /// [`Server::execute`](crate::Server::execute).)
    pub fn execute<T>(&mut self, continuation: T)
    where
        T: FnOnce(&mut H, &mut Context<'_, H>) + Send + 'static,
    {
        let call: Continuation<H> = Box::new(continuation);
        let cmd = Command::Continuation {
            token: self.conn.token,
            call: Box::new(call),
        };
        // From the reactor's own thread this goes to the local queue and cannot fail.
        let _ = self.reactor.inbox().send(cmd);
    }
}

impl ConnectionHandle {
    /// Runs `f` with the connection's handler and context, on the connection's reactor,
    /// from any thread: a continuation posted from outside (a reply from another
    /// connection's reactor, a result from a thread of your own). `H` must be the
    /// connection's handler type; a continuation for another type is dropped and logged.
    /// Returns false, running nothing, once the connection has closed (and `f` is dropped
    /// unrun if it closes before `f`'s turn comes).
    ///
    /// Nothing bounds how many continuations a sender posts: keep them tied to something
    /// bounded (one per request the connection made, say).
    pub fn execute<H, F>(&self, f: F) -> bool
    where
        H: Handler,
        F: FnOnce(&mut H, &mut Context<'_, H>) + Send + 'static,
    {
        if !self.is_open() {
            return false;
        }
        let call: Continuation<H> = Box::new(f);
        self.inbox()
            .send(Command::Continuation {
                token: self.token(),
                call: Box::new(call),
            })
            .is_ok()
    }
}
