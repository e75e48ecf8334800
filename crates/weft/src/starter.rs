//! What a server program needs around its [`Server`] (feature `starter`): logging to
//! stderr, and running until SIGINT or SIGTERM, then a graceful shutdown.
//!
//! weft itself only emits [`tracing`](https://docs.rs/tracing) events and installs no
//! logger and no signal handler; a library using weft should leave both to the program.
//! This module is that program's part, in three calls (the sample servers use it):
//!
//! ```no_run
//! use std::time::Duration;
//! use weft::codec::LineCodec;
//! use weft::{starter, Context, Handler, Pipeline, Server};
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     type In<'a> = &'a [u8];
//!     type Out<'a> = &'a [u8];
//!     fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
//!         ctx.write(line);
//!     }
//! }
//!
//! starter::init_logging(); // RUST_LOG, default `info`
//! let server = Server::builder()
//!     .addr("127.0.0.1:7000")
//!     .pipeline(|| Pipeline::new(LineCodec::new(8192), Echo))
//!     .bind()
//!     .unwrap_or_else(|e| {
//!         eprintln!("cannot listen: {}", starter::report(&e)); // the OS's reason too
//!         std::process::exit(2);
//!     });
//! // Catch the signals before saying the server is ready: a script may send SIGTERM as
//! // soon as it reads the line.
//! let signals = starter::ShutdownSignals::install()?;
//! println!("listening on {}", server.local_addr());
//! // Blocks until SIGINT or SIGTERM, then stops accepting and gives the open
//! // connections 5 s to flush what they owe.
//! signals.serve(server, Duration::from_secs(5))?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Enable it with `features = ["starter"]` on the weft dependency; it brings in
//! `signal-hook` and `tracing-subscriber`, which weft without the feature does not depend on.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use crate::Server;

/// Logs weft's events (and the program's) to stderr, at the level the `RUST_LOG`
/// environment variable says (`info` when it is unset or invalid), in colour when stderr is
/// a terminal.
///
/// Does nothing if the program installed a global subscriber already, so calling it twice
/// is harmless.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .try_init();
}

/// SIGINT and SIGTERM, caught from the moment this value exists.
///
/// Install it *before* telling the world the server is ready (the `listening on` line):
/// a script that sends SIGTERM as soon as it reads that line must find the handlers in
/// place, or the default disposition kills the process without a graceful shutdown.
#[derive(Debug)]
pub struct ShutdownSignals(signal_hook::iterator::Signals);

impl ShutdownSignals {
    /// Installs the handlers: from now on the two signals no longer end the process by
    /// themselves. Fails only if the handlers cannot be installed.
    pub fn install() -> io::Result<Self> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        Ok(ShutdownSignals(signal_hook::iterator::Signals::new([
            SIGINT, SIGTERM,
        ])?))
    }

    /// Blocks until SIGINT or SIGTERM arrives (or arrived since [`install`](Self::install)),
    /// and returns which (logged at `info`).
    pub fn wait(mut self) -> io::Result<i32> {
        let signal = self
            .0
            .forever()
            .next()
            .ok_or_else(|| io::Error::other("signal iterator closed"))?;
        tracing::info!(signal, "signal received; shutting down");
        Ok(signal)
    }

    /// Waits for the signal, then shuts `server` down gracefully with `grace` (see
    /// [`Server::shutdown`]); returns once every thread of the server has ended.
    pub fn serve(self, server: Server, grace: Duration) -> io::Result<()> {
        self.wait()?;
        server.shutdown(grace);
        Ok(())
    }
}

/// Reloads `acceptor`'s certificate files on every SIGHUP, from a thread of its own, from
/// the moment this returns (so install it before announcing readiness: SIGHUP's default
/// disposition ends the process). A reload that fails keeps the old certificates and logs
/// one error line naming the file; one that succeeds logs at `info`. Fails only if the
/// handler cannot be installed.
pub fn reload_tls_on_sighup(acceptor: crate::tls::TlsAcceptor) -> io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])?;
    std::thread::Builder::new()
        .name("weft-sighup".into())
        .spawn(move || {
            for _ in signals.forever() {
                match acceptor.reload() {
                    Ok(()) => tracing::info!("SIGHUP: TLS certificates reloaded"),
                    Err(e) => tracing::error!(
                        "SIGHUP: TLS certificates not reloaded, keeping the old ones: {}",
                        report(&e)
                    ),
                }
            }
        })?;
    Ok(())
}

/// Blocks until the process receives SIGINT or SIGTERM, and returns which (logged at
/// `info`). Fails only if the signal handlers cannot be installed. Prefer
/// [`ShutdownSignals::install`] before announcing readiness, then `wait`.
pub fn wait_for_shutdown_signal() -> io::Result<i32> {
    ShutdownSignals::install()?.wait()
}

/// Runs `server` until SIGINT or SIGTERM, then shuts it down gracefully: accepting stops,
/// and open connections get `grace` to flush what they owe before they are closed (see
/// [`Server::shutdown`]). Returns once every thread of the server has ended. (Handlers are
/// installed by this call; see [`ShutdownSignals`] to install them earlier.)
///
/// Fails, leaving the server running, only if the signal handlers cannot be installed.
pub fn serve_until_signal(server: Server, grace: Duration) -> io::Result<()> {
    ShutdownSignals::install()?.serve(server, grace)
}

/// `error` and its chain of sources on one line, `outer: cause: root cause`: what to print
/// when a program gives up, since [`Error`](crate::Error)'s own `Display` says only what
/// failed (`I/O error`) and leaves the cause (`Address already in use (os error 98)`) to
/// `source()`.
///
/// ```
/// let err = std::io::Error::new(std::io::ErrorKind::AddrInUse, "in use");
/// assert_eq!(weft::starter::report(&err), "in use");
/// ```
pub fn report(error: &(dyn StdError + 'static)) -> String {
    crate::error::Chain(error).to_string()
}
