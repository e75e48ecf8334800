//! A real `redis-server` for tests (feature `test-util`): started on a port, killed when
//! dropped. Needs Debian's `redis-server` on the PATH (`scripts/test.sh` installs it).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long [`RedisServer::start`] waits for the server to answer.
const START_WAIT: Duration = Duration::from_secs(20);

/// A `redis-server` process on 127.0.0.1 with persistence off, killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts one on `port` and waits until it answers `PING`. Panics (it is for tests)
    /// when `redis-server` is missing or does not answer within 20 s.
    pub fn start(port: u16) -> RedisServer {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server; scripts/test.sh installs it)");
        let server = RedisServer { child, port };
        let deadline = Instant::now() + START_WAIT;
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.set_read_timeout(Some(START_WAIT));
                let _ = s.write_all(b"PING\r\n");
                let mut pong = [0u8; 7];
                if s.read_exact(&mut pong).is_ok() && &pong == b"+PONG\r\n" {
                    return server;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A port that was free a moment ago, for one.
    pub fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port on 127.0.0.1")
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it (as a crash would) and returns its port, to start another there.
    pub fn kill(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
