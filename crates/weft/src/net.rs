//! Socket plumbing: listeners, accepted-socket options, error classification, and the one
//! place in weft that calls the OS directly.
//!
//! Every `unsafe` block of the crate lives in this file.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use bytes::BytesMut;
use mio::net::{TcpListener, TcpStream};
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

/// Options applied to every accepted connection.
#[derive(Debug, Clone)]
pub(crate) struct ChildOptions {
    pub(crate) nodelay: bool,
    pub(crate) recv_buffer_size: Option<usize>,
    pub(crate) send_buffer_size: Option<usize>,
    pub(crate) keepalive: Option<Duration>,
}

impl Default for ChildOptions {
    fn default() -> Self {
        ChildOptions {
            nodelay: true,
            recv_buffer_size: None,
            send_buffer_size: None,
            keepalive: None,
        }
    }
}

/// Creates a non-blocking listener with `SO_REUSEADDR` (and `SO_REUSEPORT` when asked).
pub(crate) fn bind_listener(
    addr: SocketAddr,
    backlog: u32,
    reuse_port: bool,
) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(TcpListener::from_std(socket.into()))
}

/// `SO_LINGER` 0: closing the socket sends a reset and drops unsent data.
pub(crate) fn set_linger_zero(stream: &TcpStream) -> io::Result<()> {
    SockRef::from(stream).set_linger(Some(Duration::ZERO))
}

/// Applies the configured options to a freshly accepted stream.
pub(crate) fn apply_child_options(stream: &TcpStream, opts: &ChildOptions) -> io::Result<()> {
    let sock = SockRef::from(stream);
    if opts.nodelay {
        sock.set_tcp_nodelay(true)?;
    }
    if let Some(size) = opts.recv_buffer_size {
        sock.set_recv_buffer_size(size)?;
    }
    if let Some(size) = opts.send_buffer_size {
        sock.set_send_buffer_size(size)?;
    }
    if let Some(idle) = opts.keepalive {
        sock.set_tcp_keepalive(&TcpKeepalive::new().with_time(idle))?;
    }
    Ok(())
}

/// What the acceptor should do after `accept` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AcceptError {
    /// Nothing more to accept now (`WouldBlock`).
    Drained,
    /// This one connection failed before we got it (aborted, interrupted, protocol error):
    /// go on accepting.
    Skip,
    /// The process or system is out of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
    /// ENOMEM): retrying at once would spin, so stop accepting for a while.
    BackOff,
    /// Anything else: log it and back off as well, the listener may be broken.
    Unexpected,
}

/// Classifies an error returned by `accept`.
///
/// The one place that decides which accept errors are transient: getting this wrong either
/// spins a core (retrying EMFILE at once) or stalls the server (giving up on ECONNABORTED).
pub(crate) fn classify_accept_error(err: &io::Error) -> AcceptError {
    if err.kind() == io::ErrorKind::WouldBlock {
        return AcceptError::Drained;
    }
    match err.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => AcceptError::BackOff,
        Some(
            libc::ECONNABORTED
            | libc::EINTR
            | libc::EPROTO
            | libc::EPERM
            | libc::ENETDOWN
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH,
        ) => AcceptError::Skip,
        _ => AcceptError::Unexpected,
    }
}

/// True for errors that mean the peer is gone (reset, broken pipe, timed out).
pub(crate) fn is_disconnect(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::TimedOut
            | io::ErrorKind::NotConnected
    )
}

/// Reads at most `max` bytes from `stream` into the spare capacity of `buf`, without
/// initialising that capacity first. Returns the number of bytes read (0 at end of stream).
///
/// `buf` must already have at least one byte of spare capacity.
#[inline]
pub(crate) fn read_into(stream: &TcpStream, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    let len = spare.len().min(max);
    debug_assert!(len > 0, "read_into needs spare capacity");
    // The system call itself rather than libc's `recv`: the wrapper is a thread-cancellation
    // point, which costs ~30 instructions per call (enabling and disabling asynchronous
    // cancellation) for a feature nothing in a Rust process uses; measured with callgrind
    // in the `many` shape of benches/cost.sh, where this is the hottest call there is. (And
    // made without libc's variadic `syscall` either: see `socket_call`.)
    // SAFETY: `spare` is valid for writes of `len` bytes (it is the buffer's own spare
    // capacity and `len <= spare.len()`); `recvfrom` with null address arguments is `recv`:
    // it writes at most `len` bytes into it and never reads from it, so its being
    // uninitialised is fine. The fd is owned by `stream`, which outlives the call.
    let n = unsafe {
        socket_call(
            libc::SYS_recvfrom,
            [
                stream.as_raw_fd() as usize,
                spare.as_mut_ptr() as usize,
                len,
                0,
                0, // no address
                0,
            ],
        )
    }?;
    // SAFETY: the kernel initialised the first `n <= len` bytes of the spare capacity.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// Writes `bufs` to `stream` with one `sendmsg`, never raising SIGPIPE.
pub(crate) fn send_vectored(stream: &TcpStream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: all-zero is a valid `msghdr` (no name, no control data, no flags).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is guaranteed ABI-compatible with `iovec` on Unix; the kernel only reads
    // the vector.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len() as _;
    // The system call, not libc's cancellation-point wrapper (see `read_into`).
    // SAFETY: `msg` and the vector and buffers it points to are valid for reads for the
    // whole call, and `sendmsg` only reads them. The fd is owned by `stream`, which
    // outlives the call.
    unsafe {
        socket_call(
            libc::SYS_sendmsg,
            [
                stream.as_raw_fd() as usize,
                &msg as *const libc::msghdr as usize,
                libc::MSG_NOSIGNAL as usize,
                0,
                0,
                0,
            ],
        )
    }
}

/// Writes `buf` to `stream` with one `send`, never raising SIGPIPE.
#[inline]
pub(crate) fn send(stream: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    // The system call, not libc's cancellation-point wrapper (see `read_into`).
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the whole call, and
    // `sendto` with a null address is `send`: it only reads them. The fd is owned by
    // `stream`, which outlives the call.
    let n = unsafe {
        socket_call(
            libc::SYS_sendto,
            [
                stream.as_raw_fd() as usize,
                buf.as_ptr() as usize,
                buf.len(),
                libc::MSG_NOSIGNAL as usize,
                0, // no address
                0,
            ],
        )
    }?;
    Ok(n)
}

/// Shuts down the sending side (sends FIN once the queued bytes are out).
pub(crate) fn shutdown_write(stream: &TcpStream) -> io::Result<()> {
    stream.shutdown(std::net::Shutdown::Write)
}

/// Makes system call `nr` with six arguments: `Ok(result)`, or the error it returned.
///
/// On x86-64 this is the `syscall` instruction itself: libc's `syscall` function is
/// variadic, shuffles its seven arguments one register along and goes through `errno`,
/// about 20 instructions a call on a path that makes two calls per echoed message
/// (callgrind, `benches/cost.sh`). Elsewhere it is libc's `syscall`.
///
/// # Safety
///
/// As for the system call itself: every pointer among `args` must be valid for what call
/// `nr` does with it.
#[inline(always)]
unsafe fn socket_call(nr: libc::c_long, args: [usize; 6]) -> io::Result<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        let ret: isize;
        // SAFETY: the Linux x86-64 system call convention: number in rax, arguments in
        // rdi, rsi, rdx, r10, r8, r9, result in rax; the instruction overwrites rcx and r11
        // and nothing else (no stack use). What the call reads or writes through the
        // pointers among `args` is the caller's contract.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") nr as isize => ret,
                in("rdi") args[0],
                in("rsi") args[1],
                in("rdx") args[2],
                in("r10") args[3],
                in("r8") args[4],
                in("r9") args[5],
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        // The kernel returns -errno (from -4095 to -1) on failure.
        if ret < 0 {
            return Err(io::Error::from_raw_os_error(-ret as i32));
        }
        Ok(ret as usize)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: the caller's contract, as above.
        let ret =
            unsafe { libc::syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]) };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ret as usize)
    }
}

/// The monotonic clock (`CLOCK_MONOTONIC`, the clock of `std::time::Instant`), in
/// nanoseconds: what `clock::Moment::now` reads.
#[inline]
pub(crate) fn monotonic_nanos() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC exists on every Linux,
    // so the call cannot fail (std's `Instant::now` makes the same call and asserts).
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    debug_assert_eq!(rc, 0);
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000) + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn descriptor_exhaustion_backs_off() {
        for code in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert_eq!(classify_accept_error(&os(code)), AcceptError::BackOff);
        }
    }

    #[test]
    fn per_connection_failures_are_skipped() {
        for code in [libc::ECONNABORTED, libc::EINTR, libc::EPROTO] {
            assert_eq!(classify_accept_error(&os(code)), AcceptError::Skip);
        }
        assert_eq!(
            classify_accept_error(&io::Error::from(io::ErrorKind::WouldBlock)),
            AcceptError::Drained
        );
        assert_eq!(
            classify_accept_error(&os(libc::EBADF)),
            AcceptError::Unexpected
        );
    }

    #[test]
    fn read_into_appends_after_existing_bytes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        std::io::Write::write_all(&mut client, b"world").unwrap();
        let server = TcpStream::from_std(server);
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(b"hello ");
        // The socket is blocking here (from_std keeps the mode), so this waits for the data.
        let n = read_into(&server, &mut buf, 3).unwrap();
        assert_eq!(n, 3);
        assert_eq!(&buf[..], b"hello wor");
    }
}
