//! # weft-loadgen
//!
//! A load generator for any line-echo server: the client sends lines (bytes up to and
//! including `\n`) and the server must write every complete line back, byte for byte and in
//! order. It is built on `mio`: each client thread runs one poll loop that drives many
//! non-blocking connections, with all buffers allocated up front (nothing is allocated per
//! message).
//!
//! ## Modes
//!
//! **`--mode echo`** (the default). Every connection keeps `--depth` lines in flight
//! (pipelining): as soon as an echo completes, the next line is sent. Each line is
//! `--size` bytes including its `\n`, laid out as
//!
//! ```text
//! s<seq: 12 hex digits>c<connection id: 8 hex digits><space><fill pattern ...>\n
//! ```
//!
//! where the fill pattern is printable and depends on the sequence number, the connection
//! id and the position. Every echoed byte is compared with the line the generator expects
//! next on that connection, so lost, duplicated, reordered, truncated, corrupted or
//! cross-connection data is detected; a mismatch aborts the run with a message naming the
//! connection, the sequence number and the byte offset, and the process exits with status 1.
//! Lines shorter than 24 bytes carry a truncated header (the sequence number is complete
//! from 14 bytes up); they are still compared byte for byte.
//!
//! Latency is measured per message, from the moment the line is queued for sending (it is
//! written to the socket right away unless the socket is full) to the moment its last byte
//! is read back, and recorded in an HDR histogram (1 ns .. 60 s, 3 significant digits).
//!
//! The run is: connect everything, `--warmup` seconds that are not counted, then the
//! measured phase, which is either
//! * `--duration SECS`: lines whose echo completes inside the window count; afterwards
//!   no new lines are sent and the in-flight ones are drained (and verified) for at most
//!   5 seconds, or
//! * `--messages N`: `N` lines in total, split evenly over the connections, all sent after
//!   the warmup; the phase ends when the last of them has been echoed.
//!
//! With neither, `--duration 5` is used.
//!
//! **`--mode idle`**. Opens `--connections` connections and holds them without sending
//! (unless `--idle-ping`), to measure the server's memory per idle connection. Requires
//! `--server-pid`. The server's RSS (`VmRSS` in `/proc/PID/status`) is read before the
//! connections are opened and again after they all are open, the server has accepted them
//! (its count of open file descriptors in `/proc/PID/fd` has grown by that many, waited for
//! at most `--settle-timeout` seconds) and `--settle` more seconds have passed. The
//! connections use source addresses 127.0.0.1, 127.0.0.2, ... (bound before connecting),
//! moving to the next address every `--conns-per-source` (20,000) connections, so more
//! connections can be opened than one source address has ephemeral ports; this only happens
//! when the target is an IPv4 address and more connections are asked for than that. At the
//! end the connections are closed with a reset (`SO_LINGER` 0), which leaves no `TIME_WAIT`
//! behind to slow down the next run's connects; the server sees `ECONNRESET`. The RSS is
//! read once more after closing (`rss_closed_kib`), to show what the server gave back.
//! `slow_connects` counts connects that took over 200 ms: on loopback that means a SYN was
//! retransmitted because the server's listen backlog was full (it accepted slower than the
//! generator connected), which makes `connect_s` large but does not affect the RSS figure.
//!
//! ## Flags
//!
//! | flag | default | meaning |
//! | --- | --- | --- |
//! | `--addr HOST:PORT` | required | the server |
//! | `--mode echo\|idle` | `echo` | see above |
//! | `-c, --connections C` | 64 | connections, spread round-robin over the threads |
//! | `-d, --depth D` | 1 | lines in flight per connection (echo) |
//! | `-s, --size S` | 64 | bytes per line including `\n`, at least 2 (echo) |
//! | `--duration SECS` | 5 | measured time (echo); excludes `--messages` |
//! | `--messages N` | | measured lines in total (echo) |
//! | `--warmup SECS` | 1 | unmeasured time before the measured phase (echo) |
//! | `-t, --threads T` | 1 | client threads, each with its own poll |
//! | `--pin-cpu N[,M...]` | | pin client thread `i` to CPU `list[i % len]` (`core_affinity`) |
//! | `--server-pid PID` | | read the server's CPU time (echo) or RSS (idle) from `/proc` |
//! | `--json` | off | also print one JSON line with the results on stdout, last |
//! | `--connect-timeout SECS` | 5 | bound on each connect |
//! | `--timeout SECS` | see below | overall deadline; exceeding it is an error |
//! | `--idle-ping` | off | idle: send `p\n` on each connection and await its echo first |
//! | `--settle SECS` | 1 | idle: wait after all connections are accepted |
//! | `--settle-timeout SECS` | 30 | idle: bound on waiting for the server to accept |
//! | `--conns-per-source N` | 20000 | source address changes every N connections |
//!
//! The default overall deadline is warmup + duration + 30 s in duration mode, and 300 s
//! otherwise. The soft `RLIMIT_NOFILE` is raised to the hard limit at start.
//!
//! ## Output
//!
//! A human summary goes to stderr. With `--json`, the last thing printed is one JSON line on
//! stdout. Echo mode:
//!
//! ```text
//! {"mode":"echo","addr":"127.0.0.1:7000","connections":64,"depth":16,"size":64,
//!  "threads":1,"elapsed_s":3.000,"messages":1234567,"msgs_per_s":411522.3,
//!  "mib_per_s":25.118,"latency_us":{"p50":..,"p99":..,"p999":..,"max":..,"mean":..},
//!  "server_cpu":{"user_s":..,"sys_s":..,"wall_s":..,"cpu_us_per_msg":..},
//!  "client_cpu":{"user_s":..,"sys_s":..,"wall_s":..}}
//! ```
//!
//! (on one line; `server_cpu` is `null` without `--server-pid`; `client_cpu` is the load
//! generator's own CPU time over the same interval, to tell whether it was the bottleneck).
//! `elapsed_s` is the measured duration, or in message mode the time from the end of the
//! warmup to the last echo. `mib_per_s` counts the
//! echoed bytes in one direction (`msgs_per_s * size / 2^20`). CPU times come from
//! `utime`/`stime` in `/proc/PID/stat`, which tick at `sysconf(_SC_CLK_TCK)` (usually
//! 100 Hz), so short runs have coarse CPU figures. Idle mode:
//!
//! ```text
//! {"mode":"idle","addr":..,"connections":..,"idle_ping":..,"connect_s":..,
//!  "slow_connects":..,"rss_before_kib":..,
//!  "rss_after_kib":..,"rss_closed_kib":..,"fds_before":..,"fds_after":..,
//!  "rss_bytes_per_conn":..}
//! ```
//!
//! Exit status: 0 on success, 1 on a verification failure or any other runtime error
//! (each printed to stderr as `error: ...`), 2 for bad flags.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream as StdTcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Barrier, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Pipelined, verified echo traffic.
    Echo,
    /// Open connections, hold them, measure server RSS growth.
    Idle,
}

/// Load generator for line-echo servers (see the crate docs for details).
#[derive(Parser, Debug)]
#[command(name = "weft-loadgen", version)]
struct Args {
    /// Server address, HOST:PORT.
    #[arg(long)]
    addr: String,
    /// What to do.
    #[arg(long, value_enum, default_value_t = Mode::Echo)]
    mode: Mode,
    /// Number of connections.
    #[arg(long, short = 'c', default_value_t = 64)]
    connections: usize,
    /// Lines in flight per connection.
    #[arg(long, short = 'd', default_value_t = 1)]
    depth: usize,
    /// Line size in bytes, including the `\n`.
    #[arg(long, short = 's', default_value_t = 64)]
    size: usize,
    /// Measured seconds (default 5 when --messages is not given).
    #[arg(long, conflicts_with = "messages")]
    duration: Option<f64>,
    /// Measured lines in total, over all connections.
    #[arg(long)]
    messages: Option<u64>,
    /// Unmeasured seconds before the measurement.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// PID of the server, to read its CPU time (echo) or RSS (idle).
    #[arg(long)]
    server_pid: Option<i32>,
    /// Print one JSON line with the results on stdout.
    #[arg(long)]
    json: bool,
    /// Client threads.
    #[arg(long, short = 't', default_value_t = 1)]
    threads: usize,
    /// Pin client thread i to CPU list[i % len].
    #[arg(long, value_delimiter = ',')]
    pin_cpu: Vec<usize>,
    /// Seconds allowed for each connect.
    #[arg(long, default_value_t = 5.0)]
    connect_timeout: f64,
    /// Overall deadline in seconds.
    #[arg(long)]
    timeout: Option<f64>,
    /// Idle mode: send one line per connection and wait for its echo before measuring.
    #[arg(long)]
    idle_ping: bool,
    /// Idle mode: seconds to wait after the server has accepted every connection.
    #[arg(long, default_value_t = 1.0)]
    settle: f64,
    /// Idle mode: seconds to wait at most for the server to accept every connection.
    #[arg(long, default_value_t = 30.0)]
    settle_timeout: f64,
    /// Switch to the next source address (127.0.0.x) every N connections.
    #[arg(long, default_value_t = 20_000)]
    conns_per_source: usize,
}

/// A runtime failure; printed as `error: ...`.
type Fail = String;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> Result<(), Fail> {
    let addr = args
        .addr
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve --addr {}: {e}", args.addr))?
        .next()
        .ok_or_else(|| format!("--addr {} resolves to nothing", args.addr))?;
    check_args(&args)?;
    let nofile = raise_nofile_limit();
    if let Some(limit) = nofile {
        if (args.connections as u64).saturating_add(16) > limit {
            return Err(format!(
                "{} connections need more file descriptors than RLIMIT_NOFILE allows ({limit})",
                args.connections
            ));
        }
    }
    match args.mode {
        Mode::Echo => run_echo(&args, addr),
        Mode::Idle => run_idle(&args, addr),
    }
}

fn check_args(args: &Args) -> Result<(), Fail> {
    let positive = |name: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(format!("{name} must be a positive number of seconds"))
        }
    };
    if args.connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    if args.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    if args.conns_per_source == 0 {
        return Err("--conns-per-source must be at least 1".into());
    }
    positive("--connect-timeout", args.connect_timeout)?;
    if let Some(t) = args.timeout {
        positive("--timeout", t)?;
    }
    if !(args.settle.is_finite() && args.settle >= 0.0) {
        return Err("--settle must be a non-negative number of seconds".into());
    }
    positive("--settle-timeout", args.settle_timeout)?;
    if args.mode == Mode::Echo {
        if args.depth == 0 {
            return Err("--depth must be at least 1".into());
        }
        if args.size < 2 {
            return Err("--size must be at least 2 (one byte and the newline)".into());
        }
        if let Some(d) = args.duration {
            positive("--duration", d)?;
        }
        if !(args.warmup.is_finite() && args.warmup >= 0.0) {
            return Err("--warmup must be a non-negative number of seconds".into());
        }
        if args.messages == Some(0) {
            return Err("--messages must be at least 1".into());
        }
    }
    if args.connections > u32::MAX as usize {
        return Err("--connections is too large".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// System helpers: rlimit, /proc, connecting.
// ---------------------------------------------------------------------------------------

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit now in force.
fn raise_nofile_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for getrlimit to fill in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit that setrlimit only reads.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    Some(lim.rlim_cur)
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// User and system CPU seconds of a process, from `/proc/PID/stat`.
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    user_s: f64,
    sys_s: f64,
    at: Instant,
}

fn read_cpu(pid: i32) -> Result<CpuSample, Fail> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    // The command name (field 2) is in parentheses and may contain spaces; fields after
    // the last ')' start with field 3 (state). utime and stime are fields 14 and 15.
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| format!("unexpected format of {path}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> Result<u64, Fail> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("unexpected format of {path}"))
    };
    let tck = clock_ticks_per_sec();
    Ok(CpuSample {
        user_s: field(14 - 3)? as f64 / tck,
        sys_s: field(15 - 3)? as f64 / tck,
        at: Instant::now(),
    })
}

/// Resident set size of a process in KiB, from `VmRSS` in `/proc/PID/status`.
fn read_rss_kib(pid: i32) -> Result<u64, Fail> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no VmRSS in {path}"))
}

/// Number of open file descriptors of a process.
fn count_fds(pid: i32) -> Result<usize, Fail> {
    let path = format!("/proc/{pid}/fd");
    Ok(std::fs::read_dir(&path)
        .map_err(|e| format!("reading {path}: {e}"))?
        .count())
}

/// The source address for connection `index`, if connections must be spread over several.
fn source_for(args: &Args, addr: SocketAddr, index: usize) -> Option<IpAddr> {
    if !addr.is_ipv4() || args.connections <= args.conns_per_source {
        return None;
    }
    let step = (index / args.conns_per_source) as u32;
    Some(IpAddr::V4(Ipv4Addr::from(
        u32::from(Ipv4Addr::new(127, 0, 0, 1)) + step,
    )))
}

fn connect_one(
    addr: SocketAddr,
    source: Option<IpAddr>,
    timeout: Duration,
) -> io::Result<StdTcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if let Some(ip) = source {
        socket.bind(&SockAddr::from(SocketAddr::new(ip, 0)))?;
    }
    socket.connect_timeout(&SockAddr::from(addr), timeout)?;
    socket.set_tcp_nodelay(true)?;
    Ok(socket.into())
}

fn pin(args: &Args, thread_index: usize) {
    if args.pin_cpu.is_empty() {
        return;
    }
    let cpu = args.pin_cpu[thread_index % args.pin_cpu.len()];
    if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        eprintln!("warning: could not pin client thread {thread_index} to CPU {cpu}");
    }
}

// ---------------------------------------------------------------------------------------
// Line layout.
// ---------------------------------------------------------------------------------------

/// `s` + 12 hex digits of sequence number + `c` + 8 hex digits of connection id + space.
const HEADER_LEN: usize = 23;
/// The fill alphabet; its length is the period of the fill pattern.
const FILL_ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The fill alphabet repeated to cover any start offset plus a full line.
fn fill_pattern(size: usize) -> Vec<u8> {
    FILL_ALPHABET
        .iter()
        .copied()
        .cycle()
        .take(FILL_ALPHABET.len() + size)
        .collect()
}

fn put_hex(out: &mut [u8], mut v: u64) {
    for b in out.iter_mut().rev() {
        *b = b"0123456789abcdef"[(v & 0xf) as usize];
        v >>= 4;
    }
}

/// Appends line `seq` of connection `conn` (exactly `size` bytes, ending in `\n`) to `out`.
fn push_line(out: &mut Vec<u8>, conn: u32, seq: u64, size: usize, pattern: &[u8]) {
    let mut header = [0u8; HEADER_LEN];
    header[0] = b's';
    put_hex(&mut header[1..13], seq);
    header[13] = b'c';
    put_hex(&mut header[14..22], u64::from(conn));
    header[22] = b' ';
    let body = size - 1;
    out.extend_from_slice(&header[..body.min(HEADER_LEN)]);
    if body > HEADER_LEN {
        let start = (seq
            .wrapping_mul(7)
            .wrapping_add(u64::from(conn).wrapping_mul(13))
            % FILL_ALPHABET.len() as u64) as usize;
        out.extend_from_slice(&pattern[start..start + body - HEADER_LEN]);
    }
    out.push(b'\n');
}

/// Reads back the header of a line, if it has one.
fn parse_header(line: &[u8]) -> Option<(u64, u32)> {
    if line.len() < HEADER_LEN || line[0] != b's' || line[13] != b'c' {
        return None;
    }
    let hex = |s: &[u8]| u64::from_str_radix(std::str::from_utf8(s).ok()?, 16).ok();
    Some((hex(&line[1..13])?, u32::try_from(hex(&line[14..22])?).ok()?))
}

/// Up to 80 bytes of `data` for an error message, escaped.
fn snippet(data: &[u8]) -> String {
    let mut s = String::new();
    for &b in data.iter().take(80) {
        let _ = write!(s, "{}", std::ascii::escape_default(b));
    }
    if data.len() > 80 {
        s.push_str("...");
    }
    s
}

// ---------------------------------------------------------------------------------------
// Echo mode.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Plan {
    Duration(Duration),
    Messages(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Warmup,
    Measure,
    Drain,
}

/// What an echo worker reports back.
#[derive(Debug)]
struct WorkerResult {
    hist: Histogram<u64>,
    messages: u64,
    /// Nanoseconds since the common start of the last counted echo.
    last_counted_ns: u64,
}

struct Conn {
    id: u32,
    stream: TcpStream,
    /// Bytes queued for sending; `wbuf[wpos..]` is not yet written.
    wbuf: Vec<u8>,
    wpos: usize,
    /// The line expected next, and how much of it has been received.
    expect: Vec<u8>,
    eoff: usize,
    /// Next sequence number to send / to receive.
    sent: u64,
    recvd: u64,
    /// Send time (ns since start) of line `seq`, at `seq % depth`.
    sent_at: Vec<u64>,
    /// First sequence number of the measured phase (`u64::MAX` before it).
    measure_from: u64,
    /// Lines to send in the measured phase (message mode).
    quota: u64,
    done: bool,
}

/// Shared, read-only settings of an echo run.
struct EchoCfg {
    size: usize,
    depth: usize,
    plan: Plan,
    pattern: Vec<u8>,
}

impl Conn {
    fn in_flight(&self) -> usize {
        (self.sent - self.recvd) as usize
    }

    /// Queues new lines while the window and the quota allow.
    fn refill(&mut self, cfg: &EchoCfg, phase: Phase, now_ns: u64) {
        if phase == Phase::Drain {
            return;
        }
        if self.wpos > 0 {
            self.wbuf.drain(..self.wpos);
            self.wpos = 0;
        }
        while self.in_flight() < cfg.depth {
            if self.measure_from != u64::MAX && self.sent - self.measure_from >= self.quota {
                break;
            }
            push_line(&mut self.wbuf, self.id, self.sent, cfg.size, &cfg.pattern);
            self.sent_at[(self.sent % cfg.depth as u64) as usize] = now_ns;
            self.sent += 1;
        }
    }

    /// Writes queued bytes until done or the socket is full.
    fn flush(&mut self) -> Result<(), Fail> {
        while self.wpos < self.wbuf.len() {
            match self.stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(format!("connection {}: write returned 0", self.id)),
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("connection {}: write failed: {e}", self.id)),
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        Ok(())
    }

    /// Checks received bytes against the expected lines and records completed ones.
    fn on_data(
        &mut self,
        mut data: &[u8],
        cfg: &EchoCfg,
        phase: Phase,
        now_ns: u64,
        stats: &mut WorkerResult,
    ) -> Result<(), Fail> {
        while !data.is_empty() {
            if self.recvd == self.sent {
                return Err(format!(
                    "connection {}: received {} bytes that were never sent (after line {}): \"{}\"",
                    self.id,
                    data.len(),
                    self.recvd,
                    snippet(data)
                ));
            }
            if self.eoff == 0 {
                self.expect.clear();
                push_line(
                    &mut self.expect,
                    self.id,
                    self.recvd,
                    cfg.size,
                    &cfg.pattern,
                );
            }
            let n = (cfg.size - self.eoff).min(data.len());
            let want = &self.expect[self.eoff..self.eoff + n];
            if &data[..n] != want {
                return Err(self.mismatch(data, n));
            }
            self.eoff += n;
            data = &data[n..];
            if self.eoff == cfg.size {
                self.eoff = 0;
                let seq = self.recvd;
                self.recvd += 1;
                let counted = match cfg.plan {
                    Plan::Duration(_) => phase == Phase::Measure,
                    Plan::Messages(_) => seq >= self.measure_from,
                };
                if counted {
                    let sent_at = self.sent_at[(seq % cfg.depth as u64) as usize];
                    stats
                        .hist
                        .saturating_record(now_ns.saturating_sub(sent_at).max(1));
                    stats.messages += 1;
                    stats.last_counted_ns = stats.last_counted_ns.max(now_ns);
                }
            }
        }
        Ok(())
    }

    /// Describes the first differing byte among `data[..n]` and the expected line.
    fn mismatch(&self, data: &[u8], n: usize) -> Fail {
        let want = &self.expect[self.eoff..self.eoff + n];
        let i = data[..n]
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        // What the server sent for this line so far: the part that matched earlier, then
        // the new bytes up to and including a newline.
        let mut got = self.expect[..self.eoff].to_vec();
        let tail = match data.iter().position(|&b| b == b'\n') {
            Some(nl) => &data[..=nl],
            None => data,
        };
        got.extend_from_slice(&tail[..tail.len().min(200)]);
        let mut msg = format!(
            "echo mismatch on connection {} at line seq {} byte {}: expected 0x{:02x} {:?}, got 0x{:02x} {:?}\n  expected line: \"{}\"\n  received:      \"{}\"",
            self.id,
            self.recvd,
            self.eoff + i,
            want[i],
            want[i] as char,
            data[i],
            data[i] as char,
            snippet(&self.expect),
            snippet(&got)
        );
        if got.starts_with(b"ERR") {
            msg.push_str("\n  (the server answered with an error line)");
        } else if let Some((seq, conn)) = parse_header(&got) {
            if conn != self.id || seq != self.recvd {
                let _ = write!(
                    msg,
                    "\n  (the received line's header reads connection {conn}, seq {seq}: a lost, duplicated, reordered or crossed line, or a corrupted header)"
                );
            }
        }
        msg
    }

    fn is_finished(&self, plan: Plan, phase: Phase) -> bool {
        match plan {
            Plan::Duration(_) => phase == Phase::Drain && self.recvd == self.sent,
            Plan::Messages(_) => {
                self.measure_from != u64::MAX && self.recvd == self.measure_from + self.quota
            }
        }
    }
}

/// Time limits of a run, relative to the common start.
#[derive(Debug, Clone, Copy)]
struct Timing {
    warmup: Duration,
    /// End of the measured window (duration mode).
    measure_end: Option<Duration>,
    /// Bound on draining after the measured window.
    drain: Duration,
    deadline: Duration,
}

enum Report {
    Connected(Result<(), Fail>),
    Finished(Result<WorkerResult, Fail>),
}

#[allow(clippy::too_many_arguments)]
fn echo_worker(
    args: &Args,
    addr: SocketAddr,
    index: usize,
    conn_ids: Vec<usize>,
    cfg: Arc<EchoCfg>,
    timing: Timing,
    barrier: Arc<Barrier>,
    start: Arc<OnceLock<Instant>>,
    abort: Arc<AtomicBool>,
    release: Arc<AtomicBool>,
    reports: mpsc::Sender<Report>,
) {
    pin(args, index);
    let total = args.connections as u64;
    let connect_timeout = Duration::from_secs_f64(args.connect_timeout);
    let connect_deadline = Instant::now() + timing.deadline;
    let connected = (|| -> Result<(Poll, Vec<Conn>), Fail> {
        let poll = Poll::new().map_err(|e| format!("creating poll: {e}"))?;
        let mut conns = Vec::with_capacity(conn_ids.len());
        for (slot, &id) in conn_ids.iter().enumerate() {
            if abort.load(Ordering::Relaxed) {
                return Err("aborted".into());
            }
            if Instant::now() >= connect_deadline {
                return Err(format!(
                    "overall deadline exceeded while connecting ({slot} of {} connections open in one thread)",
                    conn_ids.len()
                ));
            }
            let std_stream = connect_one(addr, source_for(args, addr, id), connect_timeout)
                .map_err(|e| format!("connection {id}: connect to {addr}: {e}"))?;
            std_stream
                .set_nonblocking(true)
                .map_err(|e| format!("set_nonblocking: {e}"))?;
            let mut stream = TcpStream::from_std(std_stream);
            poll.registry()
                .register(
                    &mut stream,
                    Token(slot),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| format!("registering connection {id}: {e}"))?;
            let quota = match cfg.plan {
                Plan::Duration(_) => u64::MAX,
                Plan::Messages(n) => n / total + u64::from((id as u64) < n % total),
            };
            conns.push(Conn {
                id: id as u32,
                stream,
                wbuf: Vec::with_capacity(cfg.depth * cfg.size),
                wpos: 0,
                expect: Vec::with_capacity(cfg.size),
                eoff: 0,
                sent: 0,
                recvd: 0,
                sent_at: vec![0; cfg.depth],
                measure_from: u64::MAX,
                quota,
                done: false,
            });
        }
        Ok((poll, conns))
    })();
    let (poll, conns) = match connected {
        Ok(v) => {
            let _ = reports.send(Report::Connected(Ok(())));
            v
        }
        Err(e) => {
            let _ = reports.send(Report::Connected(Err(e)));
            barrier.wait();
            return;
        }
    };
    barrier.wait();
    let start = *start.get_or_init(Instant::now);
    if abort.load(Ordering::Relaxed) {
        return;
    }
    let result = echo_loop(poll, conns, &cfg, timing, start, &abort);
    let failed = result.is_err();
    let _ = reports.send(Report::Finished(result));
    if failed {
        return;
    }
    // Hold the connections until the main thread has taken its final samples.
    let hold_until = start + timing.deadline;
    while !release.load(Ordering::Relaxed)
        && !abort.load(Ordering::Relaxed)
        && Instant::now() < hold_until
    {
        thread::sleep(Duration::from_millis(1));
    }
}

fn echo_loop(
    mut poll: Poll,
    mut conns: Vec<Conn>,
    cfg: &EchoCfg,
    timing: Timing,
    start: Instant,
    abort: &AtomicBool,
) -> Result<WorkerResult, Fail> {
    let mut stats = WorkerResult {
        hist: Histogram::new_with_bounds(1, 60_000_000_000, 3)
            .map_err(|e| format!("histogram: {e}"))?,
        messages: 0,
        last_counted_ns: 0,
    };
    let mut events = Events::with_capacity(1024);
    let mut rbuf = vec![0u8; 256 * 1024];
    let ns = |t: Instant| t.duration_since(start).as_nanos() as u64;

    // A zero warmup switches to Measure on the first iteration.
    let mut phase = Phase::Warmup;
    let mut finished = 0usize;
    let mut started = false;

    loop {
        if abort.load(Ordering::Relaxed) {
            return Err("aborted".into());
        }
        let now = Instant::now();
        let elapsed = now.duration_since(start);
        let mut transition = false;
        if phase == Phase::Warmup && elapsed >= timing.warmup {
            phase = Phase::Measure;
            transition = true;
            for c in &mut conns {
                c.measure_from = c.sent;
            }
        }
        if phase == Phase::Measure && timing.measure_end.is_some_and(|end| elapsed >= end) {
            phase = Phase::Drain;
            transition = true;
        }
        if transition || !started {
            // Phase changes can finish connections (or make them able to send) without any
            // I/O; re-check every connection.
            for c in &mut conns {
                if !c.done && c.is_finished(cfg.plan, phase) {
                    c.done = true;
                    finished += 1;
                }
                if !c.done {
                    c.refill(cfg, phase, ns(Instant::now()));
                    c.flush()?;
                }
            }
            started = true;
        }
        if finished == conns.len() {
            return Ok(stats);
        }
        if elapsed >= timing.deadline {
            let outstanding: u64 = conns.iter().map(|c| c.sent - c.recvd).sum();
            return Err(format!(
                "overall deadline ({:.1}s) exceeded with {outstanding} lines unanswered",
                timing.deadline.as_secs_f64()
            ));
        }
        if let Some(end) = timing.measure_end {
            if phase == Phase::Drain && elapsed >= end + timing.drain {
                let outstanding: u64 = conns.iter().map(|c| c.sent - c.recvd).sum();
                return Err(format!(
                    "{outstanding} lines still unanswered {:.1}s after the end of the run",
                    timing.drain.as_secs_f64()
                ));
            }
        }

        match poll.poll(&mut events, Some(Duration::from_millis(5))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        for event in events.iter() {
            let c = &mut conns[event.token().0];
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                loop {
                    match c.stream.read(&mut rbuf) {
                        Ok(0) => {
                            if c.sent != c.recvd || !c.is_finished(cfg.plan, phase) {
                                return Err(format!(
                                    "connection {}: server closed the connection with {} lines unanswered (after {} echoed)",
                                    c.id,
                                    c.sent - c.recvd,
                                    c.recvd
                                ));
                            }
                            break;
                        }
                        Ok(n) => {
                            let t = ns(Instant::now());
                            c.on_data(&rbuf[..n], cfg, phase, t, &mut stats)?;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            return Err(format!(
                                "connection {}: read failed: {e} ({} lines unanswered, {} echoed)",
                                c.id,
                                c.sent - c.recvd,
                                c.recvd
                            ));
                        }
                    }
                }
                c.refill(cfg, phase, ns(Instant::now()));
            }
            c.flush()?;
            if !c.done && c.is_finished(cfg.plan, phase) {
                c.done = true;
                finished += 1;
            }
        }
    }
}

fn run_echo(args: &Args, addr: SocketAddr) -> Result<(), Fail> {
    let plan = match (args.duration, args.messages) {
        (_, Some(n)) => Plan::Messages(n),
        (Some(d), None) => Plan::Duration(Duration::from_secs_f64(d)),
        (None, None) => Plan::Duration(Duration::from_secs(5)),
    };
    let warmup = Duration::from_secs_f64(args.warmup);
    let timing = Timing {
        warmup,
        measure_end: match plan {
            Plan::Duration(d) => Some(warmup + d),
            Plan::Messages(_) => None,
        },
        drain: Duration::from_secs(5),
        deadline: match (args.timeout, plan) {
            (Some(t), _) => Duration::from_secs_f64(t),
            (None, Plan::Duration(d)) => warmup + d + Duration::from_secs(30),
            (None, Plan::Messages(_)) => Duration::from_secs(300),
        },
    };
    let threads = args.threads.min(args.connections);
    let cfg = Arc::new(EchoCfg {
        size: args.size,
        depth: args.depth,
        plan,
        pattern: fill_pattern(args.size),
    });
    if let Some(pid) = args.server_pid {
        read_cpu(pid)?; // fail early on a wrong PID
    }
    eprintln!(
        "weft-loadgen: echo {addr}: {} connections x depth {} x {} B lines, {} thread(s), {}",
        args.connections,
        args.depth,
        args.size,
        threads,
        match plan {
            Plan::Duration(d) => format!(
                "{:.1}s warmup + {:.1}s",
                warmup.as_secs_f64(),
                d.as_secs_f64()
            ),
            Plan::Messages(n) => format!("{:.1}s warmup + {n} messages", warmup.as_secs_f64()),
        }
    );

    let barrier = Arc::new(Barrier::new(threads + 1));
    let start = Arc::new(OnceLock::new());
    let abort = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let outcome = thread::scope(|scope| -> Result<_, Fail> {
        for t in 0..threads {
            let ids: Vec<usize> = (t..args.connections).step_by(threads).collect();
            let (cfg, barrier, start, abort, release, tx) = (
                cfg.clone(),
                barrier.clone(),
                start.clone(),
                abort.clone(),
                release.clone(),
                tx.clone(),
            );
            thread::Builder::new()
                .name(format!("loadgen-{t}"))
                .spawn_scoped(scope, move || {
                    echo_worker(
                        args, addr, t, ids, cfg, timing, barrier, start, abort, release, tx,
                    )
                })
                .map_err(|e| format!("spawning a thread: {e}"))?;
        }
        drop(tx);
        let result = coordinate(args, threads, timing, &rx, &barrier, &start, &abort);
        if result.is_err() {
            abort.store(true, Ordering::Relaxed);
        }
        release.store(true, Ordering::Relaxed);
        result
    });
    let samples = outcome?;

    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .map_err(|e| format!("histogram: {e}"))?;
    let mut messages = 0u64;
    let mut last_ns = 0u64;
    for r in &samples.results {
        hist.add(&r.hist)
            .map_err(|e| format!("merging histograms: {e}"))?;
        messages += r.messages;
        last_ns = last_ns.max(r.last_counted_ns);
    }
    let elapsed = match plan {
        Plan::Duration(d) => d.as_secs_f64(),
        Plan::Messages(_) => (Duration::from_nanos(last_ns).saturating_sub(warmup)).as_secs_f64(),
    };
    let rate = if elapsed > 0.0 {
        messages as f64 / elapsed
    } else {
        0.0
    };
    let mib = rate * args.size as f64 / (1024.0 * 1024.0);
    let us = |v: u64| v as f64 / 1000.0;
    let (p50, p99, p999, max, mean) = (
        us(hist.value_at_quantile(0.50)),
        us(hist.value_at_quantile(0.99)),
        us(hist.value_at_quantile(0.999)),
        us(hist.max()),
        hist.mean() / 1000.0,
    );

    eprintln!(
        "  {messages} messages in {elapsed:.3}s: {rate:.0} msgs/s, {mib:.2} MiB/s (each way), all echoes verified"
    );
    eprintln!(
        "  latency us: p50 {p50:.1}  p99 {p99:.1}  p99.9 {p999:.1}  max {max:.1}  mean {mean:.1}"
    );
    let mut json = format!(
        "{{\"mode\":\"echo\",\"addr\":\"{addr}\",\"connections\":{},\"depth\":{},\"size\":{},\"threads\":{threads},\"elapsed_s\":{},\"messages\":{messages},\"msgs_per_s\":{},\"mib_per_s\":{},\"latency_us\":{{\"p50\":{},\"p99\":{},\"p999\":{},\"max\":{},\"mean\":{}}},\"server_cpu\":",
        args.connections,
        args.depth,
        args.size,
        num(elapsed, 6),
        num(rate, 1),
        num(mib, 3),
        num(p50, 1),
        num(p99, 1),
        num(p999, 1),
        num(max, 1),
        num(mean, 1),
    );
    match samples.server {
        Some((a, b)) => {
            let (user, sys, wall) = cpu_delta(a, b);
            let per_msg = if messages > 0 {
                (user + sys) * 1e6 / messages as f64
            } else {
                f64::NAN
            };
            eprintln!(
                "  server CPU over {wall:.3}s: user {user:.2}s  sys {sys:.2}s  ({:.0}% of one core), {per_msg:.3} CPU-us/msg",
                (user + sys) * 100.0 / wall
            );
            let _ = write!(
                json,
                "{{\"user_s\":{},\"sys_s\":{},\"wall_s\":{},\"cpu_us_per_msg\":{}}}",
                num(user, 3),
                num(sys, 3),
                num(wall, 3),
                num(per_msg, 3)
            );
        }
        None => json.push_str("null"),
    }
    json.push_str(",\"client_cpu\":");
    match samples.client {
        Some((a, b)) => {
            let (user, sys, wall) = cpu_delta(a, b);
            eprintln!(
                "  load generator CPU: user {user:.2}s  sys {sys:.2}s  ({:.0}% of one core)",
                (user + sys) * 100.0 / wall
            );
            let _ = write!(
                json,
                "{{\"user_s\":{},\"sys_s\":{},\"wall_s\":{}}}",
                num(user, 3),
                num(sys, 3),
                num(wall, 3)
            );
        }
        None => json.push_str("null"),
    }
    json.push('}');
    if args.json {
        println!("{json}");
    }
    Ok(())
}

/// User seconds, system seconds and wall seconds between two samples.
fn cpu_delta(a: CpuSample, b: CpuSample) -> (f64, f64, f64) {
    (
        b.user_s - a.user_s,
        b.sys_s - a.sys_s,
        b.at.duration_since(a.at).as_secs_f64(),
    )
}

/// What the main thread gathers during an echo run.
struct Samples {
    results: Vec<WorkerResult>,
    /// The server's CPU time at the start and end of the measured phase.
    server: Option<(CpuSample, CpuSample)>,
    /// The load generator's own CPU time, likewise.
    client: Option<(CpuSample, CpuSample)>,
}

/// Main-thread side of an echo run: waits for the workers, samples CPU times at the start
/// and end of the measured phase, and collects the results. A worker's failure is returned
/// as soon as it is reported.
fn coordinate(
    args: &Args,
    threads: usize,
    timing: Timing,
    rx: &mpsc::Receiver<Report>,
    barrier: &Barrier,
    start: &OnceLock<Instant>,
    abort: &AtomicBool,
) -> Result<Samples, Fail> {
    // Every worker reports its connect phase, then meets at the barrier.
    let mut connect_error = None;
    for _ in 0..threads {
        match rx.recv() {
            Ok(Report::Connected(Ok(()))) => {}
            Ok(Report::Connected(Err(e))) => {
                abort.store(true, Ordering::Relaxed);
                connect_error.get_or_insert(e);
            }
            Ok(Report::Finished(_)) | Err(_) => {
                return Err("a client thread ended unexpectedly".into());
            }
        }
    }
    barrier.wait();
    let start = *start.get_or_init(Instant::now);
    if let Some(e) = connect_error {
        return Err(e);
    }
    eprintln!("  connected; measuring");
    let deadline = start + timing.deadline + Duration::from_secs(1);
    let mut results = Vec::with_capacity(threads);
    // Takes reports until `until` or until every worker has finished.
    let collect = |until: Instant, results: &mut Vec<WorkerResult>| -> Result<(), Fail> {
        while results.len() < threads {
            let wait = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(Report::Finished(Ok(r))) => results.push(r),
                Ok(Report::Finished(Err(e))) => return Err(e),
                Ok(Report::Connected(_)) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err("a client thread ended unexpectedly".into());
                }
            }
        }
        Ok(())
    };
    let self_pid = std::process::id() as i32;
    let sample = || -> Result<(Option<CpuSample>, Option<CpuSample>), Fail> {
        let server = args.server_pid.map(read_cpu).transpose()?;
        Ok((server, read_cpu(self_pid).ok()))
    };

    collect(start + timing.warmup, &mut results)?;
    let first = sample()?;
    let mut last = None;
    if let Some(end) = timing.measure_end {
        collect(start + end, &mut results)?;
        last = Some(sample()?);
    }
    collect(deadline, &mut results)?;
    if results.len() < threads {
        return Err("client threads did not finish before the deadline".into());
    }
    let last = match last {
        Some(l) => l,
        None => sample()?,
    };
    Ok(Samples {
        results,
        server: first.0.zip(last.0),
        client: first.1.zip(last.1),
    })
}

/// A JSON number with `digits` decimals, or `null` if not finite.
fn num(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "null".into()
    }
}

// ---------------------------------------------------------------------------------------
// Idle mode.
// ---------------------------------------------------------------------------------------

/// A connect that takes this long was almost certainly retransmitted (1 s SYN timeout).
const SLOW_CONNECT: Duration = Duration::from_millis(200);

fn run_idle(args: &Args, addr: SocketAddr) -> Result<(), Fail> {
    let pid = args
        .server_pid
        .ok_or("--mode idle needs --server-pid (to read the server's RSS)")?;
    let n = args.connections;
    let threads = args.threads.min(n);
    let deadline = Instant::now() + Duration::from_secs_f64(args.timeout.unwrap_or(300.0));
    let connect_timeout = Duration::from_secs_f64(args.connect_timeout);
    let rss_before = read_rss_kib(pid)?;
    let fds_before = count_fds(pid).ok();
    if addr.is_ipv6() && n > args.conns_per_source {
        eprintln!("warning: IPv6 target: all connections use one source address");
    }
    eprintln!(
        "weft-loadgen: idle {addr}: opening {n} connections with {threads} thread(s); server RSS {rss_before} KiB"
    );

    let started = Instant::now();
    let abort = AtomicBool::new(false);
    let (sockets, slow_connects) = thread::scope(|scope| -> Result<_, Fail> {
        let mut handles = Vec::new();
        for t in 0..threads {
            let abort = &abort;
            let handle = thread::Builder::new()
                .name(format!("loadgen-{t}"))
                .spawn_scoped(scope, move || -> Result<(Vec<StdTcpStream>, usize), Fail> {
                    pin(args, t);
                    let mut mine = Vec::new();
                    let mut slow = 0usize;
                    for id in (t..n).step_by(threads) {
                        if abort.load(Ordering::Relaxed) {
                            return Err("aborted".into());
                        }
                        if Instant::now() >= deadline {
                            return Err(format!(
                                "overall deadline exceeded after opening {} connections in thread {t}",
                                mine.len()
                            ));
                        }
                        let source = source_for(args, addr, id);
                        let began = Instant::now();
                        let s = connect_one(addr, source, connect_timeout).map_err(|e| {
                            abort.store(true, Ordering::Relaxed);
                            format!(
                                "connection {id} (from {}): connect to {addr}: {e}",
                                source.map_or("any".to_string(), |ip| ip.to_string())
                            )
                        })?;
                        if began.elapsed() >= SLOW_CONNECT {
                            slow += 1;
                        }
                        mine.push(s);
                    }
                    if args.idle_ping {
                        for (k, s) in mine.iter_mut().enumerate() {
                            ping(s, deadline).map_err(|e| {
                                abort.store(true, Ordering::Relaxed);
                                format!("idle ping on connection {}: {e}", t + k * threads)
                            })?;
                        }
                    }
                    Ok((mine, slow))
                })
                .map_err(|e| format!("spawning a thread: {e}"))?;
            handles.push(handle);
        }
        let mut all = Vec::with_capacity(n);
        let mut slow = 0;
        let mut first_err = None;
        for h in handles {
            match h.join() {
                Ok(Ok((v, k))) => {
                    all.extend(v);
                    slow += k;
                }
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert("a client thread panicked".into());
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok((all, slow)),
        }
    })?;
    let connect_s = started.elapsed().as_secs_f64();
    eprintln!(
        "  opened {} connections in {connect_s:.2}s{}",
        sockets.len(),
        if args.idle_ping { " (each pinged)" } else { "" }
    );

    if slow_connects > 0 {
        eprintln!(
            "  note: {slow_connects} connects took over {} ms: SYN retransmits, the server's listen backlog overflowed (it accepts slower than connections arrive)",
            SLOW_CONNECT.as_millis()
        );
    }

    // Wait for the server to have accepted them all (its fd count grows by n).
    let mut fds_after = None;
    if let Some(before) = fds_before {
        let wait_until =
            (Instant::now() + Duration::from_secs_f64(args.settle_timeout)).min(deadline);
        loop {
            let now_fds = count_fds(pid)?;
            fds_after = Some(now_fds);
            if now_fds >= before + n {
                break;
            }
            if Instant::now() >= wait_until {
                eprintln!(
                    "warning: the server's open descriptors grew by {} only, not {n}; measuring anyway",
                    now_fds.saturating_sub(before)
                );
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
    } else {
        eprintln!("warning: cannot read /proc/{pid}/fd; not waiting for accepts");
    }
    thread::sleep(Duration::from_secs_f64(args.settle));
    let rss_after = read_rss_kib(pid)?;
    let per_conn = (rss_after as f64 - rss_before as f64) * 1024.0 / n as f64;
    // Close with a reset (SO_LINGER 0) so no TIME_WAIT is left on the client side: many
    // thousands of those slow down the port search of the next run's connects.
    for s in &sockets {
        let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
    }
    drop(sockets);
    thread::sleep(Duration::from_secs_f64(args.settle));
    let rss_closed = read_rss_kib(pid)?;

    eprintln!(
        "  server RSS: before {rss_before} KiB, with {n} connections {rss_after} KiB, after closing {rss_closed} KiB"
    );
    eprintln!("  RSS growth per connection: {per_conn:.0} bytes");
    let opt = |v: Option<usize>| v.map_or("null".to_string(), |v| v.to_string());
    if args.json {
        println!(
            "{{\"mode\":\"idle\",\"addr\":\"{addr}\",\"connections\":{n},\"idle_ping\":{},\"connect_s\":{},\"slow_connects\":{slow_connects},\"rss_before_kib\":{rss_before},\"rss_after_kib\":{rss_after},\"rss_closed_kib\":{rss_closed},\"fds_before\":{},\"fds_after\":{},\"rss_bytes_per_conn\":{}}}",
            args.idle_ping,
            num(connect_s, 3),
            opt(fds_before),
            opt(fds_after),
            num(per_conn, 1)
        );
    }
    Ok(())
}

/// Sends `p\n` and waits (bounded) for exactly that echo.
fn ping(s: &mut StdTcpStream, deadline: Instant) -> Result<(), Fail> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err("overall deadline exceeded".into());
    }
    s.set_read_timeout(Some(left.min(Duration::from_secs(5))))
        .map_err(|e| e.to_string())?;
    s.write_all(b"p\n").map_err(|e| format!("write: {e}"))?;
    let mut buf = [0u8; 2];
    s.read_exact(&mut buf).map_err(|e| format!("read: {e}"))?;
    if &buf != b"p\n" {
        return Err(format!("expected \"p\\n\", got \"{}\"", snippet(&buf)));
    }
    Ok(())
}
