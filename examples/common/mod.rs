//! What every sample server shares: flag parsing, logging, signals.
//!
//! Kept deliberately small and dependency-free: flags are `--name VALUE` or `--name=VALUE`;
//! a malformed command line exits with status 2 and one line on stderr.

#![allow(dead_code)] // each example uses a different subset

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

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

    /// A duration given in (possibly fractional) seconds.
    pub fn seconds(&self, name: &str, default: f64) -> Duration {
        let secs: f64 = self.get(name, default);
        if !secs.is_finite() || secs <= 0.0 {
            fail(
                self.program,
                format!("--{name} must be a positive number of seconds"),
            );
        }
        Duration::from_secs_f64(secs)
    }

    /// The number of CPUs, the default for `--workers`.
    pub fn cpus() -> usize {
        std::thread::available_parallelism().map_or(1, usize::from)
    }
}

/// Prints `program: message` on stderr and exits with status 2.
pub fn fail(program: &str, message: impl Display) -> ! {
    eprintln!("{program}: {message}");
    std::process::exit(2);
}

/// Logs to stderr, at the level `RUST_LOG` says (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Prints the one stdout line scripts wait for, and flushes it.
pub fn announce(addr: std::net::SocketAddr) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {addr}");
    let _ = out.flush();
}

/// Blocks until SIGINT or SIGTERM arrives.
pub fn wait_for_signal(program: &str) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .unwrap_or_else(|e| fail(program, format!("cannot install signal handlers: {e}")));
    if let Some(signal) = signals.forever().next() {
        tracing::info!(signal, "signal received");
    }
}
