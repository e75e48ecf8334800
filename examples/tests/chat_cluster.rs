//! chat's cluster mode, driven as separate processes with a real redis-server started by
//! the tests, as docs/protocols.md ("chat cluster") describes it, and the deployment of
//! docs/scaling.md: three instances behind a real HAProxy passing PROXY v2 headers.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::haproxy::{free_port, Haproxy};
use common::{metric_sum, Client, ExampleServer, WAIT};
use weft_redis::testing::RedisServer;

fn instance(redis: &RedisServer, name: &str) -> ExampleServer {
    let target = format!("127.0.0.1:{}", redis.port());
    ExampleServer::start(
        "chat",
        &["--cluster-redis", &target, "--cluster-name", name],
    )
}

/// Reads lines until one equals `want` (other events may come first), within WAIT.
fn wait_for(client: &mut Client, want: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let line = client.line();
        if line == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never got {want:?} (last {line:?})"
        );
    }
}

#[test]
fn one_room_across_three_instances_with_unique_nicks_and_per_sender_order() {
    let redis = RedisServer::start(RedisServer::free_port());
    let servers: Vec<_> = (0..3).map(|_| instance(&redis, "t1")).collect();
    let mut a = Client::connect(&servers[0]);
    let mut b = Client::connect(&servers[1]);
    wait_for(&mut a, &format!("* {} joined", b.nick));
    let mut c = Client::connect(&servers[2]);
    wait_for(&mut a, &format!("* {} joined", c.nick));
    wait_for(&mut b, &format!("* {} joined", c.nick));
    let nicks = [a.nick.clone(), b.nick.clone(), c.nick.clone()];
    assert!(
        nicks[0] != nicks[1] && nicks[1] != nicks[2] && nicks[0] != nicks[2],
        "{nicks:?}"
    );

    // A message reaches the other instances, in the sender's order.
    for i in 0..200 {
        a.send(&format!("m{i}\n"));
    }
    for receiver in [&mut b, &mut c] {
        for i in 0..200 {
            receiver.expect(&format!("{}: m{i}", nicks[0]));
        }
    }
    // Renames are cluster-wide, and a nick held on another instance is taken.
    b.send("/nick bob\n");
    b.expect(&format!("* {} is now bob", nicks[1]));
    a.expect(&format!("* {} is now bob", nicks[1]));
    c.expect(&format!("* {} is now bob", nicks[1]));
    c.send("/nick bob\n");
    c.expect("ERR nick taken");
    // /who lists everyone, on every instance.
    c.send("/who\n");
    let mut all = [nicks[0].clone(), "bob".to_string(), nicks[2].clone()];
    all.sort();
    c.expect(&format!("* online: {}", all.join(" ")));
    // A leave reaches everyone; the nick is free again.
    b.send("/quit\n");
    b.expect("* bye");
    a.expect("* bob left");
    c.expect("* bob left");
    c.send("/nick bob\n");
    c.expect(&format!("* {} is now bob", nicks[2]));
    a.expect(&format!("* {} is now bob", nicks[2]));
}

#[test]
fn a_flood_from_one_sender_reaches_the_other_instances_whole_and_in_order() {
    // 50,000 lines in a few writes: several times what the Redis link keeps in flight
    // (4,096 publishes), so the instance must hold the sender back, not drop events.
    const LINES: usize = 50_000;
    let redis = RedisServer::start(RedisServer::free_port());
    let one = instance(&redis, "flood");
    let two = instance(&redis, "flood");
    let mut sender = Client::connect(&one);
    let mut receiver = Client::connect(&two);
    wait_for(&mut sender, &format!("* {} joined", receiver.nick));
    let mut w = sender.writer.try_clone().unwrap();
    let flood = std::thread::spawn(move || {
        let all: String = (0..LINES).map(|i| format!("f{i}\n")).collect();
        w.write_all(all.as_bytes()).unwrap();
    });
    // The sender's own join may reach the receiver's instance after the receiver joined.
    wait_for(&mut receiver, &format!("{}: f0", sender.nick));
    for i in 1..LINES {
        receiver.expect(&format!("{}: f{i}", sender.nick));
    }
    flood.join().unwrap();
    // The sender is read again once the backlog drained.
    sender.send("/who\n");
    let mut both = [sender.nick.clone(), receiver.nick.clone()];
    both.sort();
    sender.expect(&format!("* online: {}", both.join(" ")));
}

#[test]
fn with_redis_down_a_flood_of_local_chat_holds_no_memory_for_the_cluster() {
    // 200,000 lines (5 MB) while Redis is away: nothing may wait for it (the loss the
    // protocol allows is exactly these publishes), so the instance's memory stays flat.
    const LINES: usize = 200_000;
    let redis = RedisServer::start(RedisServer::free_port());
    let one = instance(&redis, "outage");
    let mut a = Client::connect(&one);
    let mut b = Client::connect(&one);
    wait_for(&mut a, &format!("* {} joined", b.nick));
    let _port = redis.kill();
    let deadline = Instant::now() + WAIT;
    loop {
        // Until the instance has seen the link drop, /nick still goes to Redis.
        a.send("/nick x\n");
        let answer = a.line();
        if answer == "ERR cluster unavailable" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the outage never showed: {answer:?}"
        );
        if answer.ends_with(" is now x") {
            a.nick = "x".into();
            wait_for(&mut b, &answer);
        }
    }
    let baseline = one.rss_bytes();
    let mut w = a.writer.try_clone().unwrap();
    let flood = std::thread::spawn(move || {
        let all: String = (0..LINES).map(|i| format!("outage line {i}\n")).collect();
        w.write_all(all.as_bytes()).unwrap();
    });
    wait_for(&mut b, &format!("{}: outage line 0", a.nick));
    for i in 1..LINES {
        b.expect(&format!("{}: outage line {i}", a.nick));
    }
    flood.join().unwrap();
    let growth = one.peak_rss_bytes().saturating_sub(baseline);
    eprintln!("RSS grew by {growth} bytes over {LINES} lines with Redis down");
    assert!(
        growth < 8 << 20,
        "RSS grew by {growth} bytes with Redis down"
    );
}

#[test]
fn a_killed_instance_s_nicks_are_freed_and_announced_within_15_s() {
    let redis = RedisServer::start(RedisServer::free_port());
    let survivor = instance(&redis, "t2");
    let doomed = instance(&redis, "t2");
    let mut a = Client::connect(&survivor);
    let mut x = Client::connect(&doomed);
    wait_for(&mut a, &format!("* {} joined", x.nick));
    x.send("/nick victim\n");
    // a's own join may reach x's instance after x joined: x can hear it first.
    let renamed = format!("* {} is now victim", x.nick);
    wait_for(&mut x, &renamed);
    a.expect(&format!("* {} is now victim", x.nick));
    let mut doomed = doomed;
    let killed = Instant::now();
    doomed.child.kill().unwrap(); // SIGKILL: no goodbye
    let _ = doomed.child.wait();
    a.reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    a.expect("* victim left");
    assert!(killed.elapsed() < Duration::from_secs(15));
    a.send("/nick victim\n");
    a.expect(&format!("* {} is now victim", a.nick));
    std::mem::forget(doomed); // already reaped
}

#[test]
fn with_redis_down_local_chat_goes_on_newcomers_are_refused_and_all_returns_within_5_s() {
    let redis = RedisServer::start(RedisServer::free_port());
    let one = instance(&redis, "t3");
    let two = instance(&redis, "t3");
    let mut a = Client::connect(&one);
    let mut a2 = Client::connect(&one);
    wait_for(&mut a, &format!("* {} joined", a2.nick));
    let mut b = Client::connect(&two);
    wait_for(&mut a, &format!("* {} joined", b.nick));

    let port = redis.kill();
    // Give the instances the moment it takes to see the link drop (a read of 0).
    let deadline = Instant::now() + WAIT;
    loop {
        let mut n = Client::connect_plain(&one);
        let first = n.line();
        if first == "ERR cluster unavailable" {
            n.expect_closed();
            break;
        }
        assert!(
            Instant::now() < deadline,
            "newcomers still served with Redis down"
        );
        // It was served (it came before the drop was seen): say goodbye.
        let nick = first.trim_start_matches("* you are ").to_string();
        n.send("/quit\n");
        wait_for(&mut a, &format!("* {nick} left"));
    }
    a.send("/nick nobody\n");
    a.expect("ERR cluster unavailable");
    // Local chat goes on.
    a.send("still here\n");
    wait_for(&mut a2, &format!("{}: still here", a.nick));

    // Redis comes back (empty): within 5 s the instances are joined again and delivery
    // across them resumes, with their nicks restored.
    let _redis = RedisServer::start(port);
    let back = Instant::now();
    loop {
        a.send("across?\n");
        b.reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut line = String::new();
        use std::io::BufRead;
        if b.reader.read_line(&mut line).is_ok() && line == format!("{}: across?\n", a.nick) {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "delivery did not resume"
        );
    }
    assert!(back.elapsed() < Duration::from_secs(5) + Duration::from_millis(600));
    // The instances' nicks are back in the (restarted, empty) Redis within those 5 s too.
    let mut expected = [a.nick.clone(), a2.nick.clone(), b.nick.clone()];
    expected.sort();
    let want = format!("* online: {}", expected.join(" "));
    b.reader.get_ref().set_read_timeout(Some(WAIT)).unwrap();
    loop {
        b.send("/who\n");
        let mut line = b.line();
        while !line.starts_with("* online: ") {
            line = b.line(); // "across?" lines still arriving
        }
        if line == want {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "nicks not restored: {line:?}"
        );
    }
}

#[test]
fn an_instance_waits_for_redis_before_listening() {
    let port = RedisServer::free_port();
    let bin = common::example_binary("chat");
    let mut child = std::process::Command::new(bin)
        .args([
            "--addr",
            "127.0.0.1:0",
            "--cluster-redis",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(1)).is_err(),
        "listening before the cluster was joined"
    );
    let _redis = RedisServer::start(port);
    let line = rx.recv_timeout(WAIT).expect("listening once Redis is up");
    assert!(line.starts_with("listening on "), "{line:?}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn three_instances_behind_haproxy_with_proxy_protocol_are_one_room() {
    let redis = RedisServer::start(RedisServer::free_port());
    let target = format!("127.0.0.1:{}", redis.port());
    let instances: Vec<(ExampleServer, std::net::SocketAddr)> = (0..3)
        .map(|_| {
            ExampleServer::start_with_metrics(
                "chat",
                &[
                    "--cluster-redis",
                    &target,
                    "--cluster-name",
                    "lb",
                    "--proxy-protocol",
                ],
            )
        })
        .collect();
    // `ready` has no server: connecting to it tells HAProxy is up without sending a
    // connection (and a header) to an instance.
    let (front, ready) = (free_port(), free_port());
    let mut config = format!(
        "global\n    maxconn 1000\n\
         defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n\
         listen ready\n    bind 127.0.0.1:{ready}\n\
         listen chat\n    bind 127.0.0.1:{front}\n    balance roundrobin\n"
    );
    for (i, (instance, _)) in instances.iter().enumerate() {
        config += &format!("    server chat{i} {} send-proxy-v2\n", instance.addr);
    }
    let _haproxy = Haproxy::start(&config, &[ready]);
    let front: std::net::SocketAddr = ([127, 0, 0, 1], front).into();

    // Three clients through the balancer: one on each instance (round robin), each with a
    // cluster-wide unique guest nick.
    let mut a = Client::connect_to(front);
    let mut b = Client::connect_to(front);
    wait_for(&mut a, &format!("* {} joined", b.nick));
    let mut c = Client::connect_to(front);
    wait_for(&mut a, &format!("* {} joined", c.nick));
    wait_for(&mut b, &format!("* {} joined", c.nick));
    for (instance, metrics) in &instances {
        assert_eq!(
            metric_sum(*metrics, "weft_proxy_headers_total"),
            1,
            "instance {} did not serve exactly one client",
            instance.addr
        );
    }
    assert!(a.nick != b.nick && b.nick != c.nick && a.nick != c.nick);

    // One room: every message reaches the clients on the other instances, in order.
    for i in 0..100 {
        a.send(&format!("m{i}\n"));
        c.send(&format!("n{i}\n"));
    }
    for i in 0..100 {
        c.expect(&format!("{}: m{i}", a.nick));
        a.expect(&format!("{}: n{i}", c.nick));
    }
    // b hears both senders, interleaved, each in its own order.
    let (mut from_a, mut from_c) = (0, 0);
    while from_a < 100 || from_c < 100 {
        let line = b.line();
        if line == format!("{}: m{from_a}", a.nick) {
            from_a += 1;
        } else if line == format!("{}: n{from_c}", c.nick) {
            from_c += 1;
        } else {
            panic!("{line:?} out of order (next m{from_a}, n{from_c})");
        }
    }
    b.send("/who\n");
    let mut everyone = [a.nick.clone(), b.nick.clone(), c.nick.clone()];
    everyone.sort();
    wait_for(&mut b, &format!("* online: {}", everyone.join(" ")));

    // The instances trust only the header: a direct connection without one gets no
    // greeting and is closed.
    let mut direct = Client::connect_plain(&instances[0].0);
    direct.expect_closed();
}
