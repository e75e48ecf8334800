//! # tokio-framed-echo
//!
//! A line-echo server on tokio and tokio-util's codec framework, framing every line the way
//! a tokio user would: the second baseline for weft's cost per message (the first,
//! `tokio-line-echo`, does not frame at all; the third is the C server in `benches/c/`).
//!
//! Protocol (the same as `line_echo`, `tokio-line-echo` and `c-line-echo`): a line is the
//! bytes up to and including `\n`; every complete line is written back byte for byte, in
//! order. A line longer than `--max-line` bytes (not counting `\n`) gets
//! `ERR line too long\n`, after the complete lines before it, and the connection closes. A
//! partial line at end of stream is dropped.
//!
//! Per connection:
//!
//! * a [`FramedRead`] over the read half with [`Lines`], a line codec that splits each line
//!   off the read buffer as `Bytes` (zero-copy: `split_to` then `freeze`, no copy of the
//!   line);
//! * a per-message handler ([`echo`]), called on every frame;
//! * a [`FramedWrite`] over the write half with the same codec, fed by
//!   `StreamExt::forward`: it hands the sink every frame the stream has ready and flushes
//!   once the stream is pending, so all lines of one read go out in one write.
//!
//! Flags: `--addr IP:PORT` (default `127.0.0.1:7000`), `--workers N` (1, the default, is a
//! current-thread runtime), `--max-line BYTES` (default 8192). Prints
//! `listening on IP:PORT` on stdout once bound and runs until killed.

#[path = "../runtime.rs"]
mod runtime;

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use clap::Parser;
use futures::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Decoder, Encoder, FramedRead, FramedWrite};

/// Line-echo server on tokio-util's `FramedRead`/`FramedWrite` (baseline for weft).
#[derive(Parser, Debug)]
#[command(name = "tokio-framed-echo", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:7000")]
    addr: SocketAddr,
    /// Worker threads; 1 runs a current-thread runtime.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Longest accepted line in bytes, not counting the newline.
    #[arg(long, default_value_t = 8192)]
    max_line: usize,
}

const TOO_LONG: &[u8] = b"ERR line too long\n";

/// Newline-delimited frames, split off the read buffer without copying; the frames keep
/// their `\n`. Encoding appends the line (which already ends in `\n`) to the write buffer.
#[derive(Debug)]
struct Lines {
    max_line: usize,
    /// Bytes at the front of the buffer known to hold no `\n`.
    scanned: usize,
}

/// The decoder's only error: a line over the limit, or the I/O error under it.
#[derive(Debug)]
enum LinesError {
    TooLong,
    Io(io::Error),
}

impl From<io::Error> for LinesError {
    fn from(e: io::Error) -> Self {
        LinesError::Io(e)
    }
}

impl Decoder for Lines {
    type Item = Bytes;
    type Error = LinesError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, LinesError> {
        let window_end = src.len().min(self.max_line + 1);
        let start = self.scanned.min(window_end);
        match memchr::memchr(b'\n', &src[start..window_end]) {
            Some(offset) => {
                self.scanned = 0;
                Ok(Some(src.split_to(start + offset + 1).freeze()))
            }
            None if src.len() > self.max_line => Err(LinesError::TooLong),
            None => {
                self.scanned = window_end;
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, LinesError> {
        let frame = self.decode(src)?;
        if frame.is_none() {
            src.clear(); // a trailing partial line is dropped
            self.scanned = 0;
        }
        Ok(frame)
    }
}

impl Encoder<Bytes> for Lines {
    type Error = LinesError;

    fn encode(&mut self, line: Bytes, dst: &mut BytesMut) -> Result<(), LinesError> {
        dst.extend_from_slice(&line);
        Ok(())
    }
}

/// The per-message handler: the reply to one line is the line itself.
#[inline(never)]
fn echo(line: Bytes) -> Bytes {
    line
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let runtime = runtime::runtime(Some(args.workers))?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> io::Result<()> {
    let listener = TcpListener::bind(args.addr).await?;
    {
        let mut out = io::stdout().lock();
        writeln!(out, "listening on {}", listener.local_addr()?)?;
        out.flush()?;
    }
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let max_line = args.max_line;
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
                eprintln!("accept error: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn handle(mut stream: TcpStream, max_line: usize) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (rd, wr) = stream.split();
    let codec = || Lines {
        max_line,
        scanned: 0,
    };
    let mut lines = FramedRead::new(rd, codec());
    let mut replies = FramedWrite::new(wr, codec());
    let result = (&mut lines)
        .map(|line| line.map(echo))
        .forward(&mut replies)
        .await;
    let too_long = match result {
        Ok(()) => return Ok(()),
        Err(LinesError::Io(e)) => return Err(e),
        Err(LinesError::TooLong) => {
            // The lines before it were handed to the sink but not flushed yet: `send`
            // flushes them together with the error line.
            let reply = Bytes::from_static(TOO_LONG);
            replies.send(reply).await
        }
    };
    drop((lines, replies));
    if let Err(LinesError::Io(e)) = too_long {
        return Err(e);
    }
    // Close without a reset: shut down the write side, then read and drop what the client
    // still sends for a short while, so the error line is not lost to a reset.
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
