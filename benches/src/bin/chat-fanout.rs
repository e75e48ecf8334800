//! `chat-fanout`: measures how many message deliveries per second a chat server fans out.
//!
//! ```text
//! chat-fanout --addr 127.0.0.1:7001 [--addr ...] [--clients 100] [--senders 10]
//!             [--messages 1000] [--size 64] [--pin-cpu N] [--timeout 120]
//! ```
//!
//! With several `--addr` (the instances of a chat cluster), the clients are spread over them
//! round-robin. Each delivery's time since the burst began is recorded: the JSON's
//! `latency_us` gives its p50, p99 and max (in a burst, how long the last deliveries wait).
//!
//! Connects `--clients` clients (each reads its `* you are` greeting), then `--senders` of
//! them each send `--messages` lines at once. Every client counts the chat lines it receives
//! from the senders (`<nick>: bench ...`), ignoring join lines; the run ends when every
//! client has received every message it is owed (all senders' messages but its own).
//! Prints deliveries, elapsed time and deliveries per second on stderr, then one JSON line
//! on stdout. Fails (exit 1) if a client is disconnected or the deadline passes.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Fan-out rate of a chat server")]
struct Args {
    /// The chat server's address (repeat it for the instances of a cluster).
    #[arg(long, required = true)]
    addr: Vec<SocketAddr>,
    /// Connected clients (every one of them receives).
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// How many of the clients send.
    #[arg(long, default_value_t = 10)]
    senders: usize,
    /// Lines each sender sends.
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Bytes of text per line.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Pin this process to a CPU.
    #[arg(long)]
    pin_cpu: Option<usize>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

fn main() {
    let args = Args::parse();
    if args.senders > args.clients || args.clients == 0 {
        eprintln!("chat-fanout: need 1 <= senders <= clients");
        std::process::exit(2);
    }
    if let Some(cpu) = args.pin_cpu {
        core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
    }
    let deadline = Duration::from_secs(args.timeout);
    let mut streams = Vec::with_capacity(args.clients);
    for c in 0..args.clients {
        let addr = args.addr[c % args.addr.len()];
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| fail(&format!("connect: {e}")));
        stream.set_read_timeout(Some(deadline)).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut hello = String::new();
        reader
            .read_line(&mut hello)
            .unwrap_or_else(|e| fail(&format!("greeting: {e}")));
        if !hello.starts_with("* you are ") {
            fail(&format!("unexpected greeting {hello:?}"));
        }
        streams.push((stream, reader));
    }
    let owed_per_sender = args.messages;
    let total_messages = args.senders * args.messages;
    let start = Arc::new(Barrier::new(args.clients + 1));
    let text = "x".repeat(args.size);
    let mut threads = Vec::new();
    for (i, (stream, mut reader)) in streams.into_iter().enumerate() {
        let is_sender = i < args.senders;
        let owed = total_messages - if is_sender { owed_per_sender } else { 0 };
        let start = start.clone();
        let text = text.clone();
        let messages = args.messages;
        threads.push(std::thread::spawn(move || {
            let writer = is_sender.then(|| {
                let mut w = stream.try_clone().unwrap();
                let start = start.clone();
                std::thread::spawn(move || {
                    let mut batch = String::with_capacity(messages * (text.len() + 20));
                    for m in 0..messages {
                        batch.push_str(&format!("bench {m} {text}\n"));
                    }
                    start.wait();
                    w.write_all(batch.as_bytes())
                        .unwrap_or_else(|e| fail(&format!("send: {e}")));
                })
            });
            if !is_sender {
                start.wait();
            }
            let began = Instant::now();
            let mut latency =
                hdrhistogram::Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
            let mut got = 0;
            let mut line = String::new();
            while got < owed {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) => fail(&format!("client {i} disconnected after {got} of {owed}")),
                    Ok(_) => {}
                    Err(e) => fail(&format!("client {i} after {got} of {owed}: {e}")),
                }
                if line.contains(": bench ") {
                    got += 1;
                    latency.saturating_record(began.elapsed().as_micros() as u64);
                }
            }
            if let Some(w) = writer {
                w.join().unwrap();
            }
            (got, latency)
        }));
    }
    start.wait();
    let began = Instant::now();
    let mut deliveries = 0;
    let mut latency = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
    for thread in threads {
        let (got, h) = thread.join().unwrap();
        deliveries += got;
        latency.add(&h).unwrap();
    }
    let elapsed = began.elapsed().as_secs_f64();
    let (p50, p99, max) = (
        latency.value_at_quantile(0.5),
        latency.value_at_quantile(0.99),
        latency.max(),
    );
    let rate = deliveries as f64 / elapsed;
    eprintln!(
        "{deliveries} deliveries ({} senders x {} messages to {} clients) in {elapsed:.3}s: {rate:.0} deliveries/s",
        args.senders, args.messages, args.clients
    );
    println!(
        "{{\"clients\":{},\"senders\":{},\"messages\":{},\"size\":{},\"instances\":{},\"deliveries\":{deliveries},\"elapsed_s\":{elapsed:.4},\"deliveries_per_s\":{rate:.1},\"latency_us\":{{\"p50\":{p50},\"p99\":{p99},\"max\":{max}}}}}",
        args.clients, args.senders, args.messages, args.size, args.addr.len()
    );
}

fn fail(message: &str) -> ! {
    eprintln!("chat-fanout: {message}");
    std::process::exit(1);
}
