//! The chat example, driven as a separate process exactly as docs/protocols.md describes it.

mod common;

use std::io::Write;

use common::{Client, ExampleServer};

#[test]
fn the_protocol_end_to_end() {
    let server = ExampleServer::start("chat", &[]);
    let mut a = Client::connect(&server);
    let mut b = Client::connect(&server);
    a.expect(&format!("* {} joined", b.nick));

    a.send("hello there\r\n");
    b.expect(&format!("{}: hello there", a.nick));
    // Empty lines (also a bare \r\n) are ignored; the sender never hears itself.
    a.send("\r\n\n/who\n");
    let mut nicks = [a.nick.clone(), b.nick.clone()];
    nicks.sort();
    a.expect(&format!("* online: {}", nicks.join(" ")));

    for bad in ["/whois", "/who me", "/QUIT", "/nickname", "/"] {
        b.send(&format!("{bad}\n"));
        b.expect("ERR unknown command");
    }
    b.send("/nick\n");
    b.expect("ERR invalid nick");
    b.send("/nick bad name\n");
    b.expect("ERR invalid nick");
    b.send(&format!("/nick {}\n", "x".repeat(33)));
    b.expect("ERR invalid nick");
    b.send(&format!("/nick {}\n", a.nick));
    b.expect("ERR nick taken");

    b.send("/nick Bob_the-2nd\n");
    let renamed = format!("* {} is now Bob_the-2nd", b.nick);
    b.expect(&renamed);
    a.expect(&renamed);
    b.nick = "Bob_the-2nd".into();
    b.send("/nick Bob_the-2nd\n"); // renaming to one's own nick is announced too
    b.expect("* Bob_the-2nd is now Bob_the-2nd");
    a.expect("* Bob_the-2nd is now Bob_the-2nd");

    // A chosen nick is never handed to a newcomer while its holder is connected.
    let mut c = Client::connect(&server);
    assert_ne!(c.nick, b.nick);
    a.expect(&format!("* {} joined", c.nick));
    b.expect(&format!("* {} joined", c.nick));

    c.send("/quit\n");
    c.expect("* bye");
    c.expect_closed();
    a.expect(&format!("* {} left", c.nick));
    b.expect(&format!("* {} left", c.nick));

    // A line over --max-line: ERR, closed, and the others are told.
    b.send(&format!("{}\n", "y".repeat(5000)));
    b.expect("ERR line too long");
    b.expect_closed();
    a.expect("* Bob_the-2nd left");
    a.send("/who\n");
    a.expect(&format!("* online: {}", a.nick));
}

#[test]
fn three_senders_reach_five_receivers_in_order_across_reactors() {
    let server = ExampleServer::start("chat", &[]);
    let mut receivers: Vec<Client> = Vec::new();
    for _ in 0..5 {
        let newcomer = Client::connect(&server);
        for r in &mut receivers {
            r.expect(&format!("* {} joined", newcomer.nick));
        }
        receivers.push(newcomer);
    }
    let mut senders: Vec<Client> = Vec::new();
    for _ in 0..3 {
        let newcomer = Client::connect(&server);
        for r in receivers.iter_mut().chain(senders.iter_mut()) {
            r.expect(&format!("* {} joined", newcomer.nick));
        }
        senders.push(newcomer);
    }
    let nicks: Vec<String> = senders.iter().map(|s| s.nick.clone()).collect();
    let writers: Vec<_> = senders
        .iter()
        .map(|s| {
            let mut w = s.writer.try_clone().unwrap();
            std::thread::spawn(move || {
                let mut batch = String::new();
                for i in 0..1000 {
                    batch.push_str(&format!("message {i}\n"));
                }
                w.write_all(batch.as_bytes()).unwrap();
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    for r in &mut receivers {
        let mut next = [0usize; 3];
        for _ in 0..3000 {
            let line = r.line();
            let (nick, text) = line.split_once(": ").expect("a message line");
            let s = nicks
                .iter()
                .position(|n| n == nick)
                .expect("a known sender");
            assert_eq!(
                text,
                format!("message {}", next[s]),
                "out of order from {nick}"
            );
            next[s] += 1;
        }
        assert_eq!(next, [1000; 3]);
    }
}

#[test]
fn a_client_that_never_reads_is_disconnected_and_costs_bounded_memory() {
    let server = ExampleServer::start("chat", &["--max-pending", "65536"]);
    let mut talker = Client::connect(&server);
    let mut listener = Client::connect(&server);
    talker.expect(&format!("* {} joined", listener.nick));
    let sleeper = Client::connect(&server); // never reads again
    talker.expect(&format!("* {} joined", sleeper.nick));
    listener.expect(&format!("* {} joined", sleeper.nick));
    let baseline = server.rss_bytes();

    // Far more than the kernel's socket buffers and --max-pending together, sent in small
    // batches that the listener reads before the next, so only the sleeper falls behind.
    let text = "z".repeat(200);
    let (batches, per_batch) = (400, 100);
    let mut left_seen = false;
    let mut seq = 0;
    for _ in 0..batches {
        let mut batch = String::new();
        for i in seq..seq + per_batch {
            batch.push_str(&format!("{i} {text}\n"));
        }
        talker.send(&batch);
        let mut got = 0;
        while got < per_batch {
            let line = listener.line();
            if line == format!("* {} left", sleeper.nick) {
                left_seen = true;
                continue;
            }
            let expected_prefix = format!("{}: {seq} ", talker.nick);
            assert!(line.starts_with(&expected_prefix), "got {line:?}");
            seq += 1;
            got += 1;
        }
    }
    if !left_seen {
        listener.expect(&format!("* {} left", sleeper.nick));
    }
    talker.expect(&format!("* {} left", sleeper.nick));
    let growth = server.rss_bytes().saturating_sub(baseline);
    assert!(growth < 32 << 20, "server RSS grew by {growth} bytes");
    drop(sleeper);
}

/// Caps a socket's receive buffer (so that a client that never reads stops the server's
/// sends after a few kilobytes, instead of after what the kernel's autotuning allows).
fn cap_receive_buffer(stream: &std::net::TcpStream, bytes: i32) {
    use std::os::fd::AsRawFd;
    // SAFETY: setsockopt on a descriptor we own, with a pointer to a local int and its size.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&bytes as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt(SO_RCVBUF)");
}

/// The burst a sender writes: `lines` numbered lines, padded, in one buffer.
fn burst(lines: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines * 48);
    for i in 0..lines {
        out.extend_from_slice(format!("{i} {}\n", "x".repeat(40)).as_bytes());
    }
    out
}

/// Checks one chat message line against the per-sender sequence `next`: it must come
/// from one of `senders` and carry exactly the next number of that sender. Announcement
/// lines (`* ...`) are not messages: `None`.
fn check_message(line: &str, senders: &[String], next: &mut [usize], who: &str) -> Option<()> {
    if line.starts_with("* ") {
        return None;
    }
    let (nick, text) = line
        .split_once(": ")
        .unwrap_or_else(|| panic!("{who}: not a message line: {line:?}"));
    let s = senders
        .iter()
        .position(|n| n == nick)
        .unwrap_or_else(|| panic!("{who}: message from unexpected {nick:?}"));
    let (seq, pad) = text.split_once(' ').expect("numbered line");
    assert_eq!(pad.len(), 40, "{who}: torn message {line:?}");
    assert_eq!(
        seq.parse::<usize>().unwrap(),
        next[s],
        "{who}: gap or reordering in {nick}'s messages"
    );
    next[s] += 1;
    Some(())
}

/// Reads `client` until it has every one of `lines` messages from each of `senders` (but
/// itself), in per-sender order, and has seen the `* <nick> left` of every nick in
/// `leavers`.
fn read_everything(
    mut client: Client,
    senders: Vec<String>,
    lines: usize,
    leavers: Vec<String>,
) -> std::thread::JoinHandle<Client> {
    std::thread::spawn(move || {
        let who = client.nick.clone();
        let from: Vec<String> = senders.into_iter().filter(|s| *s != who).collect();
        let mut next = vec![0; from.len()];
        let mut left: Vec<String> = leavers.iter().map(|n| format!("* {n} left")).collect();
        while next.iter().any(|&n| n < lines) || !left.is_empty() {
            let line = client.line();
            if check_message(&line, &from, &mut next, &who).is_none() {
                left.retain(|l| *l != line);
            }
        }
        client
    })
}

// The burst tests run at the default `--max-pending` (1 MiB). The receivers sit on the
// other reactor than the senders; when that reactor falls behind (it does the per-receiver
// work, on a 2-core box shared with the test's own threads), the broadcasts waiting in its
// inbox are the senders' doing, not the readers': the core slows the senders (their reading
// pauses until the inbox drains) and judges each receiver on its own queue alone, so a
// reader that reads everything is never dropped. (The first version of these tests needed
// 8 MiB of headroom, before the core had that congestion control.)

#[test]
fn bursting_senders_reach_every_reader_in_order_and_the_one_that_never_reads_is_dropped() {
    let lines = 100_000;
    let server = ExampleServer::start("chat", &["--workers", "2"]);
    // Connections alternate reactors: the senders (even) all land on reactor 0, the
    // receivers (odd) on reactor 1; the senders receive each other's messages too.
    let mut senders = Vec::new();
    let mut readers = Vec::new();
    let mut sleeper = None;
    for i in 0..8 {
        let client = Client::connect(&server);
        match i {
            5 => {
                cap_receive_buffer(&client.writer, 4096);
                sleeper = Some(client);
            }
            _ if i % 2 == 0 => senders.push(client),
            _ => readers.push(client),
        }
    }
    let sleeper = sleeper.unwrap();
    let nicks: Vec<String> = senders.iter().map(|s| s.nick.clone()).collect();
    let writers: Vec<_> = senders
        .iter()
        .map(|s| {
            let mut w = s.writer.try_clone().unwrap();
            std::thread::spawn(move || w.write_all(&burst(lines)).unwrap())
        })
        .collect();
    let leavers = vec![sleeper.nick.clone()];
    let all: Vec<_> = senders
        .into_iter()
        .chain(readers)
        .map(|c| read_everything(c, nicks.clone(), lines, leavers.clone()))
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    for r in all {
        r.join().unwrap();
    }

    // What the sleeper did receive before it was dropped has no gap either. (Let its
    // window open first, or the kernel's last few megabytes trickle in for minutes.)
    let mut sleeper = sleeper;
    cap_receive_buffer(&sleeper.writer, 4 << 20);
    let mut next = vec![0; nicks.len()];
    let mut line = String::new();
    loop {
        line.clear();
        match std::io::BufRead::read_line(&mut sleeper.reader, &mut line) {
            Ok(0) => break,
            Ok(_) if !line.ends_with('\n') => break, // cut off mid-line by the close
            Ok(_) => {
                line.pop();
                check_message(&line, &nicks, &mut next, "sleeper");
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("sleeper: {e}"),
        }
    }
    assert!(
        next.iter().any(|&n| n < lines),
        "the sleeper got everything: it was never dropped ({next:?})"
    );
}

#[test]
fn newcomers_during_a_burst_are_all_greeted() {
    const LINES: usize = 100_000;
    let server = ExampleServer::start("chat", &["--workers", "2"]);
    let senders: Vec<Client> = (0..2).map(|_| Client::connect(&server)).collect();
    let reader = Client::connect(&server);
    let nicks: Vec<String> = senders.iter().map(|s| s.nick.clone()).collect();
    let writers: Vec<_> = senders
        .iter()
        .map(|s| {
            let mut w = s.writer.try_clone().unwrap();
            std::thread::spawn(move || w.write_all(&burst(LINES)).unwrap())
        })
        .collect();
    let readers: Vec<_> = senders
        .into_iter()
        .chain([reader])
        .map(|c| read_everything(c, nicks.clone(), LINES, Vec::new()))
        .collect();
    let server = std::sync::Arc::new(server);
    let newcomers: Vec<_> = (0..4)
        .map(|_| {
            let server = server.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    // Reads `* you are guest<N>` first, within the bounded wait.
                    drop(Client::connect(&server));
                }
            })
        })
        .collect();
    for n in newcomers {
        n.join().unwrap();
    }
    for w in writers {
        w.join().unwrap();
    }
    for r in readers {
        r.join().unwrap();
    }
}

#[test]
fn a_slow_client_of_small_messages_holds_about_max_pending_of_memory() {
    const MAX_PENDING: u64 = 32 << 20;
    let server = ExampleServer::start("chat", &["--max-pending", &MAX_PENDING.to_string()]);
    let mut talker = Client::connect(&server);
    let sleeper = Client::connect(&server); // never reads
    cap_receive_buffer(&sleeper.writer, 4096);
    talker.expect(&format!("* {} joined", sleeper.nick));
    let baseline = server.rss_bytes();

    // 2-byte messages until the sleeper is dropped: each is queued for it as its own
    // chunk, so what it holds is mostly bookkeeping, which the limit must count.
    let mut w = talker.writer.try_clone().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let batch = b"a\n".repeat(64 * 1024);
            for _ in 0..200 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) || w.write_all(&batch).is_err() {
                    return;
                }
            }
        }
    });
    talker.expect(&format!("* {} left", sleeper.nick));
    // The flood ends before the talker speaks again: two writers on one socket could
    // interleave mid-line, and what is still unsent would be read before `/who`.
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flood.join().unwrap();
    let growth = server.peak_rss_bytes().saturating_sub(baseline);
    eprintln!(
        "server RSS grew by {growth} bytes, {:.2} x --max-pending",
        growth as f64 / MAX_PENDING as f64
    );
    assert!(
        growth < MAX_PENDING * 3 / 2,
        "server RSS grew by {growth} bytes for a --max-pending of {MAX_PENDING}"
    );
    // The talker was never the slow one: it is still served.
    talker.send("/who\n");
    talker.expect(&format!("* online: {}", talker.nick));
    drop(sleeper);
}
