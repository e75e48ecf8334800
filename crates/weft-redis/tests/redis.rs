//! The Redis client against a real redis-server (Debian's `redis-server`, installed by
//! scripts/test.sh), started by the tests on free ports.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use weft::codec::RespValue;
use weft::Client;
use weft_redis::testing::RedisServer;
use weft_redis::{Redis, RedisConfig, RedisError, Subscriber};

const WAIT: Duration = Duration::from_secs(20);

fn config(port: u16) -> RedisConfig {
    let mut config = RedisConfig::new(&format!("127.0.0.1:{port}")).unwrap();
    config.backoff_max = Duration::from_millis(200);
    config
}

fn call(redis: &Redis, args: &[&'static str]) -> Result<RespValue, RedisError> {
    let (tx, rx) = mpsc::channel();
    redis.command(args.to_vec(), move |reply| {
        let _ = tx.send(reply);
    })?;
    rx.recv_timeout(WAIT).expect("a reply")
}

#[test]
fn commands_pipeline_in_order_and_errors_come_back_as_errors() {
    let server = RedisServer::start(RedisServer::free_port());
    let runtime = Client::builder().reactors(1).build_client().unwrap();
    let redis = Redis::start(runtime.dialer(), config(server.port()), |_| {});
    assert!(redis.wait_up(WAIT));
    assert_eq!(
        call(&redis, &["SET", "k", "v"]),
        Ok(RespValue::simple("OK"))
    );
    assert_eq!(call(&redis, &["GET", "k"]), Ok(RespValue::Bulk("v".into())));
    assert!(
        matches!(call(&redis, &["NOSUCHCOMMAND"]), Err(RedisError::Server(m)) if m.starts_with("ERR"))
    );
    // 1,000 INCRs sent at once from this thread: the replies come back 1..=1000 in order.
    let (tx, rx) = mpsc::channel();
    for _ in 0..1000 {
        let tx = tx.clone();
        redis
            .command(["INCR", "counter"], move |reply| {
                let _ = tx.send(reply);
            })
            .unwrap();
    }
    for expected in 1..=1000 {
        assert_eq!(
            rx.recv_timeout(WAIT).unwrap(),
            Ok(RespValue::Integer(expected))
        );
    }
    assert_eq!(redis.in_flight(), 0);
    runtime.shutdown(Duration::from_secs(1));
}

#[test]
fn in_flight_is_bounded() {
    let server = RedisServer::start(RedisServer::free_port());
    let runtime = Client::builder().reactors(1).build_client().unwrap();
    let mut cfg = config(server.port());
    cfg.max_in_flight = 4;
    let redis = Redis::start(runtime.dialer(), cfg, |_| {});
    assert!(redis.wait_up(WAIT));
    // Four slow commands hold every place; a fifth is refused at once.
    let (tx, rx) = mpsc::channel();
    for _ in 0..4 {
        let tx = tx.clone();
        redis
            .command(["BLPOP", "nothing", "1"], move |r| {
                let _ = tx.send(r);
            })
            .unwrap();
    }
    assert_eq!(redis.command(["PING"], |_| {}), Err(RedisError::Busy));
    for _ in 0..4 {
        assert_eq!(rx.recv_timeout(WAIT).unwrap(), Ok(RespValue::Null));
    }
    assert_eq!(call(&redis, &["PING"]), Ok(RespValue::simple("PONG")));
    runtime.shutdown(Duration::from_secs(1));
}

#[test]
fn when_ready_runs_once_half_the_places_are_free_or_the_link_is_down() {
    let server = RedisServer::start(RedisServer::free_port());
    let runtime = Client::builder().reactors(1).build_client().unwrap();
    let mut cfg = config(server.port());
    cfg.max_in_flight = 4;
    let redis = Redis::start(runtime.dialer(), cfg.clone(), |_| {});
    let pusher = Redis::start(runtime.dialer(), cfg, |_| {});
    assert!(redis.wait_up(WAIT) && pusher.wait_up(WAIT));
    // Four commands that wait for a push each (Redis serves them one after another).
    let (tx, replies) = mpsc::channel();
    for key in ["k1", "k2", "k3", "k4"] {
        let tx = tx.clone();
        redis
            .command(["BLPOP", key, "0"], move |r| {
                let _ = tx.send(r);
            })
            .unwrap();
    }
    assert_eq!(redis.command(["PING"], |_| {}), Err(RedisError::Busy));
    let (ready_tx, ready) = mpsc::channel();
    redis.when_ready(move || ready_tx.send(()).unwrap());
    assert!(ready.try_recv().is_err(), "ran with every place taken");

    // One answered: three in flight, more than half of four.
    assert_eq!(
        call(&pusher, &["LPUSH", "k1", "a"]),
        Ok(RespValue::Integer(1))
    );
    assert!(replies.recv_timeout(WAIT).unwrap().is_ok());
    assert!(
        ready.try_recv().is_err(),
        "ran with three of four places taken"
    );
    // Two answered: half free, and the waiter runs (on the client's waker thread).
    assert_eq!(
        call(&pusher, &["LPUSH", "k2", "b"]),
        Ok(RespValue::Integer(1))
    );
    assert!(replies.recv_timeout(WAIT).unwrap().is_ok());
    ready
        .recv_timeout(WAIT)
        .expect("the waiter ran when half the places came free");
    assert!(redis.command(["PING"], |_| {}).is_ok());

    // With the link down there is nothing to wait for: it runs at once.
    let _port = server.kill();
    let deadline = Instant::now() + WAIT;
    while redis.is_up() {
        assert!(Instant::now() < deadline, "the link never went down");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (down_tx, down) = mpsc::channel();
    redis.when_ready(move || down_tx.send(()).unwrap());
    down.try_recv().expect("ran at once with the link down");
    runtime.shutdown(Duration::from_secs(1));
}

#[test]
fn a_restarted_server_is_reconnected_and_waiting_commands_hear_down() {
    let server = RedisServer::start(RedisServer::free_port());
    let runtime = Client::builder().reactors(1).build_client().unwrap();
    let (states_tx, states) = mpsc::channel();
    let redis = Redis::start(runtime.dialer(), config(server.port()), move |up| {
        let _ = states_tx.send(up);
    });
    assert!(redis.wait_up(WAIT));
    assert!(states.recv_timeout(WAIT).unwrap());
    // A command waiting when the server dies is answered Down.
    let (tx, rx) = mpsc::channel();
    redis
        .command(["BLPOP", "nothing", "10"], move |r| {
            let _ = tx.send(r);
        })
        .unwrap();
    let port = server.kill();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Err(RedisError::Down));
    assert!(!states.recv_timeout(WAIT).unwrap());
    assert_eq!(
        call(&redis, &["PING"]),
        Err(RedisError::Down),
        "fails at once while down"
    );
    let _again = RedisServer::start(port);
    assert!(states.recv_timeout(WAIT).unwrap(), "back up");
    assert_eq!(call(&redis, &["PING"]), Ok(RespValue::simple("PONG")));
    runtime.shutdown(Duration::from_secs(1));
}

#[test]
fn a_subscriber_gets_every_message_and_resubscribes_after_a_restart() {
    let server = RedisServer::start(RedisServer::free_port());
    let runtime = Client::builder().reactors(1).build_client().unwrap();
    let redis = Redis::start(runtime.dialer(), config(server.port()), |_| {});
    let (messages_tx, messages) = mpsc::channel();
    let subscriber = Subscriber::start(
        runtime.dialer(),
        config(server.port()),
        vec!["room".into()],
        move |channel, payload| {
            let _ = messages_tx.send((channel, payload));
        },
        |_| {},
    );
    assert!(redis.wait_up(WAIT) && subscriber.wait_up(WAIT));
    for i in 0..100 {
        let msg: &'static str = Box::leak(format!("m{i}").into_boxed_str());
        assert_eq!(
            call(&redis, &["PUBLISH", "room", msg]),
            Ok(RespValue::Integer(1))
        );
    }
    for i in 0..100 {
        let (channel, payload) = messages.recv_timeout(WAIT).unwrap();
        assert_eq!(
            (&channel[..], &payload[..]),
            (&b"room"[..], format!("m{i}").as_bytes())
        );
    }
    let port = server.kill();
    let _again = RedisServer::start(port);
    assert!(redis.wait_up(WAIT));
    let deadline = Instant::now() + WAIT;
    // Resubscribed: a message published now arrives.
    loop {
        if subscriber.is_up()
            && call(&redis, &["PUBLISH", "room", "after"]) == Ok(RespValue::Integer(1))
        {
            break;
        }
        assert!(Instant::now() < deadline, "not resubscribed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, payload) = messages.recv_timeout(WAIT).unwrap();
    assert_eq!(&payload[..], b"after");
    runtime.shutdown(Duration::from_secs(1));
}
