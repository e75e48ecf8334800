//! `chat`: a line-based chat room, the second showcase of weft.
//!
//! ```text
//! cargo run --release --example chat -- [--addr 127.0.0.1:7001] [--workers N]
//!     [--max-line 4096] [--max-pending 1048576] [--frame-timeout 60] [--max-connections N]
//!     [--shutdown-timeout 5]
//! ```
//!
//! The wire behaviour is the contract in `docs/protocols.md` ("chat"):
//!
//! * On connect a client gets a unique nick `guest<N>` and `* you are <nick>`; every other
//!   client gets `* <nick> joined`.
//! * A trailing `\r` is stripped from each line; lines that are then empty are ignored.
//! * `/nick NAME` (NAME matching `[A-Za-z0-9_-]{1,32}`): everyone, sender included, gets
//!   `* <old> is now <NAME>`; otherwise the sender alone gets `ERR invalid nick` or
//!   `ERR nick taken`. `/who`: the sender gets `* online: ...`, every nick sorted by byte
//!   order. `/quit`: the sender gets `* bye`, then is disconnected. Any other line starting
//!   with `/`: `ERR unknown command`. Any other line: everyone else gets `<nick>: <text>`.
//! * When a client goes away for any reason, everyone else gets `* <nick> left`.
//! * A line longer than `--max-line` gets `ERR line too long`, then the connection closes.
//!   `--max-pending` must leave room for one longest message (`--max-line` + 99 bytes);
//!   a smaller one is refused at start with exit status 2.
//! * A client whose unsent output would pass `--max-pending` (counted as memory: bytes plus
//!   64 per queued message) is disconnected at once, its queued output discarded (it is too
//!   slow to keep up): nobody else waits for it or pays memory for it, and everyone else
//!   gets its `* <nick> left`. Until then it gets every message, in order.
//! * A line whose first byte arrived more than `--frame-timeout` seconds ago and is still
//!   incomplete closes the connection (after the replies owed before it).
//! * At most `--max-connections` clients are served at once (default: the open-file limit
//!   less a reserve); more wait in the listen backlog.
//! * SIGINT/SIGTERM: stop accepting, flush what is owed, close, exit 0 within
//!   `--shutdown-timeout` seconds.
//!
//! # How it is built
//!
//! Every connection joins one [`Group`]; a message is formatted once into a `Bytes` and
//! broadcast to the group, which queues the same bytes on every receiver without copying.
//! Events caused by one client travel from its reactor to each receiver's reactor through
//! one FIFO path, so each receiver sees them in order. What the sender itself must see in
//! order with its own replies (its rename, its `/who`) is written to it directly. The nick
//! registry is one `Mutex<HashMap>`: it is touched on connect, rename, `/who` and leave,
//! never per message.
//!
//! The slow-consumer rule is weft's output limit, set to `--max-pending`: a broadcast is
//! charged to every receiver when it is made, so a receiver cannot fall further behind than
//! the limit even while messages for it wait between reactors; the one that would pass it
//! gets nothing more and [`Handler::on_output_limit`] aborts it, freeing what it held.
//!
//! `--proxy-protocol`: every connection must begin with a PROXY protocol header (v1 or v2),
//! whose source is then the client's address; one without a valid header within
//! `--proxy-header-timeout` seconds (default 5) is closed without a reply
//! (`docs/scaling.md`).
//!
//! Prints `listening on IP:PORT` on stdout once it accepts connections; logs go to stderr
//! (`RUST_LOG`, default `info`). Bad flags: one line on stderr and exit status 2.
//!
//! TLS: `--tls-cert PATH --tls-key PATH` serve TLS 1.2 and 1.3 on `--addr` (the protocol
//! inside unchanged), `--tls-client-ca PATH` requires client certificates, and
//! `--handshake-timeout SECS` (default 10) bounds the handshake; SIGHUP reloads the
//! certificate files (`docs/protocols.md`, "TLS"; `docs/tls.md`).

#[path = "chat/cluster.rs"]
mod cluster;
mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use cluster::Cluster;
use common::Flags;
use weft::codec::line::Terminator;
use weft::codec::LineCodec;
use weft::{Bytes, CloseReason, ConnectionId, Context, Error, Group, Handler, Pipeline};

const USAGE: &str = "usage: chat [--addr HOST:PORT] [--workers N] [--max-line BYTES] \
[--max-pending BYTES] [--frame-timeout SECS] [--max-connections N] [--shutdown-timeout SECS] \
[--proxy-protocol] [--proxy-header-timeout SECS] [--cluster-redis HOST:PORT] [--cluster-name NAME] \
[--tls-cert PATH --tls-key PATH] [--tls-client-ca PATH] [--handshake-timeout SECS]";

/// What a client is told when the cluster cannot be reached for what it asked.
const UNAVAILABLE: &[u8] = b"ERR cluster unavailable\n";

/// State shared by every connection of the room.
#[derive(Default)]
struct Room {
    /// Every registered client.
    members: Group,
    /// Live nicks and who holds them.
    nicks: Mutex<HashMap<String, ConnectionId>>,
    /// The next guest number to try (a lone instance).
    next_guest: AtomicU64,
    /// The cluster this instance belongs to, with `--cluster-redis`.
    cluster: Option<Arc<Cluster>>,
}

impl Room {
    fn nicks(&self) -> MutexGuard<'_, HashMap<String, ConnectionId>> {
        self.nicks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An event of one of this instance's clients, for everyone else: the local members
    /// but `except`, and the other instances. True if the cluster's backlog is long (the
    /// Redis link has no room): a sender should stop reading until it shortens.
    fn announce(&self, line: Bytes, except: Option<ConnectionId>) -> bool {
        let long = match &self.cluster {
            Some(cluster) => cluster.publish(&line),
            None => false,
        };
        match except {
            Some(id) => self.members.broadcast_except(line, id),
            None => self.members.broadcast(line),
        };
        long
    }

    /// Hands out the lowest unused `guest<N>` (never a nick someone holds).
    fn new_guest(&self, id: ConnectionId) -> String {
        let mut nicks = self.nicks();
        loop {
            let n = self.next_guest.fetch_add(1, Ordering::Relaxed) + 1;
            let nick = format!("guest{n}");
            if !nicks.contains_key(&nick) {
                nicks.insert(nick.clone(), id);
                return nick;
            }
        }
    }
}

fn valid_nick(name: &[u8]) -> bool {
    (1..=32).contains(&name.len())
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn line(parts: &[&[u8]]) -> Bytes {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + 1);
    for part in parts {
        out.extend_from_slice(part);
    }
    out.push(b'\n');
    Bytes::from(out)
}

/// One client's session.
struct Chat {
    room: Arc<Room>,
    nick: String,
}

/// A nick claimed in the cluster for a client that may be gone by the time it hears:
/// released again unless the client takes it.
struct Claimed {
    cluster: Arc<Cluster>,
    nick: Option<String>,
}

impl Claimed {
    /// The client takes the nick: it is its to release from now on.
    fn take(mut self) -> String {
        self.nick.take().expect("taken once")
    }

    /// The claim did not happen: nothing to release.
    fn not_ours(mut self) {
        self.nick = None;
    }
}

impl Drop for Claimed {
    fn drop(&mut self) {
        if let Some(nick) = self.nick.take() {
            self.cluster.release(&nick);
        }
    }
}

impl Chat {
    /// The cluster's backlog is long: read nothing more until it shortens, so a flood of
    /// messages waits in this client's socket (TCP flow control) instead of in memory,
    /// and nothing is lost on the way to the other instances.
    fn wait_for_the_cluster(&mut self, ctx: &mut Context<'_, Self>) {
        let Some(cluster) = &self.room.cluster else {
            return;
        };
        let handle = ctx.handle();
        let resume = Box::new(move || {
            handle.execute::<Chat, _>(|_, ctx| ctx.resume_read());
        });
        if cluster.park(resume) {
            ctx.pause_read();
        }
    }

    /// Registers the client under `nick`: greeting, membership, the join announcement.
    fn registered(&mut self, ctx: &mut Context<'_, Self>, nick: String) {
        self.room.nicks().insert(nick.clone(), ctx.id());
        self.nick = nick;
        ctx.write(&line(&[b"* you are ", self.nick.as_bytes()]));
        ctx.join_group(&self.room.members);
        let joined = line(&[b"* ", self.nick.as_bytes(), b" joined"]);
        self.room.announce(joined, Some(ctx.id()));
    }

    fn rename(&mut self, ctx: &mut Context<'_, Self>, name: &[u8]) {
        if !valid_nick(name) {
            ctx.write(b"ERR invalid nick\n");
            return;
        }
        let name = String::from_utf8(name.to_vec()).expect("validated as ASCII");
        {
            let nicks = self.room.nicks();
            match nicks.get(&name) {
                Some(&holder) if holder != ctx.id() => {
                    drop(nicks);
                    ctx.write(b"ERR nick taken\n");
                    return;
                }
                Some(_) => {
                    drop(nicks);
                    self.renamed(ctx, name); // its own nick: nothing to claim
                    return;
                }
                None => {}
            }
        }
        let Some(cluster) = self.room.cluster.clone() else {
            self.renamed(ctx, name);
            return;
        };
        if !cluster.is_up() {
            ctx.write(UNAVAILABLE);
            return;
        }
        // Wait for the cluster's answer before reading on, so this client's events keep
        // their order.
        ctx.pause_read();
        let me = ctx.handle();
        let claimed = Claimed {
            cluster: cluster.clone(),
            nick: Some(name.clone()),
        };
        let sent = cluster.rename(&self.nick, &name, move |result| {
            me.execute::<Chat, _>(move |chat, ctx| {
                match result {
                    Ok(true) => chat.renamed(ctx, claimed.take()),
                    Ok(false) => {
                        claimed.not_ours(); // someone else holds it
                        ctx.write(b"ERR nick taken\n");
                    }
                    Err(_) => {
                        claimed.not_ours(); // never claimed
                        ctx.write(UNAVAILABLE);
                    }
                }
                ctx.resume_read();
            });
        });
        if sent.is_err() {
            ctx.write(UNAVAILABLE);
            ctx.resume_read();
        }
    }

    /// The rename is done (claimed where it must be): the local registry, the
    /// announcements.
    fn renamed(&mut self, ctx: &mut Context<'_, Self>, name: String) {
        {
            let mut nicks = self.room.nicks();
            nicks.remove(&self.nick);
            nicks.insert(name.clone(), ctx.id());
        }
        let announcement = line(&[b"* ", self.nick.as_bytes(), b" is now ", name.as_bytes()]);
        ctx.write(&announcement);
        self.room.announce(announcement, Some(ctx.id()));
        self.nick = name;
    }

    fn who(&self, ctx: &mut Context<'_, Self>) {
        if let Some(cluster) = self.room.cluster.clone().filter(|c| c.is_up()) {
            ctx.pause_read();
            let me = ctx.handle();
            let sent = cluster.who(move |result| {
                me.execute::<Chat, _>(move |chat, ctx| {
                    match result {
                        Ok(nicks) => ctx.write(&line(&[b"* online: ", nicks.join(" ").as_bytes()])),
                        Err(_) => chat.local_who(ctx),
                    }
                    ctx.resume_read();
                });
            });
            if sent.is_ok() {
                return;
            }
            ctx.resume_read();
        }
        self.local_who(ctx);
    }

    /// `/who` from this instance's own registry (a lone instance, or the cluster away).
    fn local_who(&self, ctx: &mut Context<'_, Self>) {
        let mut nicks: Vec<String> = self.room.nicks().keys().cloned().collect();
        nicks.sort_unstable(); // byte order: nicks are ASCII
        ctx.write(&line(&[b"* online: ", nicks.join(" ").as_bytes()]));
    }
}

impl Handler for Chat {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
        let Some(cluster) = self.room.cluster.clone() else {
            let nick = self.room.new_guest(ctx.id());
            self.registered(ctx, nick);
            return;
        };
        // A guest nick unique in the whole cluster; nothing is read until it is known.
        ctx.pause_read();
        let me = ctx.handle();
        let claim = {
            let cluster = cluster.clone();
            move |result: Result<String, weft_redis::RedisError>| {
                let claimed = result.map(|nick| Claimed {
                    cluster,
                    nick: Some(nick),
                });
                me.execute::<Chat, _>(move |chat, ctx| match claimed {
                    Ok(claimed) => {
                        chat.registered(ctx, claimed.take());
                        ctx.resume_read();
                    }
                    Err(_) => {
                        ctx.write(UNAVAILABLE);
                        ctx.close();
                    }
                });
            }
        };
        if !cluster.is_up() || cluster.claim_guest(claim).is_err() {
            ctx.write(UNAVAILABLE);
            ctx.close();
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, mut text: &[u8]) {
        if let Some(stripped) = text.strip_suffix(b"\r") {
            text = stripped;
        }
        match text {
            b"" => {}
            b"/who" => self.who(ctx),
            b"/quit" => {
                ctx.write(b"* bye\n");
                ctx.close();
            }
            b"/nick" => self.rename(ctx, b""),
            t if t.starts_with(b"/nick ") => {
                self.rename(ctx, &text[6..]);
            }
            t if t.starts_with(b"/") => ctx.write(b"ERR unknown command\n"),
            _ => {
                let message = line(&[self.nick.as_bytes(), b": ", text]);
                if self.room.announce(message, Some(ctx.id())) {
                    self.wait_for_the_cluster(ctx);
                }
            }
        }
    }

    fn on_decode_error(&mut self, ctx: &mut Context<'_, Self>, error: &Error) {
        if error.is_frame_too_long() {
            ctx.write(b"ERR line too long\n");
        }
    }

    /// Too slow to keep up (or a reply alone too large): drop it now rather than flush what
    /// it is owed, so the memory it held is freed at once. `on_inactive` tells the others.
    fn on_output_limit(&mut self, ctx: &mut Context<'_, Self>) {
        tracing::info!(conn = %ctx.id(), nick = %self.nick, pending = ctx.pending_bytes(), "slow consumer disconnected");
        ctx.abort();
    }

    fn on_inactive(&mut self, ctx: &mut Context<'_, Self>, _reason: CloseReason) {
        if self.nick.is_empty() {
            return; // never registered
        }
        {
            let mut nicks = self.room.nicks();
            if nicks.get(&self.nick) == Some(&ctx.id()) {
                nicks.remove(&self.nick);
            }
        }
        if let Some(cluster) = &self.room.cluster {
            cluster.release(&self.nick);
        }
        // The group has already dropped this connection: everyone left gets the line.
        let left = line(&[b"* ", self.nick.as_bytes(), b" left"]);
        self.room.announce(left, None);
    }
}

/// What the longest message a receiver can be sent costs against its output limit:
/// `<nick>: <text>\n` with the longest nick and line, and weft's 128 bytes of bookkeeping
/// for a separately queued message. A smaller `--max-pending` would disconnect every
/// receiver of one legitimate message, so it is refused at start.
fn longest_message_cost(max_line: usize) -> usize {
    const MAX_NICK: usize = 32;
    const CHUNK_OVERHEAD: usize = 128;
    max_line.saturating_add(MAX_NICK + ": ".len() + 1 + CHUNK_OVERHEAD)
}

fn main() {
    let mut known = common::COMMON_FLAGS.to_vec();
    known.extend(["max-line", "cluster-redis", "cluster-name"]);
    let flags = Flags::parse("chat", &known, USAGE);
    let common = flags.common("127.0.0.1:7001");
    let max_line: usize = flags.get_at_least("max-line", 4096, 1);
    let longest = longest_message_cost(max_line);
    if common.max_pending < longest {
        common::fail(
            "chat",
            format!(
                "--max-pending ({}) must be at least {longest} for --max-line {max_line}: \
                 one longest message must fit in a receiver's pending output",
                common.max_pending
            ),
        );
    }
    let cluster_name = flags.get("cluster-name", "weft-chat".to_string());
    if cluster_name.is_empty() || cluster_name.bytes().any(|b| b.is_ascii_whitespace()) {
        common::fail("chat", "--cluster-name must be a non-empty word");
    }
    let cluster_redis = flags
        .has("cluster-redis")
        .then(|| flags.get("cluster-redis", String::new()));
    if let Some(target) = &cluster_redis {
        if let Err(e) = weft::Dial::to(target) {
            common::fail("chat", format!("--cluster-redis: {e}"));
        }
    }
    weft::starter::init_logging();

    // In a cluster, join it before listening: the room is built around the cluster, whose
    // subscriber delivers the other instances' events to the room's members.
    let members = Group::new();
    let cluster = cluster_redis.map(|target| {
        let deliver = {
            let members = members.clone();
            Box::new(move |line: Bytes| members.broadcast(line)) as cluster::Deliver
        };
        let cluster = Cluster::connect(&target, &cluster_name, deliver)
            .unwrap_or_else(|e| common::fail("chat", e));
        tracing::info!(redis = %target, name = %cluster_name, id = %cluster.id, "joining the chat cluster");
        cluster.join_blocking(Vec::new());
        tracing::info!("joined the chat cluster");
        Arc::new(cluster)
    });
    let room = Arc::new(Room {
        members,
        cluster: cluster.clone(),
        ..Room::default()
    });
    if let Some(cluster) = &cluster {
        let room = room.clone();
        cluster
            .clone()
            .run_housekeeping(move || room.nicks().keys().cloned().collect());
    }
    let bound = common
        .builder()
        .pipeline(move || {
            Pipeline::new(
                LineCodec::new(max_line).terminator(Terminator::Strip),
                Chat {
                    room: room.clone(),
                    nick: String::new(),
                },
            )
        })
        .bind();
    common.run("chat", bound);
    if let Some(cluster) = cluster {
        cluster.leave();
    }
}
