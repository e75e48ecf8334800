//! What every sample server shares: flag parsing and the announce line. (Logging and
//! running until SIGINT/SIGTERM come from `weft::starter`, the `starter` feature.)
//!
//! Kept deliberately small and dependency-free: flags are `--name VALUE` or `--name=VALUE`;
//! a malformed command line exits with status 2 and one line on stderr.

#![allow(dead_code)] // each example uses a different subset

use std::fmt::Display;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

/// The TLS acceptor of `--tls-cert`/`--tls-key`, made by [`Flags::common`]: kept here
/// (not in [`Common`], which is `Copy`) for [`Common::builder`] and [`Common::run`].
static TLS: OnceLock<weft::tls::TlsAcceptor> = OnceLock::new();

/// Parsed `--name value` pairs, checked against the flags an example knows.
pub struct Flags {
    program: &'static str,
    pairs: Vec<(String, String)>,
}

impl Flags {
    /// Parses the process arguments; `known` lists the flag names (without `--`).
    /// `--help` prints `usage` and exits 0.
    pub fn parse(program: &'static str, known: &[&str], usage: &str) -> Flags {
        let mut pairs = Vec::new();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                println!("{usage}");
                std::process::exit(0);
            }
            let Some(flag) = arg.strip_prefix("--") else {
                fail(program, format!("unexpected argument '{arg}'"));
            };
            let (name, value) = match flag.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None if SWITCHES.contains(&flag) => (flag.to_string(), String::new()),
                None => {
                    let value = args
                        .next()
                        .unwrap_or_else(|| fail(program, format!("--{flag} needs a value")));
                    (flag.to_string(), value)
                }
            };
            if !known.contains(&name.as_str()) {
                fail(program, format!("unknown flag '--{name}'"));
            }
            pairs.push((name, value));
        }
        Flags { program, pairs }
    }

    /// Every value given for `--name`, in order (for a flag that may repeat).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// True when `--name` was given (a switch, see [`SWITCHES`], takes no value).
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }

    /// The last value given for `--name`, parsed, or `default`.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> T
    where
        T::Err: Display,
    {
        match self.pairs.iter().rev().find(|(n, _)| n == name) {
            None => default,
            Some((_, value)) => value.parse().unwrap_or_else(|e| {
                fail(
                    self.program,
                    format!("invalid value '{value}' for --{name}: {e}"),
                )
            }),
        }
    }

    /// Like [`Flags::get`], and the value must be at least `min`.
    pub fn get_at_least<T: FromStr + PartialOrd + Display + Copy>(
        &self,
        name: &str,
        default: T,
        min: T,
    ) -> T
    where
        T::Err: Display,
    {
        let value = self.get(name, default);
        if value < min {
            fail(self.program, format!("--{name} must be at least {min}"));
        }
        value
    }

    /// A duration given in (possibly fractional) seconds: positive, and at most
    /// [`MAX_SECONDS`] (a larger value is surely a mistake, and would overflow a deadline).
    pub fn seconds(&self, name: &str, default: f64) -> Duration {
        let secs: f64 = self.get(name, default);
        if !secs.is_finite() || secs <= 0.0 {
            fail(
                self.program,
                format!("--{name} must be a positive number of seconds"),
            );
        }
        if secs > MAX_SECONDS {
            fail(
                self.program,
                format!("--{name} must be at most {MAX_SECONDS} seconds"),
            );
        }
        Duration::try_from_secs_f64(secs)
            .unwrap_or_else(|e| fail(self.program, format!("invalid value for --{name}: {e}")))
    }

    /// The flags every sample server takes (see `docs/protocols.md`, "Common to every
    /// sample server"), with `default_addr` as the default `--addr`.
    pub fn common(&self, default_addr: &str) -> Common {
        let addr = self.get("addr", default_addr.parse().expect("a valid default"));
        let workers = self.get_at_least("workers", Flags::cpus(), 1);
        let max_pending = self.get_at_least("max-pending", 1 << 20, 1);
        let frame_timeout = self.seconds("frame-timeout", 60.0);
        let max_connections = self.get_at_least("max-connections", default_max_connections(), 1);
        let grace = self.seconds("shutdown-timeout", 5.0);
        let proxy_protocol = self.has("proxy-protocol");
        let proxy_header_timeout = self.seconds("proxy-header-timeout", 5.0);
        let handshake_timeout = self.seconds("handshake-timeout", 10.0);
        let tls = self.tls();
        let metrics_addr = self
            .pairs
            .iter()
            .any(|(n, _)| n == "metrics-addr")
            .then(|| self.get("metrics-addr", "127.0.0.1:0".parse().expect("valid")));
        Common {
            metrics_addr,
            addr,
            workers,
            max_pending,
            frame_timeout,
            max_connections,
            grace,
            proxy_protocol,
            proxy_header_timeout,
            handshake_timeout,
            tls,
        }
    }

    /// `--tls-cert`, `--tls-key` and `--tls-client-ca`, loaded (exit 2 naming the file if
    /// one does not load); true when the server speaks TLS.
    fn tls(&self) -> bool {
        let value = |name: &str| {
            self.pairs
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let (cert, key) = match (value("tls-cert"), value("tls-key")) {
            (None, None) => {
                if self.has("tls-client-ca") {
                    fail(
                        self.program,
                        "--tls-client-ca needs --tls-cert and --tls-key",
                    );
                }
                return false;
            }
            (Some(cert), Some(key)) => (cert, key),
            (Some(_), None) => fail(self.program, "--tls-cert needs --tls-key"),
            (None, Some(_)) => fail(self.program, "--tls-key needs --tls-cert"),
        };
        let mut config = weft::tls::TlsConfig::new(cert, key);
        if let Some(ca) = value("tls-client-ca") {
            config = config.client_ca(ca);
        }
        let acceptor = weft::tls::TlsAcceptor::new(config)
            .unwrap_or_else(|e| fail(self.program, weft::starter::report(&e)));
        let _ = TLS.set(acceptor);
        true
    }

    /// The number of CPUs, the default for `--workers`.
    pub fn cpus() -> usize {
        std::thread::available_parallelism().map_or(1, usize::from)
    }
}

/// Flags that take no value.
pub const SWITCHES: [&str; 2] = ["proxy-protocol-out", "proxy-protocol"];

/// The longest duration a flag accepts, in seconds (about 31 years).
pub const MAX_SECONDS: f64 = 1e9;

/// The names of the flags [`Flags::common`] reads, for [`Flags::parse`]'s list.
pub const COMMON_FLAGS: [&str; 13] = [
    "addr",
    "workers",
    "max-pending",
    "frame-timeout",
    "max-connections",
    "shutdown-timeout",
    "metrics-addr",
    "proxy-protocol",
    "proxy-header-timeout",
    "tls-cert",
    "tls-key",
    "tls-client-ca",
    "handshake-timeout",
];

/// The usage text of [`COMMON_FLAGS`].
pub const COMMON_USAGE: &str = "[--addr HOST:PORT] [--workers N] [--max-pending BYTES] \
[--frame-timeout SECS] [--max-connections N] [--shutdown-timeout SECS] \
[--metrics-addr HOST:PORT] [--proxy-protocol] [--proxy-header-timeout SECS] \
[--tls-cert PATH --tls-key PATH] [--tls-client-ca PATH] [--handshake-timeout SECS]";

/// The flags every sample server shares, parsed and checked.
#[derive(Debug, Clone, Copy)]
pub struct Common {
    /// `--addr`.
    pub addr: SocketAddr,
    /// `--workers`: reactors.
    pub workers: usize,
    /// `--max-pending`: the most output held for one connection.
    pub max_pending: usize,
    /// `--frame-timeout`.
    pub frame_timeout: Duration,
    /// `--max-connections`.
    pub max_connections: usize,
    /// `--shutdown-timeout`.
    pub grace: Duration,
    /// `--metrics-addr`, when given.
    pub metrics_addr: Option<SocketAddr>,
    /// `--proxy-protocol`: every connection begins with a PROXY protocol header.
    pub proxy_protocol: bool,
    /// `--proxy-header-timeout`: how long that header may take (default 5 s).
    pub proxy_header_timeout: Duration,
    /// `--handshake-timeout`: how long a TLS handshake may take (default 10 s).
    pub handshake_timeout: Duration,
    /// `--tls-cert` and `--tls-key` were given: the server speaks TLS.
    pub tls: bool,
}

impl Common {
    /// A server builder with these settings: address, reactors, the output limit at
    /// `--max-pending`, the frame timeout, the connection limit, the close timeout at
    /// the shutdown grace, and the PROXY protocol required with `--proxy-protocol`.
    pub fn builder(&self) -> weft::ServerBuilder<()> {
        let proxy = if self.proxy_protocol {
            weft::ProxyProtocol::required()
        } else {
            weft::ProxyProtocol::Off
        };
        let builder = weft::Server::builder()
            .addr(self.addr)
            .reactors(self.workers)
            .output_limit(self.max_pending)
            .frame_timeout(self.frame_timeout)
            .max_connections(self.max_connections)
            .close_timeout(self.grace)
            .proxy_protocol(proxy)
            .proxy_header_timeout(self.proxy_header_timeout)
            .tls_handshake_timeout(self.handshake_timeout);
        match TLS.get() {
            Some(acceptor) => builder.tls(acceptor.clone()),
            None => builder,
        }
    }
}

impl Common {
    /// Everything after `bind()`, the same for every sample: exits 2 if binding failed
    /// (with the OS's reason), catches SIGINT/SIGTERM, announces the server (and its
    /// metrics endpoint), then serves until a signal and shuts down within the grace.
    pub fn run(&self, program: &str, bound: Result<weft::Server, weft::Error>) {
        let server = bound.unwrap_or_else(|e| {
            fail(
                program,
                format!(
                    "cannot listen on {}: {}",
                    self.addr,
                    weft::starter::report(&e)
                ),
            )
        });
        // Before the listening line: a script may signal as soon as it reads it.
        let signals = weft::starter::ShutdownSignals::install()
            .unwrap_or_else(|e| fail(program, format!("cannot install signal handlers: {e}")));
        if let Some(acceptor) = TLS.get() {
            weft::starter::reload_tls_on_sighup(acceptor.clone())
                .unwrap_or_else(|e| fail(program, format!("cannot install SIGHUP handler: {e}")));
        }
        let _metrics = self.announce(program, &server);
        signals
            .serve(server, self.grace)
            .unwrap_or_else(|e| fail(program, format!("cannot wait for signals: {e}")));
    }

    /// Announces `server` (the `listening on` line) and, with `--metrics-addr`, starts the
    /// metrics endpoint and announces it (`metrics on IP:PORT`, the second stdout line).
    /// Keep what it returns until shutdown: dropping it stops the endpoint.
    /// (The endpoint is bound before either line is printed, so a bad `--metrics-addr`
    /// exits 2 with nothing on stdout.)
    pub fn announce(&self, program: &str, server: &weft::Server) -> Option<weft::Server> {
        let endpoint = self.metrics_addr.map(|addr| {
            weft_examples::metrics::serve(server.metrics_handle(), addr).unwrap_or_else(|e| {
                fail(program, format!("cannot listen on {addr} for metrics: {e}"))
            })
        });
        announce(server.local_addr());
        if let Some(endpoint) = &endpoint {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "metrics on {}", endpoint.local_addr());
            let _ = out.flush();
        }
        endpoint
    }
}

/// What the open-file limit allows, less a reserve for the server's own descriptors (its
/// listener, polls, wakers, log files): the default `--max-connections`.
pub fn default_max_connections() -> usize {
    const RESERVE: u64 = 64;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer to a local.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    let soft = if ok { limit.rlim_cur } else { 1024 };
    usize::try_from(soft.saturating_sub(RESERVE).max(1)).unwrap_or(usize::MAX)
}

/// Prints `program: message` on stderr and exits with status 2.
pub fn fail(program: &str, message: impl Display) -> ! {
    eprintln!("{program}: {message}");
    std::process::exit(2);
}

/// Prints the one stdout line scripts wait for, and flushes it.
pub fn announce(addr: std::net::SocketAddr) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {addr}");
    let _ = out.flush();
}
