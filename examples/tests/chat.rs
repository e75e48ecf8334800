//! The chat example, driven as a separate process exactly as PROTOCOLS.md describes it.

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
