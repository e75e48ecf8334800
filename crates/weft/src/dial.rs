//! Outbound connections: what to dial ([`Dial`]), what comes back ([`Connected`] or a
//! [`ConnectError`]), and a back-off for links that must stay up ([`Backoff`]).
//!
//! A dialled connection is a connection like an accepted one: it lives on a reactor, has a
//! pipeline, the output limit, the watermarks, the timers and the half-close handling of
//! the server it belongs to. It is opened with [`Context::connect`](crate::Context::connect)
//! (on the caller's own reactor, so the two never cross threads),
//! [`Context::splice`](crate::Context::splice) (a byte relay between the caller and the new
//! connection, with coupled flow control), or [`Server::connect`](crate::Server::connect) and
//! [`Client::connect`](crate::Client::connect) from any thread. `docs/client.md` in the
//! repository walks through all of them.
//!
//! # How a dial proceeds
//!
//! The targets are tried in order, each at most once. A [`SocketAddr`] is connected at
//! once (a non-blocking `connect`); a host name is first looked up on the worker pool,
//! never on a reactor, and its addresses join the front of the list. Each attempt (the
//! lookup included) has [`Dial::timeout`] to succeed; a refusal, an unreachable network or
//! a timeout moves on to the next target. The first connection that comes up wins; when
//! every target has failed, the caller is told the last error.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use rustls_pki_types::ServerName;

use crate::handle::ConnectionHandle;
use crate::id::ConnectionId;
use crate::tls::TlsConnector;

/// How long one connection attempt may take unless [`Dial::timeout`] says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One place to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Addr(SocketAddr),
    /// Looked up on the worker pool when its turn comes.
    Host(String, u16),
}

/// What to connect to, and how.
///
/// ```
/// use std::time::Duration;
/// use weft::Dial;
///
/// let direct = Dial::addr("127.0.0.1:6379".parse().unwrap());
/// let by_name = Dial::to("localhost:6379")?.timeout(Duration::from_secs(2));
/// let failover = Dial::to("10.0.0.1:7000")?.or("10.0.0.2:7000")?;
/// assert_eq!(failover.targets(), 2);
/// # let _ = (direct, by_name);
/// # Ok::<(), weft::Error>(())
/// ```
#[derive(Clone)]
pub struct Dial {
    pub(crate) targets: Vec<Target>,
    pub(crate) timeout: Duration,
    pub(crate) preamble: Option<Bytes>,
    /// TLS over the connection, and the name the server must prove.
    pub(crate) tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl fmt::Debug for Dial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dial")
            .field("targets", &self.targets)
            .field("timeout", &self.timeout)
            .field("preamble", &self.preamble.as_ref().map(Bytes::len))
            .field("tls", &self.tls.as_ref().map(|(_, name)| name))
            .finish()
    }
}

impl Dial {
    fn with(target: Target) -> Dial {
        Dial {
            targets: vec![target],
            timeout: DEFAULT_CONNECT_TIMEOUT,
            preamble: None,
            tls: None,
        }
    }

    /// Connects to `addr`.
    pub fn addr(addr: SocketAddr) -> Dial {
        Dial::with(Target::Addr(addr))
    }

    /// Connects to the first of `addrs` that answers, in order. An empty list fails every
    /// dial with [`ConnectErrorKind::NoAddress`].
    pub fn addrs(addrs: impl IntoIterator<Item = SocketAddr>) -> Dial {
        Dial {
            targets: addrs.into_iter().map(Target::Addr).collect(),
            timeout: DEFAULT_CONNECT_TIMEOUT,
            preamble: None,
            tls: None,
        }
    }

    /// Connects to `host` (a name, looked up on the worker pool when the dial starts, or
    /// an IP address) on `port`.
    pub fn host(host: impl Into<String>, port: u16) -> Dial {
        let host = host.into();
        match host.parse::<std::net::IpAddr>() {
            Ok(ip) => Dial::addr(SocketAddr::new(ip, port)),
            Err(_) => Dial::with(Target::Host(host, port)),
        }
    }

    /// Parses `HOST:PORT` (`127.0.0.1:7000`, `[::1]:7000`, `redis.internal:6379`). Fails
    /// with a configuration error naming the text when it has no port.
    pub fn to(target: &str) -> Result<Dial, crate::Error> {
        Ok(Dial::with(parse_target(target)?))
    }

    /// Adds a further target, tried if the ones before it fail.
    pub fn or(mut self, target: &str) -> Result<Dial, crate::Error> {
        self.targets.push(parse_target(target)?);
        Ok(self)
    }

    /// Adds the targets of `other` after these (its timeout and preamble are not taken).
    pub fn or_dial(mut self, other: &Dial) -> Dial {
        self.targets.extend(other.targets.iter().cloned());
        self
    }

    /// Adds a further address, tried if the ones before it fail.
    pub fn or_addr(mut self, addr: SocketAddr) -> Dial {
        self.targets.push(Target::Addr(addr));
        self
    }

    /// How long each attempt may take (default [`DEFAULT_CONNECT_TIMEOUT`]); at least 1 ms.
    pub fn timeout(mut self, timeout: Duration) -> Dial {
        self.timeout = timeout.clamp(Duration::from_millis(1), crate::config::MAX_TIMEOUT);
        self
    }

    /// Bytes sent first on the new connection, as soon as it is up and before anything
    /// else (a PROXY protocol header, a protocol greeting). They count against its output
    /// limit like any other output.
    pub fn preamble(mut self, bytes: Bytes) -> Dial {
        self.preamble = Some(bytes);
        self
    }

    /// Speaks TLS over the connection, as a client of `connector`, verifying that the
    /// server's certificate is valid for `server_name` (a DNS name, sent as SNI, or an IP
    /// address). The handshake follows the TCP connect: the dial's caller hears of the
    /// connection once TCP is up, the pipeline's `on_active` comes once the handshake is
    /// complete, and a failed handshake (or one longer than the server's
    /// [`tls_handshake_timeout`](crate::ServerBuilder::tls_handshake_timeout)) closes it as
    /// [`CloseReason::TlsHandshake`](crate::CloseReason::TlsHandshake). A
    /// [`preamble`](Dial::preamble) is sent in the clear, before the handshake (a PROXY
    /// header). Fails with a configuration error if `server_name` is neither a DNS name nor
    /// an IP address.
    pub fn tls(
        mut self,
        connector: &TlsConnector,
        server_name: &str,
    ) -> Result<Dial, crate::Error> {
        self.tls = Some((connector.clone(), crate::tls::server_name(server_name)?));
        Ok(self)
    }

    /// How many targets the dial will try (a host name counts once, whatever it resolves
    /// to).
    pub fn targets(&self) -> usize {
        self.targets.len()
    }
}

fn parse_target(text: &str) -> Result<Target, crate::Error> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(Target::Addr(addr));
    }
    let bad = || crate::Error::config(format!("{text:?} is not HOST:PORT"));
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || host.contains(':') {
        return Err(bad());
    }
    Ok(Target::Host(host.to_string(), port))
}

/// Why a dial failed: the kind of the last attempt's failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectErrorKind {
    /// The peer refused the connection (nothing listens there).
    Refused,
    /// No answer within the dial's timeout.
    TimedOut,
    /// No route to the host or network.
    Unreachable,
    /// A host name could not be looked up.
    Resolve,
    /// The dial had no address to try (an empty list, or a name with no addresses).
    NoAddress,
    /// The server is shutting down, or the reactor cannot take the dial.
    Stopped,
    /// Any other I/O error.
    Other,
}

/// A dial that failed: every target was tried. Says what went wrong with the last one.
#[derive(Debug)]
pub struct ConnectError {
    kind: ConnectErrorKind,
    target: Option<String>,
    source: Option<io::Error>,
}

impl ConnectError {
    pub(crate) fn new(kind: ConnectErrorKind, target: Option<String>) -> Self {
        ConnectError {
            kind,
            target,
            source: None,
        }
    }

    pub(crate) fn io(err: io::Error, target: Option<String>) -> Self {
        let kind = match err.kind() {
            io::ErrorKind::ConnectionRefused => ConnectErrorKind::Refused,
            io::ErrorKind::TimedOut => ConnectErrorKind::TimedOut,
            io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
                ConnectErrorKind::Unreachable
            }
            _ => match err.raw_os_error() {
                Some(libc_code) if libc_code == 113 || libc_code == 101 => {
                    ConnectErrorKind::Unreachable // EHOSTUNREACH, ENETUNREACH
                }
                _ => ConnectErrorKind::Other,
            },
        };
        ConnectError {
            kind,
            target,
            source: Some(err),
        }
    }

    pub(crate) fn resolve(err: io::Error, target: Option<String>) -> Self {
        ConnectError {
            kind: ConnectErrorKind::Resolve,
            target,
            source: Some(err),
        }
    }

    /// What kind of failure ended the dial.
    pub fn kind(&self) -> ConnectErrorKind {
        self.kind
    }

    /// The target of the last attempt (`HOST:PORT`), when there was one.
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ConnectErrorKind::Refused => "connection refused",
            ConnectErrorKind::TimedOut => "connect timed out",
            ConnectErrorKind::Unreachable => "unreachable",
            ConnectErrorKind::Resolve => "name lookup failed",
            ConnectErrorKind::NoAddress => "no address to connect to",
            ConnectErrorKind::Stopped => "the server is stopping",
            ConnectErrorKind::Other => "connect failed",
        };
        match &self.target {
            Some(target) => write!(f, "{what} ({target})")?,
            None => write!(f, "{what}")?,
        }
        match &self.source {
            Some(source)
                if matches!(
                    self.kind,
                    ConnectErrorKind::Other | ConnectErrorKind::Resolve
                ) =>
            {
                write!(f, ": {source}")
            }
            _ => Ok(()),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A dialled connection that is up: its pipeline's `on_active` has run.
#[derive(Debug, Clone)]
pub struct Connected {
    pub(crate) id: ConnectionId,
    pub(crate) peer: SocketAddr,
    pub(crate) reactor: usize,
    pub(crate) handle: ConnectionHandle,
}

impl Connected {
    /// The new connection's id.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// The address it connected to (the target that answered).
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The reactor it lives on.
    pub fn reactor_index(&self) -> usize {
        self.reactor
    }

    /// A handle to write to or close it from anywhere.
    pub fn handle(&self) -> &ConnectionHandle {
        &self.handle
    }

    /// The handle, by value.
    pub fn into_handle(self) -> ConnectionHandle {
        self.handle
    }
}

/// Makes the seeds of back-offs created at the same instant differ.
static SEEDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Exponential back-off with jitter and a cap, for links that reconnect: each
/// [`next_delay`](Backoff::next_delay) doubles the base delay up to the cap and returns a
/// random delay in its upper half ("equal jitter"), so that many clients that lost the same
/// server do not come back in step; [`reset`](Backoff::reset) after a success starts over.
///
/// ```
/// use std::time::Duration;
/// use weft::Backoff;
///
/// let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
/// let first = backoff.next_delay();
/// assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
/// for _ in 0..20 {
///     assert!(backoff.next_delay() <= Duration::from_secs(5)); // never past the cap
/// }
/// backoff.reset(); // connected: the next failure waits briefly again
/// assert!(backoff.next_delay() <= Duration::from_millis(100));
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
    seed: u64,
}

impl Backoff {
    /// A back-off starting at `initial` (at least 1 ms) and never waiting more than `max`.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        let initial = initial.max(Duration::from_millis(1));
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
            ^ SEEDS.fetch_add(0x9E37_79B9_7F4A_7C15, std::sync::atomic::Ordering::Relaxed);
        Backoff {
            initial,
            max: max.max(initial),
            attempt: 0,
            seed: seed | 1,
        }
    }

    /// The delay before the next attempt (and counts the attempt).
    pub fn next_delay(&mut self) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32 << self.attempt.min(30))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        // xorshift64*: jitter needs no cryptographic quality.
        self.seed ^= self.seed >> 12;
        self.seed ^= self.seed << 25;
        self.seed ^= self.seed >> 27;
        let random = self.seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let half = base / 2;
        let spread = (base - half).as_nanos() as u64;
        let extra = if spread == 0 {
            0
        } else {
            random % (spread + 1)
        };
        half + Duration::from_nanos(extra)
    }

    /// Attempts counted since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Starts over (after a successful connection).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_as_addresses_or_names() {
        assert_eq!(
            parse_target("127.0.0.1:7000").unwrap(),
            Target::Addr("127.0.0.1:7000".parse().unwrap())
        );
        assert_eq!(
            parse_target("[::1]:7000").unwrap(),
            Target::Addr("[::1]:7000".parse().unwrap())
        );
        assert_eq!(
            parse_target("redis.internal:6379").unwrap(),
            Target::Host("redis.internal".into(), 6379)
        );
        for bad in ["", "host", "host:", ":80", "host:99999", "::1:80x"] {
            assert!(parse_target(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            Dial::host("127.0.0.1", 80).targets,
            vec![Target::Addr("127.0.0.1:80".parse().unwrap())]
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let mut seen = Vec::new();
        for attempt in 0..8u32 {
            let base =
                Duration::from_millis(100 * (1 << attempt.min(4))).min(Duration::from_secs(1));
            let d = b.next_delay();
            assert!(
                d >= base / 2 && d <= base,
                "attempt {attempt}: {d:?} outside {base:?}"
            );
            seen.push(d);
        }
        assert!(seen.windows(2).any(|w| w[0] != w[1]));
        assert_eq!(b.attempts(), 8);
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
