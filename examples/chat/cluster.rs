//! chat's cluster mode (`--cluster-redis HOST:PORT`): one room over several instances, its
//! shared state in Redis (see `docs/scaling.md`).
//!
//! ```text
//!   NAME:nicks       hash   nick -> instance id       claimed with HSETNX (in scripts)
//!   NAME:guest       string the last guest number      INCR
//!   NAME:instances   set    the instances that joined
//!   NAME:alive:ID    string an instance's heartbeat    SET ... PX 5000, renewed every second
//!   NAME:room        pub/sub channel: "ID LINE"        every join, message, rename, leave
//! ```
//!
//! An instance delivers its own clients' events to its own clients directly (so local chat
//! goes on while Redis is away) and publishes them; it delivers what others publish and
//! skips its own. Every two seconds it looks for instances whose heartbeat has expired (a
//! SIGKILL, a crash); the first to look reaps one (a Lua script, under a lock key): its
//! nicks are freed and a `* NICK left` is published for each, in the dead instance's
//! name, so every live instance delivers it. When the Redis link comes back, the instance
//! puts its live nicks back (a restarted Redis has lost them) and joins again.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weft::codec::RespValue;
use weft::{Bytes, Client};
use weft_redis::{Redis, RedisConfig, RedisError, Subscriber};

/// Claims the next free guest nick: KEYS nicks, guest counter; ARGV instance id.
const CLAIM_GUEST: &str = "while true do \
    local nick = 'guest' .. redis.call('INCR', KEYS[2]) \
    if redis.call('HSETNX', KEYS[1], nick, ARGV[1]) == 1 then return nick end \
end";

/// Renames: KEYS nicks; ARGV id, old, new. 1 renamed, 0 taken.
const RENAME: &str = "if redis.call('HSETNX', KEYS[1], ARGV[3], ARGV[1]) == 0 then return 0 end \
if redis.call('HGET', KEYS[1], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[1], ARGV[2]) end \
return 1";

/// Frees a nick if this instance holds it: KEYS nicks; ARGV id, nick.
const RELEASE: &str = "if redis.call('HGET', KEYS[1], ARGV[2]) == ARGV[1] then \
return redis.call('HDEL', KEYS[1], ARGV[2]) end return 0";

/// Joins (again): KEYS nicks, instances, alive; ARGV id, live nicks... Puts the live nicks
/// back, frees the ones this instance no longer has, registers, beats once.
const JOIN: &str = "local live = {} \
for i = 2, #ARGV do live[ARGV[i]] = true; redis.call('HSET', KEYS[1], ARGV[i], ARGV[1]) end \
local all = redis.call('HGETALL', KEYS[1]) \
for i = 1, #all, 2 do \
  if all[i + 1] == ARGV[1] and not live[all[i]] then redis.call('HDEL', KEYS[1], all[i]) end \
end \
redis.call('SADD', KEYS[2], ARGV[1]) \
redis.call('SET', KEYS[3], '1', 'PX', 5000) \
return 1";

/// Reaps a dead instance once: KEYS nicks, instances, lock, channel, its heartbeat; ARGV
/// its id. Frees its nicks and publishes a leave for each in its name.
const REAP: &str = "if redis.call('EXISTS', KEYS[5]) == 1 then return -1 end \
if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', 10000) then return -1 end \
local all = redis.call('HGETALL', KEYS[1]) \
local n = 0 \
for i = 1, #all, 2 do \
  if all[i + 1] == ARGV[1] then \
    redis.call('HDEL', KEYS[1], all[i]) \
    redis.call('PUBLISH', KEYS[4], ARGV[1] .. ' * ' .. all[i] .. ' left\\n') \
    n = n + 1 \
  end \
end \
redis.call('SREM', KEYS[2], ARGV[1]) \
return n";

/// An instance's place in the cluster.
pub struct Cluster {
    /// This instance's id (random, unique per process run).
    pub id: String,
    redis: Redis,
    subscriber: Subscriber,
    nicks: Bytes,
    guest: Bytes,
    instances: Bytes,
    channel: Bytes,
    prefix: String,
    /// This instance's events, published in order.
    publisher: Arc<Publisher>,
    /// The Redis link came back and the instance must join again.
    rejoin: Arc<AtomicBool>,
    /// The runtime the links live on (kept for as long as the cluster is).
    _runtime: Client,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("id", &self.id).finish()
    }
}

/// What the instance does with a line another instance published.
pub type Deliver = Box<dyn Fn(Bytes) + Send + Sync>;

impl Cluster {
    /// Connects to Redis and subscribes (retrying with back-off), without joining yet.
    pub fn connect(target: &str, name: &str, deliver: Deliver) -> Result<Cluster, String> {
        let runtime = Client::builder()
            .reactors(1)
            .build_client()
            .map_err(|e| e.to_string())?;
        let config = RedisConfig::new(target).map_err(|e| format!("--cluster-redis: {e}"))?;
        let id = instance_id();
        let rejoin = Arc::new(AtomicBool::new(false));
        let redis = Redis::start(runtime.dialer(), config.clone(), {
            let rejoin = rejoin.clone();
            move |up| {
                if up {
                    rejoin.store(true, Ordering::Release);
                }
            }
        });
        let channel = Bytes::from(format!("{name}:room"));
        let own = format!("{id} ");
        let subscriber = Subscriber::start(
            runtime.dialer(),
            config,
            vec![channel.clone()],
            move |_, payload: Bytes| {
                // "ID LINE": another instance's event (ours were delivered already).
                if payload.starts_with(own.as_bytes()) {
                    return;
                }
                if let Some(space) = payload.iter().position(|&b| b == b' ') {
                    deliver(payload.slice(space + 1..));
                }
            },
            |_| {},
        );
        let publisher = Arc::new(Publisher {
            redis: redis.clone(),
            channel: channel.clone(),
            id: id.clone(),
            backlog: Mutex::new(Backlog::default()),
            dropped: AtomicU64::new(0),
        });
        Ok(Cluster {
            id,
            redis,
            subscriber,
            publisher,
            nicks: Bytes::from(format!("{name}:nicks")),
            guest: Bytes::from(format!("{name}:guest")),
            instances: Bytes::from(format!("{name}:instances")),
            channel,
            prefix: name.to_string(),
            rejoin,
            _runtime: runtime,
        })
    }

    /// True while both links are up: the cluster is reachable.
    pub fn is_up(&self) -> bool {
        self.redis.is_up() && self.subscriber.is_up()
    }

    /// Blocks until the cluster is reachable and this instance has joined it (startup).
    pub fn join_blocking(&self, live: Vec<String>) {
        loop {
            if self.is_up() {
                let (tx, rx) = std::sync::mpsc::channel();
                if self.join(live.clone(), move |r| {
                    let _ = tx.send(r.is_ok());
                }) && rx.recv_timeout(Duration::from_secs(5)) == Ok(true)
                {
                    self.rejoin.store(false, Ordering::Release);
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs the join script with the instance's live nicks; false if it could not be sent.
    fn join(
        &self,
        live: Vec<String>,
        then: impl FnOnce(Result<RespValue, RedisError>) + Send + 'static,
    ) -> bool {
        let mut args: Vec<Bytes> = vec![
            "EVAL".into(),
            JOIN.into(),
            "3".into(),
            self.nicks.clone(),
            self.instances.clone(),
            self.alive_key(&self.id),
            self.id.clone().into(),
        ];
        args.extend(live.into_iter().map(Bytes::from));
        self.redis.command(args, then).is_ok()
    }

    fn alive_key(&self, id: &str) -> Bytes {
        Bytes::from(format!("{}:alive:{id}", self.prefix))
    }

    /// Claims the next guest nick; `then` gets it.
    pub fn claim_guest(
        &self,
        then: impl FnOnce(Result<String, RedisError>) + Send + 'static,
    ) -> Result<(), RedisError> {
        let args: Vec<Bytes> = vec![
            "EVAL".into(),
            CLAIM_GUEST.into(),
            "2".into(),
            self.nicks.clone(),
            self.guest.clone(),
            self.id.clone().into(),
        ];
        self.redis.command(args, move |reply| {
            then(reply.and_then(|v| match v {
                RespValue::Bulk(nick) => Ok(String::from_utf8_lossy(&nick).into_owned()),
                other => Err(RedisError::Server(format!("unexpected reply {other:?}"))),
            }))
        })
    }

    /// Renames `old` to `new` cluster-wide; `then` gets whether it was free.
    pub fn rename(
        &self,
        old: &str,
        new: &str,
        then: impl FnOnce(Result<bool, RedisError>) + Send + 'static,
    ) -> Result<(), RedisError> {
        let args: Vec<Bytes> = vec![
            "EVAL".into(),
            RENAME.into(),
            "1".into(),
            self.nicks.clone(),
            self.id.clone().into(),
            old.to_string().into(),
            new.to_string().into(),
        ];
        self.redis.command(args, move |reply| {
            then(reply.map(|v| v == RespValue::Integer(1)))
        })
    }

    /// Frees `nick` (if this instance holds it); fire and forget.
    pub fn release(&self, nick: &str) {
        let args: Vec<Bytes> = vec![
            "EVAL".into(),
            RELEASE.into(),
            "1".into(),
            self.nicks.clone(),
            self.id.clone().into(),
            nick.to_string().into(),
        ];
        send_when_room(self.redis.clone(), args);
    }

    /// Every nick in the cluster, sorted; `then` gets them.
    pub fn who(
        &self,
        then: impl FnOnce(Result<Vec<String>, RedisError>) + Send + 'static,
    ) -> Result<(), RedisError> {
        let args: Vec<Bytes> = vec!["HKEYS".into(), self.nicks.clone()];
        self.redis.command(args, move |reply| {
            then(reply.map(|v| {
                let mut nicks: Vec<String> = match v {
                    RespValue::Array(items) => items
                        .into_iter()
                        .filter_map(|i| match i {
                            RespValue::Bulk(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                nicks.sort_unstable();
                nicks
            }))
        })
    }

    /// Publishes one of this instance's events (a whole line) to the others, after those
    /// published before it. While Redis is away it is dropped: the loss the protocol
    /// allows. True if the backlog is long: the sender should stop (see [`Cluster::park`]).
    pub fn publish(&self, line: &Bytes) -> bool {
        self.publisher.publish(line)
    }

    /// Registers `resume` to run once the backlog is short again; false (and `resume`
    /// dropped) if it already is. A sender told to stop by `publish` pauses its reading
    /// when this returns true.
    pub fn park(&self, resume: Box<dyn FnOnce() + Send>) -> bool {
        self.publisher.park(resume)
    }

    /// The heartbeat, the reaper and rejoining, every second until the process ends.
    /// `live` lists the instance's own nicks (for a rejoin).
    pub fn run_housekeeping(self: Arc<Self>, live: impl Fn() -> Vec<String> + Send + 'static) {
        let spawned = std::thread::Builder::new()
            .name("chat-cluster".into())
            .spawn(move || {
                let mut last_reap = Instant::now();
                let mut last_beat = Instant::now();
                loop {
                    // A short tick, so a rejoin follows the link's return at once.
                    std::thread::sleep(Duration::from_millis(100));
                    if !self.redis.is_up() {
                        continue;
                    }
                    if self.rejoin.swap(false, Ordering::AcqRel) {
                        let rejoin = self.rejoin.clone();
                        let sent = self.join(live(), move |r| {
                            if r.is_err() {
                                rejoin.store(true, Ordering::Release);
                            }
                        });
                        if !sent {
                            self.rejoin.store(true, Ordering::Release);
                        }
                        tracing::info!("cluster joined again after the Redis link came back");
                    }
                    if last_beat.elapsed() < Duration::from_secs(1) {
                        continue;
                    }
                    last_beat = Instant::now();
                    let beat: Vec<Bytes> = vec![
                        "SET".into(),
                        self.alive_key(&self.id),
                        "1".into(),
                        "PX".into(),
                        "5000".into(),
                    ];
                    let _ = self.redis.command(beat, |_| {});
                    if last_reap.elapsed() >= Duration::from_secs(2) {
                        last_reap = Instant::now();
                        self.reap_dead();
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the cluster housekeeping thread");
        }
    }

    /// Reaps every instance whose heartbeat has expired.
    fn reap_dead(self: &Arc<Self>) {
        let me = self.clone();
        let _ = self.redis.command(
            vec![Bytes::from_static(b"SMEMBERS"), self.instances.clone()],
            move |reply| {
                let Ok(RespValue::Array(ids)) = reply else {
                    return;
                };
                for id in ids {
                    let RespValue::Bulk(id) = id else { continue };
                    let id = String::from_utf8_lossy(&id).into_owned();
                    if id == me.id {
                        continue;
                    }
                    let args: Vec<Bytes> = vec![
                        "EVAL".into(),
                        REAP.into(),
                        "5".into(),
                        me.nicks.clone(),
                        me.instances.clone(),
                        Bytes::from(format!("{}:reap:{id}", me.prefix)),
                        me.channel.clone(),
                        me.alive_key(&id),
                        id.clone().into(),
                    ];
                    let _ = me.redis.command(args, move |reply| {
                        if let Ok(RespValue::Integer(n)) = reply {
                            if n >= 0 {
                                tracing::info!(instance = %id, nicks = n, "reaped an instance that stopped beating");
                            }
                        }
                    });
                }
            },
        );
    }

    /// Leaves the cluster on a graceful exit: waits (briefly) for what is in flight, then
    /// removes this instance's registration.
    pub fn leave(&self) {
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.redis.in_flight() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let args: Vec<Bytes> = vec![
            "SREM".into(),
            self.instances.clone(),
            self.id.clone().into(),
        ];
        let _ = self.redis.command(args, |_| {});
        let del: Vec<Bytes> = vec!["DEL".into(), self.alive_key(&self.id)];
        if self
            .redis
            .command(del, move |_| {
                let _ = tx.send(());
            })
            .is_ok()
        {
            let _ = rx.recv_timeout(Duration::from_secs(1));
        }
    }
}

/// A random instance id: time, pid and a counter's worth of entropy, as 16 hex digits.
fn instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// Sends a command whose reply nobody waits for, and which must not be lost to a busy
/// link (a nick's release): on `Busy` it is sent again once the link has room. While Redis
/// is away it is dropped: the rejoin that follows frees every nick the instance no longer
/// has.
fn send_when_room(redis: Redis, args: Vec<Bytes>) {
    if let Err(RedisError::Busy) = redis.command(args.clone(), |_| {}) {
        let again = redis.clone();
        redis.when_ready(move || send_when_room(again, args));
    }
}

/// Bytes of events waiting for a place on the Redis link above which senders are paused,
/// and below which they resume.
const BACKLOG_HIGH: usize = 256 << 10;
const BACKLOG_LOW: usize = 64 << 10;
/// The backlog's hard cap. With senders paused at `BACKLOG_HIGH` only the events no client
/// can be paused for (joins, leaves, renames) and one message per paused sender pass the
/// high mark, so this is reached only by a storm of those; past it an event is dropped,
/// counted and logged.
const BACKLOG_MAX: usize = 16 << 20;

/// Publishes an instance's events in order without losing one to a busy link: when the
/// Redis client says `Busy` (its bounded in-flight count is full) the event waits in a
/// bounded backlog, and so does every later one, until the link has room
/// (`Redis::when_ready`); senders are paused while the backlog is long.
struct Publisher {
    redis: Redis,
    channel: Bytes,
    id: String,
    backlog: Mutex<Backlog>,
    /// Events dropped at `BACKLOG_MAX`.
    dropped: AtomicU64,
}

#[derive(Default)]
struct Backlog {
    /// Payloads (`ID LINE`) not yet handed to the link, oldest first.
    payloads: VecDeque<Bytes>,
    /// Their bytes.
    bytes: usize,
    /// A drain is registered with the link.
    draining: bool,
    /// Senders paused until the backlog is short again.
    parked: Vec<Box<dyn FnOnce() + Send>>,
}

impl Backlog {
    /// Resumes every paused sender.
    fn unpark(&mut self) {
        for resume in self.parked.drain(..) {
            resume();
        }
    }
}

enum Sent {
    Yes,
    Busy,
    /// The link is down: the event is lost, as the protocol allows during an outage.
    Down,
}

impl Publisher {
    fn lock(&self) -> std::sync::MutexGuard<'_, Backlog> {
        self.backlog.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, payload: Bytes) -> Sent {
        let args = ["PUBLISH".into(), self.channel.clone(), payload];
        match self.redis.command(args, |_| {}) {
            Ok(()) => Sent::Yes,
            Err(RedisError::Busy) => Sent::Busy,
            Err(_) => Sent::Down,
        }
    }

    fn publish(self: &Arc<Self>, line: &Bytes) -> bool {
        let mut payload = Vec::with_capacity(self.id.len() + 1 + line.len());
        payload.extend_from_slice(self.id.as_bytes());
        payload.push(b' ');
        payload.extend_from_slice(line);
        let payload = Bytes::from(payload);
        let mut backlog = self.lock();
        if backlog.payloads.is_empty() {
            match self.send(payload.clone()) {
                Sent::Yes | Sent::Down => return false,
                Sent::Busy => {}
            }
        }
        if backlog.bytes + payload.len() > BACKLOG_MAX {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "cluster backlog full: an event was not published");
            }
            return true;
        }
        backlog.bytes += payload.len();
        backlog.payloads.push_back(payload);
        let long = backlog.bytes > BACKLOG_HIGH;
        if !std::mem::replace(&mut backlog.draining, true) {
            drop(backlog); // `when_ready` may drain at once, on this thread
            self.drain_when_ready();
        }
        long
    }

    fn drain_when_ready(self: &Arc<Self>) {
        let this = self.clone();
        self.redis.when_ready(move || this.drain());
    }

    /// Hands the backlog to the link, oldest first, until it is empty or the link is busy
    /// again (then it waits for room once more).
    fn drain(self: &Arc<Self>) {
        let mut backlog = self.lock();
        while let Some(payload) = backlog.payloads.front().cloned() {
            match self.send(payload) {
                Sent::Yes => {
                    let sent = backlog.payloads.pop_front().map_or(0, |p| p.len());
                    backlog.bytes -= sent;
                    if backlog.bytes <= BACKLOG_LOW {
                        backlog.unpark();
                    }
                }
                Sent::Busy => {
                    drop(backlog);
                    self.drain_when_ready();
                    return;
                }
                Sent::Down => {
                    backlog.payloads.clear();
                    backlog.bytes = 0;
                }
            }
        }
        backlog.draining = false;
        backlog.unpark();
    }

    fn park(&self, resume: Box<dyn FnOnce() + Send>) -> bool {
        let mut backlog = self.lock();
        if backlog.bytes <= BACKLOG_LOW {
            return false;
        }
        backlog.parked.push(resume);
        true
    }
}
