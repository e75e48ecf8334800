//! A connection's outbound queue: coalesced encoded bytes, shared chunks, and the watermarks.
//!
//! ```text
//!   chunks (shared Bytes, e.g. broadcasts)          tail (encoder output, coalesced)
//!   ┌────────┬────────┬────────┐                    ┌──────────────────┬─────────┐
//!   │ chunk0 │ chunk1 │ chunk2 │  then              │ encoded messages │  spare  │
//!   └────────┴────────┴────────┘                    └──────────────────┴─────────┘
//!   invariant: pending == sum of chunk lengths + tail.len()
//!   order on the wire: chunks front to back, then tail
//! ```
//!
//! One flush is one `send` (tail only) or one `sendmsg` of up to [`MAX_IOVECS`] slices, and
//! is repeated only while the kernel takes everything offered. Writability follows the
//! watermarks with hysteresis: it turns off when `pending` rises above `high` and on again
//! only when it falls below `low`, so a connection near the limit does not flap.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use super::Io;
use bytes::{Buf, Bytes, BytesMut};

/// At most this many slices go into one `sendmsg`.
pub(crate) const MAX_IOVECS: usize = 64;

/// A drained tail keeps its allocation for the next batch only up to this size, so an idle
/// connection that once sent a burst does not pin the burst's memory.
const RETAIN_TAIL: usize = 8 * 1024;

/// High and low watermarks on a connection's unsent output, in bytes.
///
/// When unsent output rises above `high` the connection becomes unwritable (and, by default,
/// weft stops reading from it); when it falls below `low` it becomes writable again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteWatermarks {
    low: usize,
    high: usize,
}

impl WriteWatermarks {
    /// Watermarks with `low <= high`; `None` otherwise.
    pub const fn new(low: usize, high: usize) -> Option<Self> {
        if low <= high {
            Some(WriteWatermarks { low, high })
        } else {
            None
        }
    }

    /// The level below which an unwritable connection becomes writable again.
    pub fn low(&self) -> usize {
        self.low
    }

    /// The level above which a connection becomes unwritable.
    pub fn high(&self) -> usize {
        self.high
    }
}

impl Default for WriteWatermarks {
    /// 32 KiB low, 64 KiB high, as in Netty.
    fn default() -> Self {
        WriteWatermarks {
            low: 32 * 1024,
            high: 64 * 1024,
        }
    }
}

/// What a flush achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flushed {
    /// Everything queued is in the kernel.
    All,
    /// The kernel's send buffer is full; wait for `WRITABLE`.
    Blocked,
}

#[derive(Debug)]
pub(crate) struct Outbound {
    /// Shared chunks queued before `tail`.
    chunks: VecDeque<Bytes>,
    /// Encoded bytes queued after every chunk; encoders append here.
    tail: BytesMut,
    /// Unsent bytes: the sum of chunk lengths plus `tail.len()`.
    pending: usize,
    watermarks: WriteWatermarks,
    /// False from the moment `pending` rises above `high` until it falls below `low`.
    writable: bool,
    /// Set when `writable` flipped and the pipeline has not been told yet.
    writability_changed: bool,
}

impl Outbound {
    pub(crate) fn new(watermarks: WriteWatermarks) -> Self {
        Outbound {
            chunks: VecDeque::new(),
            tail: BytesMut::new(),
            pending: 0,
            watermarks,
            writable: true,
            writability_changed: false,
        }
    }

    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending == 0
    }

    pub(crate) fn is_writable(&self) -> bool {
        self.writable
    }

    pub(crate) fn watermarks(&self) -> WriteWatermarks {
        self.watermarks
    }

    pub(crate) fn set_watermarks(&mut self, watermarks: WriteWatermarks) {
        self.watermarks = watermarks;
        self.update_writability();
    }

    /// Takes the pending "writability changed" notice, if any.
    pub(crate) fn take_writability_change(&mut self) -> Option<bool> {
        std::mem::take(&mut self.writability_changed).then_some(self.writable)
    }

    /// Lets `encode` append to the tail, then accounts for what it appended.
    #[inline]
    pub(crate) fn encode_with<R>(&mut self, encode: impl FnOnce(&mut BytesMut) -> R) -> R {
        let before = self.tail.len();
        let result = encode(&mut self.tail);
        self.pending += self.tail.len() - before;
        self.update_writability();
        result
    }

    /// The length of the tail, to undo a failed encode with [`Outbound::truncate_tail`].
    pub(crate) fn tail_len(&self) -> usize {
        self.tail.len()
    }

    /// Drops what a failed encode appended after `len`, so the stream never carries a torn
    /// message.
    pub(crate) fn truncate_tail(&mut self, len: usize) {
        if len < self.tail.len() {
            self.pending -= self.tail.len() - len;
            self.tail.truncate(len);
            self.update_writability();
        }
    }

    /// Queues an already-encoded chunk without copying it.
    pub(crate) fn push_chunk(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        if !self.tail.is_empty() {
            let encoded = self.tail.split().freeze();
            self.chunks.push_back(encoded);
        }
        self.pending += chunk.len();
        self.chunks.push_back(chunk);
        self.update_writability();
    }

    /// Discards everything queued (abort).
    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.tail = BytesMut::new();
        self.pending = 0;
        self.update_writability();
    }

    /// Writes as much as the kernel takes. Returns the bytes written and whether everything
    /// went out.
    pub(crate) fn write_to(&mut self, io: &mut Io) -> io::Result<(usize, Flushed)> {
        let mut written = 0;
        while self.pending > 0 {
            let result = if self.chunks.is_empty() {
                io.send(&self.tail)
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let mut count = 0;
                for chunk in self.chunks.iter().take(MAX_IOVECS - 1) {
                    slices[count] = IoSlice::new(chunk);
                    count += 1;
                }
                if !self.tail.is_empty() {
                    slices[count] = IoSlice::new(&self.tail);
                    count += 1;
                }
                io.send_vectored(&slices[..count])
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    written += n;
                    self.consume(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.update_writability();
                    return Ok((written, Flushed::Blocked));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.tail.capacity() > RETAIN_TAIL {
            self.tail = BytesMut::new();
        } else {
            self.tail.clear();
        }
        self.update_writability();
        Ok((written, Flushed::All))
    }

    fn consume(&mut self, mut n: usize) {
        self.pending -= n;
        while n > 0 {
            match self.chunks.front_mut() {
                Some(chunk) if chunk.len() <= n => {
                    n -= chunk.len();
                    self.chunks.pop_front();
                }
                Some(chunk) => {
                    chunk.advance(n);
                    return;
                }
                None => {
                    self.tail.advance(n);
                    return;
                }
            }
        }
    }

    #[inline]
    fn update_writability(&mut self) {
        let writable = if self.writable {
            self.pending <= self.watermarks.high
        } else {
            self.pending < self.watermarks.low
        };
        if writable != self.writable {
            self.writable = writable;
            self.writability_changed = !self.writability_changed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use std::io::Read;

    fn pair() -> (Io, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        (Io::Tcp(mio::net::TcpStream::from_std(server)), client)
    }

    #[test]
    fn order_is_chunks_then_tail_across_pushes() {
        let (mut server, mut client) = pair();
        let mut out = Outbound::new(WriteWatermarks::default());
        out.encode_with(|b| b.put_slice(b"a"));
        out.push_chunk(Bytes::from_static(b"b"));
        out.encode_with(|b| b.put_slice(b"c"));
        out.push_chunk(Bytes::from_static(b"d"));
        assert_eq!(out.pending(), 4);
        assert_eq!(out.write_to(&mut server).unwrap(), (4, Flushed::All));
        let mut got = [0u8; 4];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"abcd");
    }

    #[test]
    fn watermarks_flip_with_hysteresis() {
        let mut out = Outbound::new(WriteWatermarks::new(4, 8).unwrap());
        out.encode_with(|b| b.put_slice(&[0; 8]));
        assert!(out.is_writable(), "at high is still writable");
        assert_eq!(out.take_writability_change(), None);
        out.encode_with(|b| b.put_u8(0));
        assert!(!out.is_writable());
        assert_eq!(out.take_writability_change(), Some(false));
        assert_eq!(out.take_writability_change(), None);
        out.consume(5); // 4 left: not below low
        out.update_writability();
        assert!(!out.is_writable());
        out.consume(1);
        out.update_writability();
        assert!(out.is_writable());
        assert_eq!(out.take_writability_change(), Some(true));
    }

    #[test]
    fn a_flip_and_flip_back_before_notice_cancels_out() {
        let mut out = Outbound::new(WriteWatermarks::new(1, 1).unwrap());
        out.push_chunk(Bytes::from_static(b"xx"));
        assert!(!out.is_writable());
        out.clear();
        assert!(out.is_writable());
        assert_eq!(out.take_writability_change(), None);
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let (mut server, mut client) = pair();
        let mut out = Outbound::new(WriteWatermarks::new(0, usize::MAX).unwrap());
        // More than the socket buffers hold, in chunks and tail.
        let chunk = Bytes::from(vec![7u8; 1 << 20]);
        out.push_chunk(chunk.clone());
        out.encode_with(|b| b.put_slice(&[9u8; 1 << 20]));
        out.push_chunk(chunk);
        let total = 3 << 20;
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            client.read_to_end(&mut all).unwrap();
            all
        });
        let mut sent = 0;
        let started = std::time::Instant::now();
        while sent < total {
            assert!(started.elapsed() < std::time::Duration::from_secs(20));
            let (n, _) = out.write_to(&mut server).unwrap();
            sent += n;
            if n == 0 {
                std::thread::yield_now();
            }
        }
        assert!(out.is_empty());
        drop(server);
        let all = reader.join().unwrap();
        assert_eq!(all.len(), total);
        assert!(all[..1 << 20].iter().all(|&b| b == 7));
        assert!(all[1 << 20..2 << 20].iter().all(|&b| b == 9));
        assert!(all[2 << 20..].iter().all(|&b| b == 7));
    }
}
