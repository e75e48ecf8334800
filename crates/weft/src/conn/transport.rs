//! What a connection reads from and writes to: a TCP socket, a TLS session over one, or
//! (for [`EmbeddedPipeline`](crate::testing::EmbeddedPipeline)) in-memory buffers that
//! behave like one, so the same connection code runs in all three.
//!
//! # TLS
//!
//! `TlsIo` keeps the `read_into`/`send` contract of a plain socket, in plaintext: a read
//! shorter than asked means the socket is drained (edge-triggered readiness needs that),
//! `WouldBlock` means nothing more now, 0 means end of stream (the peer's close_notify, or
//! its FIN without one: both are a half-close, the sending side stays usable). A send
//! hands plaintext to rustls, which holds at most its 64 KiB of ciphertext beyond the
//! connection's own queue; that ciphertext is the transport's "pending output"
//! (`has_pending_output`), flushed like the queue and before the FIN.

use std::io::{self, BufRead, IoSlice, Read, Write};

use bytes::BytesMut;
use mio::net::TcpStream;

use crate::net;
use crate::timer::TimerKey;

/// A connection's byte transport.
pub(crate) enum Io {
    Tcp(TcpStream),
    /// Constructed only by the embedded pipeline (feature `test-util`).
    #[cfg_attr(not(feature = "test-util"), allow(dead_code))]
    Embedded(Box<MemoryIo>),
    /// A dialled connection between attempts (looking a name up): no socket yet.
    Unconnected,
    /// A TLS session (server or client side) over a TCP socket; boxed, so the enum (and
    /// an idle connection's slot) stays as small as a plain socket's.
    Tls(Box<TlsIo>),
}

/// A TLS session over its socket, and the handshake's state.
pub(crate) struct TlsIo {
    pub(crate) stream: TcpStream,
    pub(crate) session: rustls::Connection,
    /// The handshake completed and the pipeline was told (`on_active`).
    pub(crate) activated: bool,
    /// The handshake deadline, while it runs.
    pub(crate) timer: Option<TimerKey>,
    /// Reads bypass TLS: the PROXY header that precedes the handshake is being read.
    pub(crate) clear_prefix: bool,
    /// close_notify was queued.
    close_notify: bool,
    /// The peer's close_notify or FIN was seen: a short read does not mean "drained", the
    /// next read reports the end of stream.
    ended: bool,
    /// Ciphertext read from the socket that rustls could not take yet (its plaintext
    /// buffer was full because the reader's was); empty, with no allocation, otherwise.
    held: BytesMut,
}

/// Where draining rustls's plaintext stopped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Drain {
    /// rustls holds no more plaintext (and the reader's buffer has room).
    Empty,
    /// The reader's buffer is full.
    Full,
    /// The end of stream: close_notify, or the FIN without one.
    End,
}

/// How much ciphertext one socket read asks for.
const CIPHERTEXT_READ: usize = 64 * 1024;

thread_local! {
    /// Each reactor thread's buffer for ciphertext just read, fed to rustls at once.
    static SCRATCH: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; CIPHERTEXT_READ].into_boxed_slice());
}

impl TlsIo {
    pub(crate) fn new(stream: TcpStream, session: impl Into<rustls::Connection>) -> Self {
        TlsIo {
            stream,
            session: session.into(),
            activated: false,
            timer: None,
            clear_prefix: false,
            close_notify: false,
            ended: false,
            held: BytesMut::new(),
        }
    }

    /// Sends buffered ciphertext: `Ok(true)` once none is left, `Ok(false)` if the socket
    /// is full.
    pub(crate) fn flush_records(&mut self) -> io::Result<bool> {
        while self.session.wants_write() {
            match self.session.write_tls(&mut self.stream) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Moves the handshake on with what the socket has: `Ok(true)` once it is complete.
    /// A protocol error is sent to the peer as an alert (if the socket takes it) and
    /// returned as `InvalidData`; the peer's end of stream as `UnexpectedEof`.
    pub(crate) fn handshake(&mut self) -> io::Result<bool> {
        loop {
            self.flush_records()?;
            if !self.session.is_handshaking() {
                return Ok(true);
            }
            match self.session.read_tls(&mut self.stream) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed during the handshake",
                    ))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            self.process()?;
        }
    }

    /// Feeds bytes already read from the socket (those that followed a PROXY header).
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            self.session.read_tls(&mut bytes)?;
            self.process()?;
        }
        Ok(())
    }

    fn process(&mut self) -> io::Result<()> {
        if let Err(e) = self.session.process_new_packets() {
            let _ = self.flush_records(); // the alert, if the socket takes it
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        Ok(())
    }

    /// Moves the plaintext rustls holds into `buf`, until `got` reaches `max`.
    fn drain_plaintext(
        &mut self,
        buf: &mut BytesMut,
        max: usize,
        got: &mut usize,
    ) -> io::Result<Drain> {
        while *got < max {
            let mut reader = self.session.reader();
            match reader.fill_buf() {
                Ok([]) => {
                    self.ended = true; // close_notify: end of stream once drained
                    return Ok(Drain::End);
                }
                Ok(chunk) => {
                    let n = chunk.len().min(max - *got);
                    buf.extend_from_slice(&chunk[..n]);
                    reader.consume(n);
                    *got += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Drain::Empty),
                // The peer's FIN without close_notify: an end of stream all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.ended = true;
                    return Ok(Drain::End);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Drain::Full)
    }

    /// Feeds ciphertext to rustls, draining the plaintext into `buf` as it comes; what is
    /// left once `buf` has `max` bytes is kept in `held` for the next read.
    fn feed_and_drain(
        &mut self,
        mut ciphertext: &[u8],
        buf: &mut BytesMut,
        max: usize,
        got: &mut usize,
    ) -> io::Result<Drain> {
        let mut state = Drain::Empty;
        while !ciphertext.is_empty() {
            self.session.read_tls(&mut ciphertext)?;
            self.process()?;
            state = self.drain_plaintext(buf, max, got)?;
            match state {
                Drain::Empty => {}
                Drain::Full => {
                    self.held.extend_from_slice(ciphertext);
                    return Ok(Drain::Full);
                }
                Drain::End => return Ok(Drain::End), // nothing follows close_notify
            }
        }
        Ok(state)
    }

    fn read_into(&mut self, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        let mut got = 0;
        match self.drain_plaintext(buf, max, &mut got)? {
            Drain::Empty => {}
            Drain::Full | Drain::End => return Ok(got),
        }
        if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            match self.feed_and_drain(&held, buf, max, &mut got)? {
                Drain::Empty => {}
                Drain::Full | Drain::End => return Ok(got),
            }
        }
        // One socket read of up to CIPHERTEXT_READ bytes, fed to rustls from memory:
        // rustls reading the socket itself asks for 4 KiB at a time, three system calls
        // for a 4 KiB message (two reads and the one that says WouldBlock).
        loop {
            let step = SCRATCH.with(|scratch| -> io::Result<Option<Drain>> {
                let mut scratch = scratch.borrow_mut();
                let n = match (&self.stream).read(&mut scratch[..]) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(None),
                    Err(e) => return Err(e),
                };
                if n == 0 {
                    self.session.read_tls(&mut &[][..])?; // rustls learns of the FIN
                    return self.drain_plaintext(buf, max, &mut got).map(Some);
                }
                let state = self.feed_and_drain(&scratch[..n], buf, max, &mut got)?;
                // A short read drained the socket, as for TCP.
                let drained = n < scratch.len();
                Ok(match state {
                    Drain::Empty if !drained => None,
                    other => Some(other),
                })
            });
            match step {
                Ok(None) => {}
                Ok(Some(Drain::Empty)) if got == 0 => return Err(io::ErrorKind::WouldBlock.into()),
                Ok(Some(_)) => return Ok(got),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => return Ok(got),
                Err(e) => return Err(e),
            }
        }
    }

    fn send_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.close_notify {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        self.flush_records()?;
        let n = self.session.writer().write_vectored(bufs)?;
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into()); // rustls's buffer is full
        }
        self.flush_records()?;
        Ok(n)
    }

    /// Queues close_notify (once) and sends what it can: `Ok(true)` once everything,
    /// close_notify included, is out.
    pub(crate) fn close_notify(&mut self) -> io::Result<bool> {
        if !self.close_notify {
            self.close_notify = true;
            self.session.send_close_notify();
        }
        self.flush_records()
    }
}

/// A socket stand-in: bytes pushed by a test, bytes written by the connection.
#[derive(Debug, Default)]
pub(crate) struct MemoryIo {
    /// Bytes the "peer" sent, not read yet.
    pub(crate) inbound: BytesMut,
    /// The peer shut down its sending side: reads return 0 once `inbound` is empty.
    pub(crate) inbound_closed: bool,
    /// Everything the connection wrote.
    pub(crate) written: BytesMut,
    /// While set, writes fail with `WouldBlock`, as when the peer does not read.
    pub(crate) blocked: bool,
    /// The connection sent its FIN.
    pub(crate) fin_sent: bool,
}

impl Io {
    /// The TCP socket, for (de)registration; `None` for an in-memory transport.
    pub(crate) fn tcp(&mut self) -> Option<&mut TcpStream> {
        match self {
            Io::Tcp(stream) => Some(stream),
            Io::Tls(tls) => Some(&mut tls.stream),
            Io::Embedded(_) | Io::Unconnected => None,
        }
    }

    /// The TLS session, if this is one.
    pub(crate) fn tls(&self) -> Option<&TlsIo> {
        match self {
            Io::Tls(tls) => Some(tls),
            _ => None,
        }
    }

    /// The TLS session, if this is one.
    pub(crate) fn tls_mut(&mut self) -> Option<&mut TlsIo> {
        match self {
            Io::Tls(tls) => Some(tls),
            _ => None,
        }
    }

    /// True while a TLS handshake runs: the pipeline is not active yet.
    #[inline]
    pub(crate) fn awaiting_handshake(&self) -> bool {
        matches!(self, Io::Tls(tls) if !tls.activated)
    }

    /// True once a TLS session saw the peer's end of stream: a short read is no sign that
    /// the socket is drained (the next read returns 0).
    #[inline]
    pub(crate) fn input_ended(&self) -> bool {
        matches!(self, Io::Tls(tls) if tls.ended)
    }

    /// True while the transport holds output of its own (TLS records) not sent yet.
    #[inline]
    pub(crate) fn has_pending_output(&self) -> bool {
        matches!(self, Io::Tls(tls) if tls.session.wants_write())
    }

    /// Sends the transport's own pending output: `Ok(true)` once none is left.
    #[inline]
    pub(crate) fn flush_pending(&mut self) -> io::Result<bool> {
        match self {
            Io::Tls(tls) => tls.flush_records(),
            _ => Ok(true),
        }
    }

    /// Before the FIN: a TLS session's close_notify, sent. `Ok(false)` while the socket
    /// does not take it all yet.
    pub(crate) fn prepare_fin(&mut self) -> io::Result<bool> {
        match self {
            Io::Tls(tls) => tls.close_notify(),
            _ => Ok(true),
        }
    }

    /// The local address of the socket (`None` for an in-memory transport).
    pub(crate) fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Io::Tcp(stream) => stream.local_addr().ok(),
            Io::Tls(tls) => tls.stream.local_addr().ok(),
            Io::Embedded(_) | Io::Unconnected => None,
        }
    }

    /// Makes closing the socket send a reset (`SO_LINGER` 0) rather than a FIN: for a
    /// splice whose other side was reset.
    pub(crate) fn reset_on_close(&mut self) {
        if let Some(stream) = self.tcp() {
            let _ = net::set_linger_zero(stream);
        }
    }

    /// Reads at most `max` bytes into `buf`'s spare capacity (0 = end of stream).
    #[inline]
    pub(crate) fn read_into(&mut self, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        // Plain TCP inline (every read of the usual connection), the rest out of line.
        if let Io::Tcp(stream) = self {
            return net::read_into(stream, buf, max);
        }
        self.read_into_other(buf, max)
    }

    #[inline(never)]
    fn read_into_other(&mut self, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        match self {
            Io::Tcp(stream) => net::read_into(stream, buf, max),
            Io::Tls(tls) if tls.clear_prefix => net::read_into(&tls.stream, buf, max),
            Io::Tls(tls) => tls.read_into(buf, max),
            Io::Embedded(mem) => {
                if mem.inbound.is_empty() {
                    return if mem.inbound_closed {
                        Ok(0)
                    } else {
                        Err(io::ErrorKind::WouldBlock.into())
                    };
                }
                let n = mem.inbound.len().min(max);
                buf.extend_from_slice(&mem.inbound.split_to(n));
                Ok(n)
            }
            Io::Unconnected => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    #[inline]
    pub(crate) fn send(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Io::Tcp(stream) = self {
            return net::send(stream, buf);
        }
        self.send_other(buf)
    }

    #[inline(never)]
    fn send_other(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Io::Tcp(stream) => net::send(stream, buf),
            Io::Tls(tls) => tls.send_vectored(&[IoSlice::new(buf)]),
            Io::Embedded(mem) => mem.accept(&[IoSlice::new(buf)]),
            Io::Unconnected => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    #[inline]
    pub(crate) fn send_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Io::Tcp(stream) => net::send_vectored(stream, bufs),
            Io::Tls(tls) => tls.send_vectored(bufs),
            Io::Embedded(mem) => mem.accept(bufs),
            Io::Unconnected => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Io::Tcp(stream) => net::shutdown_write(stream),
            Io::Tls(tls) => net::shutdown_write(&tls.stream),
            Io::Embedded(mem) => {
                mem.fin_sent = true;
                Ok(())
            }
            Io::Unconnected => Ok(()),
        }
    }
}

impl MemoryIo {
    fn accept(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.blocked {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut n = 0;
        for buf in bufs {
            self.written.extend_from_slice(buf);
            n += buf.len();
        }
        Ok(n)
    }
}
