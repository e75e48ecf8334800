//! Configuration values: what a server is built with (shared read-only by its threads),
//! and the public value types its knobs take.

use std::net::SocketAddr;
use std::time::Duration;

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

/// The default hard limit on one connection's queued output: 16 MiB.
pub(crate) const DEFAULT_OUTPUT_LIMIT: usize = 16 << 20;

/// The longest timeout or delay weft accepts (about 100 years): anything longer is surely a
/// mistake, and every deadline `now + timeout` stays representable.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `now + delay`, with `delay` capped at [`MAX_TIMEOUT`], so that no user-supplied delay can
/// overflow an `Instant`.
pub(crate) fn deadline_after(now: std::time::Instant, delay: Duration) -> std::time::Instant {
    let delay = delay.min(MAX_TIMEOUT);
    now.checked_add(delay)
        .unwrap_or(now + Duration::from_secs(365 * 24 * 3600))
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
