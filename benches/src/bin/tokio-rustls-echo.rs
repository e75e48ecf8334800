//! # tokio-rustls-echo
//!
//! A line-echo server over TLS written with tokio and tokio-rustls the usual way, as the
//! baseline for weft's TLS (`line_echo --tls-cert --tls-key`). It uses the same rustls
//! version, the same `ring` provider and the same cipher-suite order as weft's server, so
//! the comparison is of the runtimes, not of the TLS libraries.
//!
//! Protocol: as `tokio-line-echo` (every complete line is written back byte for byte; a
//! line longer than `--max-line` gets `ERR line too long\n` and the connection closes), over
//! TLS 1.2 or 1.3.
//!
//! Per connection: one task; `TlsAcceptor::accept`, then a `BytesMut` read buffer filled
//! with `read_buf`, complete lines written back with one `write_all` and a `flush` per read.
//!
//! ## Flags
//!
//! | flag | default | meaning |
//! | --- | --- | --- |
//! | `--addr IP:PORT` | `127.0.0.1:7000` | where to listen; port 0 picks a free port |
//! | `--workers N` | available cores | tokio worker threads; 1 uses a current-thread runtime |
//! | `--max-line BYTES` | 8192 | longest accepted line, not counting `\n` |
//! | `--tls-cert PATH` | (required) | PEM certificate chain |
//! | `--tls-key PATH` | (required) | PEM private key |
//!
//! ## Output
//!
//! Once bound, it prints `listening on IP:PORT` on stdout (flushed) and nothing else there;
//! errors go to stderr. Runs until killed.

#[path = "../lines.rs"]
mod lines;
#[path = "../runtime.rs"]
mod runtime;

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::BytesMut;
use clap::Parser;
use lines::{INITIAL_BUF, MIN_SPARE, TOO_LONG};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Line-echo server over TLS on tokio and tokio-rustls (baseline for weft benchmarks).
#[derive(Parser, Debug)]
#[command(name = "tokio-rustls-echo", version)]
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
    /// PEM certificate chain, the server's certificate first.
    #[arg(long)]
    tls_cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[arg(long)]
    tls_key: PathBuf,
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let runtime = runtime::runtime(args.workers)?;
    runtime.block_on(serve(args))
}

fn acceptor(args: &Args) -> io::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_file_iter(&args.tls_cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(io::Error::other)?;
    let key = PrivateKeyDer::from_pem_file(&args.tls_key).map_err(io::Error::other)?;
    // The same suite order as weft's server (`weft::tls`): SHA-256 suites first, the
    // server's order winning, so both negotiate the same suite with the same client.
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.sort_by_key(|suite| {
        let name = format!("{:?}", suite.suite());
        (!name.ends_with("SHA256"), name.contains("CHACHA20"))
    });
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(io::Error::other)?;
    config.ignore_client_order = true;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn serve(args: Args) -> io::Result<()> {
    let acceptor = acceptor(&args)?;
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
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    let result = match acceptor.accept(stream).await {
                        Ok(tls) => handle(tls, max_line).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = result {
                        if !matches!(
                            e.kind(),
                            io::ErrorKind::ConnectionReset
                                | io::ErrorKind::BrokenPipe
                                | io::ErrorKind::UnexpectedEof
                        ) {
                            eprintln!("connection error: {e}");
                        }
                    }
                });
            }
            Err(e) => {
                eprintln!("accept error: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

async fn handle<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    max_line: usize,
) -> io::Result<()> {
    let mut buf = BytesMut::with_capacity(INITIAL_BUF);
    let mut scanned = 0;
    loop {
        if buf.capacity() - buf.len() < MIN_SPARE {
            buf.reserve(INITIAL_BUF);
        }
        if stream.read_buf(&mut buf).await? == 0 {
            stream.shutdown().await?;
            return Ok(());
        }
        let (line_start, too_long) = lines::complete_lines(&buf, scanned, max_line);
        if line_start > 0 {
            let lines = buf.split_to(line_start);
            stream.write_all(&lines).await?;
            stream.flush().await?;
        }
        if too_long {
            stream.write_all(TOO_LONG).await?;
            stream.shutdown().await?;
            return Ok(());
        }
        scanned = buf.len();
    }
}
