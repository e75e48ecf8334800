//! # tokio-line-echo
//!
//! A line-echo server written with tokio the fast, idiomatic way, as a baseline for weft.
//!
//! Protocol: a line is the bytes up to and including `\n`; every complete line is written
//! back byte for byte, in order. A line longer than `--max-line` bytes (not counting the
//! `\n`, as in `weft_codec::LineCodec`) gets `ERR line too long\n`, after the complete lines
//! before it have been echoed, and the connection is closed. A partial line at end of stream
//! is dropped.
//!
//! Per connection: TCP_NODELAY is set on the accepted socket; a `BytesMut` read buffer is
//! filled with `read_buf`; after each read, all complete lines in the buffer are found (the
//! bytes already scanned are not scanned again) and written back with one `write_all`, never
//! one write per line.
//!
//! ## Flags
//!
//! | flag | default | meaning |
//! | --- | --- | --- |
//! | `--addr IP:PORT` | `127.0.0.1:7000` | where to listen; port 0 picks a free port |
//! | `--workers N` | available cores | tokio worker threads; 1 uses a current-thread runtime |
//! | `--max-line BYTES` | 8192 | longest accepted line, not counting `\n` |
//!
//! ## Output
//!
//! Once bound, it prints `listening on IP:PORT` on stdout (flushed) and nothing else there;
//! accept and connection errors go to stderr. It raises its soft `RLIMIT_NOFILE` to the
//! hard limit at start and runs until killed.

#[path = "../lines.rs"]
mod lines;
#[path = "../runtime.rs"]
mod runtime;

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use clap::Parser;
use lines::{INITIAL_BUF, MIN_SPARE, TOO_LONG};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Line-echo server on tokio (baseline for weft benchmarks).
#[derive(Parser, Debug)]
#[command(name = "tokio-line-echo", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:7000")]
    addr: SocketAddr,
    /// Worker threads; 1 runs a current-thread runtime.
    #[arg(long)]
    workers: Option<usize>,
    /// Longest accepted line in bytes, not counting the newline.
    #[arg(long, default_value_t = 8192)]
    max_line: usize,
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    raise_nofile_limit();
    let runtime = runtime::runtime(args.workers)?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> io::Result<()> {
    let listener = TcpListener::bind(args.addr).await?;
    {
        let mut out = io::stdout().lock();
        writeln!(out, "listening on {}", listener.local_addr()?)?;
        out.flush()?;
    }
    let max_line = args.max_line;
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                tokio::spawn(async move {
                    if let Err(e) = handle(stream, max_line).await {
                        if !matches!(
                            e.kind(),
                            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                        ) {
                            eprintln!("connection error: {e}");
                        }
                    }
                });
            }
            Err(e) => {
                // Typically EMFILE; back off briefly instead of spinning.
                eprintln!("accept error: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn handle(mut stream: TcpStream, max_line: usize) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = BytesMut::with_capacity(INITIAL_BUF);
    // Bytes at the front of `buf` (the current partial line) known to hold no `\n`.
    let mut scanned = 0;
    loop {
        if buf.capacity() - buf.len() < MIN_SPARE {
            buf.reserve(INITIAL_BUF);
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        // The newlines in the new bytes: where the complete lines end, unless a line is
        // found to be too long first.
        let (line_start, too_long) = lines::complete_lines(&buf, scanned, max_line);
        if line_start > 0 {
            let lines = buf.split_to(line_start);
            stream.write_all(&lines).await?;
        }
        if too_long {
            return reject(stream).await;
        }
        scanned = buf.len();
    }
}

/// Sends the error line, then closes without resetting: shut down the write side and read
/// (and discard) what the client still sends for a short while, so the error line is not
/// lost to a reset.
async fn reject(mut stream: TcpStream) -> io::Result<()> {
    stream.write_all(TOO_LONG).await?;
    stream.shutdown().await?;
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    Ok(())
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, so many connections can be accepted.
fn raise_nofile_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for getrlimit to fill in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 && lim.rlim_cur < lim.rlim_max
    {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid rlimit that setrlimit only reads.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    }
}
