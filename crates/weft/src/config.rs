//! Configuration values: what a server is built with (shared read-only by its threads),
//! and the public value types its knobs take.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use crate::clock::Moment;
use crate::net::ChildOptions;

/// How connections reach the reactors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AcceptMode {
    /// One acceptor thread owns the listener and hands connections to the reactors
    /// round-robin (the default).
    #[default]
    Acceptor,
    /// Every reactor owns a listener on the same port (`SO_REUSEPORT`) and the kernel
    /// spreads connections over them; there is no acceptor thread.
    ReusePort,
}

/// Which side of a connection has been quiet for its configured idle time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Idle {
    /// Nothing was read for the read-idle time.
    Read,
    /// Nothing was written for the write-idle time.
    Write,
    /// Nothing was read or written for the all-idle time.
    All,
}

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
    /// Watermarks with `1 <= low <= high`; `None` otherwise.
    ///
    /// A low watermark of 0 is refused because it could never be reached from below: a
    /// connection would become writable again only when less than nothing is queued, so
    /// once paused it would stay paused forever.
    pub const fn new(low: usize, high: usize) -> Option<Self> {
        if 1 <= low && low <= high {
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

/// Idle times after which [`Handler::on_idle`](crate::Handler::on_idle) fires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdleTimeouts {
    /// Nothing read for this long: [`Idle::Read`].
    pub read: Option<Duration>,
    /// Nothing written for this long: [`Idle::Write`].
    pub write: Option<Duration>,
    /// Nothing read or written for this long: [`Idle::All`].
    pub all: Option<Duration>,
}

impl IdleTimeouts {
    /// The idle time configured for `kind`.
    pub fn get(&self, kind: Idle) -> Option<Duration> {
        match kind {
            Idle::Read => self.read,
            Idle::Write => self.write,
            Idle::All => self.all,
        }
    }
}

/// Whether accepted connections begin with a PROXY protocol header (HAProxy's, version 1
/// or 2), the way a server behind a TCP load balancer learns its clients' addresses. See
/// [`ServerBuilder::proxy_protocol`](crate::ServerBuilder::proxy_protocol) and
/// `docs/scaling.md` ("Behind a load balancer").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProxyProtocol {
    /// No header: a connection's first byte is its pipeline's (the default).
    #[default]
    Off,
    /// Every connection must begin with a header, read before anything else; one whose
    /// header is missing, malformed or late is closed without a reply.
    Required {
        /// The sources (the balancers) allowed to connect: a connection from any other
        /// address is closed at once, before a byte is read. `None`: any source (the
        /// listener is reachable from the balancers only, say by a firewall).
        trusted: Option<Vec<IpNet>>,
    },
}

impl ProxyProtocol {
    /// Required from any source (`Required { trusted: None }`).
    pub fn required() -> Self {
        ProxyProtocol::Required { trusted: None }
    }

    /// Required, from these sources only.
    pub fn required_from(trusted: impl IntoIterator<Item = IpNet>) -> Self {
        ProxyProtocol::Required {
            trusted: Some(trusted.into_iter().collect()),
        }
    }

    /// True unless [`ProxyProtocol::Off`].
    pub fn is_required(&self) -> bool {
        matches!(self, ProxyProtocol::Required { .. })
    }

    /// Whether a connection from `peer` (the socket's address) may send a header.
    pub(crate) fn trusts(&self, peer: IpAddr) -> bool {
        match self {
            ProxyProtocol::Required {
                trusted: Some(nets),
            } => nets.iter().any(|net| net.contains(peer)),
            _ => true,
        }
    }
}

/// A range of IP addresses: an address and how many of its leading bits a member shares
/// (`10.0.0.0/8`, `2001:db8::/32`; a single address is `/32` or `/128`). Parses from that
/// text, or from a bare address.
///
/// ```
/// use weft::IpNet;
///
/// let net: IpNet = "10.1.0.0/16".parse().unwrap();
/// assert!(net.contains("10.1.200.3".parse().unwrap()));
/// assert!(!net.contains("10.2.0.1".parse().unwrap()));
/// // An IPv4 peer seen on a dual-stack socket (`::ffff:10.1.0.9`) matches too.
/// assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
/// let one: IpNet = "127.0.0.1".parse().unwrap();
/// assert_eq!(one.prefix_len(), 32);
/// assert!("10.0.0.0/33".parse::<IpNet>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix_len: u8,
}

impl IpNet {
    /// The range of `addr`'s first `prefix_len` bits; `None` if `prefix_len` is over 32
    /// (IPv4) or 128 (IPv6).
    pub fn new(addr: IpAddr, prefix_len: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix_len > max {
            return None;
        }
        // An IPv4-mapped range is kept as the IPv4 range it maps (peers are compared in
        // their canonical form too).
        Some(match addr.to_canonical() {
            IpAddr::V4(v4) if addr.is_ipv6() && prefix_len >= 96 => IpNet {
                addr: IpAddr::V4(v4),
                prefix_len: prefix_len - 96,
            },
            _ => IpNet { addr, prefix_len },
        })
    }

    /// The address it was made with.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// How many leading bits members share.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// True if `ip` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let n = u32::from(self.prefix_len);
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                n == 0 || u32::from(net) >> (32 - n) == u32::from(ip) >> (32 - n)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                n == 0 || u128::from(net) >> (128 - n) == u128::from(ip) >> (128 - n)
            }
            _ => false,
        }
    }
}

impl From<IpAddr> for IpNet {
    /// The range holding `addr` alone.
    fn from(addr: IpAddr) -> Self {
        let len = if addr.is_ipv4() { 32 } else { 128 };
        IpNet::new(addr, len).expect("a full-length prefix")
    }
}

impl FromStr for IpNet {
    type Err = IpNetParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| IpNetParseError(()))?;
        match len {
            None => Ok(IpNet::from(addr)),
            Some(len) => {
                let len: u8 = len.parse().map_err(|_| IpNetParseError(()))?;
                IpNet::new(addr, len).ok_or(IpNetParseError(()))
            }
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// Text that is not an [`IpNet`] (`ADDR` or `ADDR/LEN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpNetParseError(());

impl fmt::Display for IpNetParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an IP address or ADDR/PREFIX-LENGTH range")
    }
}

impl std::error::Error for IpNetParseError {}

/// The default hard limit on one connection's queued output: 16 MiB.
pub(crate) const DEFAULT_OUTPUT_LIMIT: usize = 16 << 20;

/// The longest timeout or delay weft accepts (about 100 years): anything longer is surely a
/// mistake, and every deadline `now + timeout` stays representable.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `now + delay`, with `delay` capped at [`MAX_TIMEOUT`] (the sum saturates besides), so
/// that no user-supplied delay can overflow a deadline.
#[inline]
pub(crate) fn deadline_after(now: Moment, delay: Duration) -> Moment {
    now + delay.min(MAX_TIMEOUT)
}

/// Everything a server was built with (see [`ServerBuilder`](crate::ServerBuilder) for
/// each knob's meaning and default).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) addr: SocketAddr,
    pub(crate) reactors: usize,
    pub(crate) pin_reactors: Option<bool>,
    pub(crate) accept_mode: AcceptMode,
    pub(crate) backlog: u32,
    pub(crate) child: ChildOptions,
    pub(crate) watermarks: WriteWatermarks,
    /// The hard limit on a connection's queued output (its cost, see `Outbound`).
    pub(crate) output_limit: usize,
    pub(crate) pause_read_when_unwritable: bool,
    pub(crate) max_connections: Option<usize>,
    pub(crate) idle: IdleTimeouts,
    pub(crate) close_timeout: Duration,
    /// How long a closed connection reads and discards after its FIN (LINGERING).
    pub(crate) linger: Duration,
    pub(crate) frame_timeout: Option<Duration>,
    /// Whether connections begin with a PROXY protocol header, from whom.
    pub(crate) proxy_protocol: ProxyProtocol,
    /// How long a connection may take to send its whole PROXY header.
    pub(crate) proxy_header_timeout: Duration,
    /// TLS on accepted connections (`None`: plaintext).
    pub(crate) tls: Option<crate::tls::TlsAcceptor>,
    /// How long a TLS handshake may take (accepted and dialled connections).
    pub(crate) tls_handshake_timeout: Duration,
    /// The watchdog's thresholds (see `metrics/watchdog.rs`); no watchdog when `None`.
    pub(crate) stall_threshold: Option<Duration>,
    pub(crate) stuck_threshold: Duration,
    pub(crate) read_budget: usize,
    pub(crate) inbox_capacity: usize,
    pub(crate) timer_tick: Duration,
    pub(crate) pool_threads: usize,
    pub(crate) pool_queue: usize,
    /// Offloaded jobs one connection may have queued or running at once.
    pub(crate) jobs_per_connection: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            reactors: std::thread::available_parallelism().map_or(1, usize::from),
            pin_reactors: None,
            accept_mode: AcceptMode::Acceptor,
            backlog: 1024,
            child: ChildOptions::default(),
            watermarks: WriteWatermarks::default(),
            output_limit: DEFAULT_OUTPUT_LIMIT,
            pause_read_when_unwritable: true,
            max_connections: None,
            idle: IdleTimeouts::default(),
            close_timeout: Duration::from_secs(10),
            linger: Duration::from_secs(2),
            frame_timeout: None,
            proxy_protocol: ProxyProtocol::Off,
            proxy_header_timeout: Duration::from_secs(5),
            tls: None,
            tls_handshake_timeout: Duration::from_secs(10),
            stall_threshold: Some(Duration::from_millis(10)),
            stuck_threshold: Duration::from_secs(1),
            read_budget: 256 * 1024,
            inbox_capacity: 64 * 1024,
            timer_tick: Duration::from_millis(1),
            pool_threads: std::thread::available_parallelism().map_or(1, usize::from),
            pool_queue: 1024,
            jobs_per_connection: 16,
        }
    }
}
