//! What a connection reads from and writes to: a TCP socket, or (for
//! [`EmbeddedPipeline`](crate::testing::EmbeddedPipeline)) in-memory buffers that behave
//! like one, so the same connection code runs in both.

use std::io::{self, IoSlice};

use bytes::BytesMut;
use mio::net::TcpStream;

use crate::net;

/// A connection's byte transport.
pub(crate) enum Io {
    Tcp(TcpStream),
    /// Constructed only by the embedded pipeline (feature `test-util`).
    #[cfg_attr(not(feature = "test-util"), allow(dead_code))]
    Embedded(Box<MemoryIo>),
    /// A dialled connection between attempts (looking a name up): no socket yet.
    Unconnected,
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
            Io::Embedded(_) | Io::Unconnected => None,
        }
    }

    /// The local address of the socket (`None` for an in-memory transport).
    pub(crate) fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Io::Tcp(stream) => stream.local_addr().ok(),
            Io::Embedded(_) | Io::Unconnected => None,
        }
    }

    /// Makes closing the socket send a reset (`SO_LINGER` 0) rather than a FIN: for a
    /// splice whose other side was reset.
    pub(crate) fn reset_on_close(&mut self) {
        if let Io::Tcp(stream) = self {
            let _ = net::set_linger_zero(stream);
        }
    }

    /// Reads at most `max` bytes into `buf`'s spare capacity (0 = end of stream).
    pub(crate) fn read_into(&mut self, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        match self {
            Io::Tcp(stream) => net::read_into(stream, buf, max),
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

    pub(crate) fn send(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Io::Tcp(stream) => net::send(stream, buf),
            Io::Embedded(mem) => mem.accept(&[IoSlice::new(buf)]),
            Io::Unconnected => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    pub(crate) fn send_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Io::Tcp(stream) => net::send_vectored(stream, bufs),
            Io::Embedded(mem) => mem.accept(bufs),
            Io::Unconnected => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Io::Tcp(stream) => net::shutdown_write(stream),
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
