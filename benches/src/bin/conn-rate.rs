//! `conn-rate`: connections per second a line server takes, each a whole short life:
//! connect, (optionally) a PROXY protocol header, one line, its echo, close.
//!
//! ```text
//! conn-rate --addr 127.0.0.1:7000 [--header none|v1|v2] [--threads 4] [--duration 5]
//!           [--warmup 1] [--pin-cpu N] [--json]
//! ```
//!
//! Each thread opens connections one after another with blocking sockets: the header (when
//! asked for) and `hello\n` go in one write, the thread reads the 6-byte echo and closes.
//! The client closes first, so the `TIME_WAIT` state stays on the client's side; to keep
//! the kernel's ephemeral ports from running out at tens of thousands of connections per
//! second, threads bind their sockets to source addresses rotating over 127.0.0.2 to
//! 127.0.0.254 (all loopback). The header names the socket's real source and destination,
//! as a balancer would.
//!
//! Reported: connections per second over `--duration` seconds after `--warmup`, and the
//! p50 / p99 time of one connection's life (connect to echo). Failures (a refused connect,
//! a short echo) end the run with exit 1: a server that drops connections is not measured.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use socket2::{Domain, Socket, Type};

#[derive(Parser, Debug)]
#[command(about = "Connections per second of a line server, with or without a PROXY header")]
struct Args {
    /// The server's address.
    #[arg(long)]
    addr: SocketAddr,
    /// What each connection sends before its line.
    #[arg(long, value_enum, default_value_t = Header::None)]
    header: Header,
    /// Connecting threads (connections in flight).
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds run before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Pin this process to a CPU.
    #[arg(long)]
    pin_cpu: Option<usize>,
    /// One JSON line on stdout instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Header {
    /// Nothing: a plain connection.
    None,
    /// A version 1 (text) header.
    V1,
    /// A version 2 (binary) header.
    V2,
}

const LINE: &[u8] = b"hello\n";

struct ThreadResult {
    connections: u64,
    latency: Histogram<u64>,
}

fn main() {
    let args = Args::parse();
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if args.threads == 0
        || !positive(args.duration)
        || !(args.warmup == 0.0 || positive(args.warmup))
    {
        eprintln!("conn-rate: --threads, --duration must be positive, --warmup not negative");
        std::process::exit(2);
    }
    if let Some(cpu) = args.pin_cpu {
        core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
    }
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let measure_until = measure_from + Duration::from_secs_f64(args.duration);
    let threads: Vec<_> = (0..args.threads)
        .map(|t| {
            let stop = stop.clone();
            let (addr, header, pin) = (args.addr, args.header, args.pin_cpu);
            std::thread::spawn(move || {
                if let Some(cpu) = pin {
                    core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
                }
                run(t, addr, header, measure_from, measure_until, &stop)
            })
        })
        .collect();
    let mut connections = 0;
    let mut latency = Histogram::<u64>::new(3).unwrap();
    let mut failed = None;
    for t in threads {
        match t.join().expect("a connecting thread panicked") {
            Ok(r) => {
                connections += r.connections;
                latency.add(&r.latency).unwrap();
            }
            Err(e) => failed = Some(e),
        }
    }
    if let Some(e) = failed {
        eprintln!("conn-rate: {e}");
        std::process::exit(1);
    }
    let rate = connections as f64 / args.duration;
    let (p50, p99) = (
        latency.value_at_quantile(0.5),
        latency.value_at_quantile(0.99),
    );
    if args.json {
        println!(
            "{{\"connections\":{connections},\"conns_per_s\":{rate:.1},\"header\":\"{:?}\",\
             \"threads\":{},\"latency_us\":{{\"p50\":{p50},\"p99\":{p99}}}}}",
            args.header, args.threads
        );
    } else {
        println!(
            "{connections} connections in {:.1} s: {rate:.0}/s; life p50 {p50} us, p99 {p99} us",
            args.duration
        );
    }
}

/// One thread's loop until the measured window ends.
fn run(
    thread: usize,
    addr: SocketAddr,
    header: Header,
    measure_from: Instant,
    measure_until: Instant,
    stop: &AtomicBool,
) -> Result<ThreadResult, String> {
    let mut result = ThreadResult {
        connections: 0,
        latency: Histogram::new(3).unwrap(),
    };
    let mut source = 2 + (thread as u8 % 253);
    let mut request = Vec::with_capacity(128);
    let mut echo = [0u8; LINE.len()];
    loop {
        let began = Instant::now();
        if began >= measure_until || stop.load(Ordering::Relaxed) {
            return Ok(result);
        }
        source = if source >= 254 { 2 } else { source + 1 };
        let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, source)), 0);
        let outcome = (|| -> std::io::Result<()> {
            let mut stream = connect_from(from, addr)?;
            request.clear();
            push_header(&mut request, header, &stream)?;
            request.extend_from_slice(LINE);
            stream.write_all(&request)?;
            stream.read_exact(&mut echo)?;
            if echo != LINE {
                return Err(std::io::Error::other("a wrong echo"));
            }
            Ok(())
        })();
        if let Err(e) = outcome {
            stop.store(true, Ordering::Relaxed);
            return Err(format!("a connection from {from} failed: {e}"));
        }
        let done = Instant::now();
        if began >= measure_from && done <= measure_until {
            result.connections += 1;
            let _ = result
                .latency
                .record(done.duration_since(began).as_micros() as u64);
        }
    }
}

fn connect_from(from: SocketAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&from.into())?;
    socket.connect_timeout(&to.into(), Duration::from_secs(5))?;
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(stream)
}

/// Appends the header this connection begins with (naming its real endpoints).
fn push_header(out: &mut Vec<u8>, header: Header, stream: &TcpStream) -> std::io::Result<()> {
    let (src, dst) = (stream.local_addr()?, stream.peer_addr()?);
    match header {
        Header::None => {}
        Header::V1 => {
            let _ = write!(
                out,
                "PROXY TCP4 {} {} {} {}\r\n",
                src.ip(),
                dst.ip(),
                src.port(),
                dst.port()
            );
        }
        Header::V2 => out.extend_from_slice(&weft_codec::proxy_protocol::encode_v2(src, dst)),
    }
    Ok(())
}
