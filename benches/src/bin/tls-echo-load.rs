//! # tls-echo-load
//!
//! A load generator for line-echo servers over TLS (weft's `line_echo --tls-cert`, and
//! `tokio-rustls-echo`): `--connections` TLS connections, one thread each, each writing a
//! batch of `--batch` pipelined lines of `--line` bytes and reading the whole echo back
//! before the next batch, for `--seconds`. Prints one line: messages and bytes echoed per
//! second over all connections.
//!
//! The client is rustls on ring (blocking sockets), trusting only the `--ca` PEM file and
//! checking the name `localhost`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

/// Line-echo load over TLS.
#[derive(Parser, Debug)]
#[command(name = "tls-echo-load", version)]
struct Args {
    /// The server.
    #[arg(long)]
    addr: SocketAddr,
    /// PEM file of the CA (or self-signed certificate) to trust.
    #[arg(long)]
    ca: PathBuf,
    /// Connections (one thread each).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Lines per batch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Bytes per line, newline included.
    #[arg(long, default_value_t = 64)]
    line: usize,
    /// How long to run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&args.ca).map_err(io::Error::other)? {
        roots
            .add(cert.map_err(io::Error::other)?)
            .map_err(io::Error::other)?;
    }
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let mut line = vec![b'x'; args.line.max(1)];
    *line.last_mut().expect("at least one byte") = b'\n';
    let batch: Arc<Vec<u8>> = Arc::new(line.repeat(args.batch.max(1)));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let start = Instant::now();
    let workers: Vec<_> = (0..args.connections.max(1))
        .map(|_| {
            let (config, batch, addr) = (config.clone(), batch.clone(), args.addr);
            std::thread::spawn(move || -> io::Result<u64> {
                let name = ServerName::try_from("localhost").expect("a valid name");
                let session =
                    rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
                let socket = TcpStream::connect(addr)?;
                socket.set_nodelay(true)?;
                socket.set_read_timeout(Some(Duration::from_secs(20)))?;
                let mut tls = rustls::StreamOwned::new(session, socket);
                let mut reply = vec![0u8; batch.len()];
                let mut rounds = 0u64;
                while Instant::now() < deadline {
                    tls.write_all(&batch)?;
                    tls.read_exact(&mut reply)?;
                    rounds += 1;
                }
                Ok(rounds)
            })
        })
        .collect();
    let mut rounds = 0;
    for worker in workers {
        rounds += worker.join().expect("a worker panicked")?;
    }
    let secs = start.elapsed().as_secs_f64();
    let messages = rounds * args.batch as u64;
    println!(
        "{:.0} msg/s {:.1} MB/s ({} connections, batches of {} lines of {} bytes, {:.1} s)",
        messages as f64 / secs,
        (messages * args.line as u64) as f64 / secs / 1e6,
        args.connections,
        args.batch,
        args.line,
        secs
    );
    Ok(())
}
