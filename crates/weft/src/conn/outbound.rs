//! A connection's outbound queue: coalesced encoded bytes, shared chunks, and the watermarks.
//!
//! ```text
//!   chunks (shared Bytes, e.g. broadcasts)          tail (encoder output, coalesced)
//!   ┌────────┬────────┬────────┐                    ┌──────────────────┬─────────┐
//!   │ chunk0 │ chunk1 │ chunk2 │  then              │ encoded messages │  spare  │
//!   └────────┴────────┴────────┘                    └──────────────────┴─────────┘
//!   invariant: pending == sum of chunk lengths + tail.len()
//!              shared  == sum of the lengths of the chunks queued as shared
//!              cost    == pending - shared + chunks.len() * CHUNK_OVERHEAD
//!   order on the wire: chunks front to back, then tail
//! ```
//!
//! `pending` is what the peer still has to receive; `cost` is what the queue holds in
//! memory on this connection's account, and is what the watermarks and the output limit
//! compare: every separately queued chunk costs [`CHUNK_OVERHEAD`] on top of its bytes (so
//! a million 2-byte broadcasts cannot hide behind a byte count of 2 MB), and a chunk queued
//! as *shared* (a stored value the server holds anyway, referenced rather than copied)
//! costs only its overhead.
//!
//! One flush is one `send` (tail only) or one `sendmsg` of up to [`MAX_IOVECS`] slices, and
//! is repeated only while the kernel takes everything offered. Writability follows the
//! watermarks with hysteresis: it turns off when `pending` rises above `high` and on again
//! only when it falls below `low`, so a connection near the limit does not flap.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use super::Io;
use crate::config::WriteWatermarks;
use crate::shared::CHUNK_OVERHEAD;
use bytes::{Buf, Bytes, BytesMut};

/// At most this many slices go into one `sendmsg`.
pub(crate) const MAX_IOVECS: usize = 64;

/// A drained tail keeps its allocation for the next batch only up to this size, so an idle
/// connection that once sent a burst does not pin the burst's memory.
const RETAIN_TAIL: usize = 8 * 1024;

/// What a flush achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flushed {
    /// Everything queued is in the kernel.
    All,
    /// The kernel's send buffer is full; wait for `WRITABLE`.
    Blocked,
}

/// One chunk of the queue.
#[derive(Debug)]
struct Chunk {
    bytes: Bytes,
    /// Queued as shared: its bytes do not count toward the cost.
    shared: bool,
}

#[derive(Debug)]
pub(crate) struct Outbound {
    /// Chunks queued before `tail`.
    chunks: VecDeque<Chunk>,
    /// Encoded bytes queued after every chunk; encoders append here.
    tail: BytesMut,
    /// Unsent bytes: the sum of chunk lengths plus `tail.len()`.
    pending: usize,
    /// Unsent bytes of the chunks queued as shared.
    shared: usize,
    watermarks: WriteWatermarks,
    /// The hard limit on `cost()`, enforced by the connection (see `ConnCore`).
    limit: usize,
    /// False from the moment `pending` rises above `high` until it falls below `low`.
    writable: bool,
    /// Set when `writable` flipped and the pipeline has not been told yet.
    writability_changed: bool,
}

impl Outbound {
    pub(crate) fn new(watermarks: WriteWatermarks, limit: usize) -> Self {
        Outbound {
            chunks: VecDeque::new(),
            tail: BytesMut::new(),
            pending: 0,
            shared: 0,
            watermarks,
            limit,
            writable: true,
            writability_changed: false,
        }
    }

    #[inline]
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// What the queue holds on this connection's account (see the module docs).
    #[inline]
    pub(crate) fn cost(&self) -> usize {
        if self.chunks.is_empty() {
            self.pending // encoder output only (the usual case): no overhead, nothing shared
        } else {
            self.pending - self.shared + self.chunks.len() * CHUNK_OVERHEAD
        }
    }

    /// The hard limit on [`Outbound::cost`].
    #[inline]
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// True when `extra` more cost would pass the limit.
    #[inline]
    pub(crate) fn would_pass_limit(&self, extra: usize) -> bool {
        self.cost().saturating_add(extra) > self.limit
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.pending == 0
    }

    #[inline]
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

    /// True when a writability change waits to be delivered.
    #[inline]
    pub(crate) fn has_writability_change(&self) -> bool {
        self.writability_changed
    }

    /// Takes the pending "writability changed" notice, if any.
    pub(crate) fn take_writability_change(&mut self) -> Option<bool> {
        std::mem::take(&mut self.writability_changed).then_some(self.writable)
    }

    /// Lets `encode` append to the tail, then accounts for what it appended.
    #[inline]
    #[cfg_attr(not(any(test, feature = "bench-internals")), allow(dead_code))]
    pub(crate) fn encode_with<R>(&mut self, encode: impl FnOnce(&mut BytesMut) -> R) -> R {
        self.encode_checked(encode).0
    }

    /// [`Outbound::encode_with`], also saying whether the queue's cost is now past the
    /// limit (computed once for both the watermarks and the limit: this is the per-message
    /// path).
    #[inline]
    pub(crate) fn encode_checked<R>(
        &mut self,
        encode: impl FnOnce(&mut BytesMut) -> R,
    ) -> (R, bool) {
        let before = self.tail.len();
        let result = encode(&mut self.tail);
        self.pending += self.tail.len() - before;
        let cost = self.cost();
        self.update_writability_at(cost);
        (result, cost > self.limit)
    }

    /// The length of the tail, to undo a failed encode with [`Outbound::truncate_tail`].
    #[inline]
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

    /// What queuing `chunk` would add to the cost (at most: the tail may be split off too).
    pub(crate) fn chunk_cost(chunk: &Bytes, shared: bool) -> usize {
        let bytes = if shared { 0 } else { chunk.len() };
        bytes + 2 * CHUNK_OVERHEAD
    }

    /// Queues an already-encoded chunk without copying it; a `shared` chunk counts only its
    /// overhead toward the cost.
    pub(crate) fn push_chunk(&mut self, chunk: Bytes, shared: bool) {
        if chunk.is_empty() {
            return;
        }
        if !self.tail.is_empty() {
            let encoded = self.tail.split().freeze();
            self.chunks.push_back(Chunk {
                bytes: encoded,
                shared: false,
            });
        }
        self.pending += chunk.len();
        if shared {
            self.shared += chunk.len();
        }
        self.chunks.push_back(Chunk {
            bytes: chunk,
            shared,
        });
        self.update_writability();
    }

    /// Discards everything queued (abort).
    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.tail = BytesMut::new();
        self.pending = 0;
        self.shared = 0;
        self.update_writability();
    }

    /// Writes as much as the kernel takes. Returns the bytes written and whether everything
    /// went out.
    pub(crate) fn write_to(&mut self, io: &mut Io) -> io::Result<(usize, Flushed)> {
        // The usual case: only encoder output, sent whole by one `send`.
        if self.chunks.is_empty() && !self.tail.is_empty() {
            let result = io.send(&self.tail);
            if let Ok(n) = result {
                if n == self.tail.len() {
                    self.pending = 0;
                    self.finish_tail();
                    self.update_writability_at(0);
                    return Ok((n, Flushed::All));
                }
            }
            return self.write_rest(io, Some(result));
        }
        self.write_rest(io, None)
    }

    /// The general [`write_to`](Self::write_to), taking `first` (the fast path's send) as
    /// the result of its first send.
    fn write_rest(
        &mut self,
        io: &mut Io,
        mut first: Option<io::Result<usize>>,
    ) -> io::Result<(usize, Flushed)> {
        let mut written = 0;
        while self.pending > 0 {
            let result = if let Some(result) = first.take() {
                result
            } else if self.chunks.is_empty() {
                io.send(&self.tail)
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let mut count = 0;
                for chunk in self.chunks.iter().take(MAX_IOVECS - 1) {
                    slices[count] = IoSlice::new(&chunk.bytes);
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
        self.finish_tail();
        self.update_writability();
        Ok((written, Flushed::All))
    }

    /// Everything is sent: empties the tail, giving back a large buffer.
    #[inline]
    fn finish_tail(&mut self) {
        if self.tail.capacity() > RETAIN_TAIL {
            self.tail = BytesMut::new();
        } else {
            self.tail.clear();
        }
    }

    fn consume(&mut self, mut n: usize) {
        self.pending -= n;
        while n > 0 {
            match self.chunks.front_mut() {
                Some(chunk) if chunk.bytes.len() <= n => {
                    n -= chunk.bytes.len();
                    if chunk.shared {
                        self.shared -= chunk.bytes.len();
                    }
                    self.chunks.pop_front();
                }
                Some(chunk) => {
                    chunk.bytes.advance(n);
                    if chunk.shared {
                        self.shared -= n;
                    }
                    return;
                }
                None => {
                    if n == self.tail.len() {
                        // All sent: keep the buffer's start where it is, so the next
                        // encode finds its whole capacity (an advance would move the start
                        // and make every later reserve reclaim the space first).
                        self.tail.clear();
                    } else {
                        self.tail.advance(n);
                    }
                    return;
                }
            }
        }
    }

    #[inline]
    fn update_writability(&mut self) {
        self.update_writability_at(self.cost());
    }

    #[inline]
    fn update_writability_at(&mut self, cost: usize) {
        let writable = if self.writable {
            cost <= self.watermarks.high()
        } else {
            cost < self.watermarks.low()
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
        let mut out = Outbound::new(WriteWatermarks::default(), usize::MAX);
        out.encode_with(|b| b.put_slice(b"a"));
        out.push_chunk(Bytes::from_static(b"b"), false);
        out.encode_with(|b| b.put_slice(b"c"));
        out.push_chunk(Bytes::from_static(b"d"), true);
        assert_eq!(out.pending(), 4);
        assert_eq!(out.write_to(&mut server).unwrap(), (4, Flushed::All));
        let mut got = [0u8; 4];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"abcd");
    }

    #[test]
    fn watermarks_flip_with_hysteresis() {
        let mut out = Outbound::new(WriteWatermarks::new(4, 8).unwrap(), usize::MAX);
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
    fn cost_counts_chunk_overhead_and_not_shared_bytes() {
        let mut out = Outbound::new(WriteWatermarks::default(), usize::MAX);
        out.encode_with(|b| b.put_slice(&[0; 10]));
        assert_eq!(out.cost(), 10, "coalesced encoder output costs its bytes");
        out.push_chunk(Bytes::from(vec![0; 100]), true);
        // The tail became a chunk too: 10 + 2 overheads, the shared 100 bytes not counted.
        assert_eq!(out.pending(), 110);
        assert_eq!(out.cost(), 10 + 2 * CHUNK_OVERHEAD);
        out.push_chunk(Bytes::from_static(b"xy"), false);
        assert_eq!(out.cost(), 12 + 3 * CHUNK_OVERHEAD);
        out.consume(10 + 50); // the first chunk, and half of the shared one
        assert_eq!(out.cost(), 2 + 2 * CHUNK_OVERHEAD);
        out.consume(50);
        assert_eq!(out.cost(), 2 + CHUNK_OVERHEAD);
    }

    #[test]
    fn a_flip_and_flip_back_before_notice_cancels_out() {
        let mut out = Outbound::new(WriteWatermarks::new(1, 1).unwrap(), usize::MAX);
        out.push_chunk(Bytes::from_static(b"xx"), false);
        assert!(!out.is_writable());
        out.clear();
        assert!(out.is_writable());
        assert_eq!(out.take_writability_change(), None);
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let (mut server, mut client) = pair();
        let mut out = Outbound::new(WriteWatermarks::new(1, usize::MAX).unwrap(), usize::MAX);
        // More than the socket buffers hold, in chunks and tail.
        let chunk = Bytes::from(vec![7u8; 1 << 20]);
        out.push_chunk(chunk.clone(), true);
        out.encode_with(|b| b.put_slice(&[9u8; 1 << 20]));
        out.push_chunk(chunk, false);
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
        assert_eq!(out.cost(), 0, "shared bytes are accounted as they leave");
        drop(server);
        let all = reader.join().unwrap();
        assert_eq!(all.len(), total);
        assert!(all[..1 << 20].iter().all(|&b| b == 7));
        assert!(all[1 << 20..2 << 20].iter().all(|&b| b == 9));
        assert!(all[2 << 20..].iter().all(|&b| b == 7));
    }
}
