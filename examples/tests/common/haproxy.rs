//! A real HAProxy (Debian `haproxy`, installed by scripts/test.sh) for the tests that put
//! samples behind a load balancer.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::WAIT;

pub fn haproxy_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("haproxy"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`haproxy` (Debian package haproxy) is not installed: run ./scripts/test.sh, \
                 which installs the tools the tests drive"
            )
        })
}

/// A port nothing listens on now (the OS's pick, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// HAProxy in the foreground with `config`, in a temporary directory; killed on drop.
pub struct Haproxy {
    child: Child,
    dir: PathBuf,
}

impl Haproxy {
    pub fn start(config: &str, ports: &[u16]) -> Haproxy {
        let dir =
            std::env::temp_dir().join(format!("weft-haproxy-{}-{}", std::process::id(), ports[0]));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("haproxy.cfg");
        std::fs::write(&cfg, config).unwrap();
        let child = Command::new(haproxy_binary())
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start haproxy");
        let mut haproxy = Haproxy { child, dir };
        // Up once every frontend accepts (bounded).
        for &port in ports {
            let started = Instant::now();
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = haproxy.child.try_wait() {
                    panic!("haproxy exited: {status}");
                }
                assert!(started.elapsed() < WAIT, "haproxy never listened on {port}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        haproxy
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
