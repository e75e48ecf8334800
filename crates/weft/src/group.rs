//! [`Group`]: a set of connections across reactors that can be written to at once.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use mio::Token;

use crate::handle::ConnectionHandle;
use crate::id::ConnectionId;
use crate::inbox::{note_post, CloseHow, Command, Inbox};
use crate::shared::{posted_cost, Admission};

/// A set of connections, possibly on different reactors, that can be broadcast to.
///
/// * Members join with [`Context::join_group`](crate::Context::join_group) and leave
///   automatically when their connection closes (or explicitly with
///   [`Group::remove`]).
/// * [`broadcast`](Group::broadcast) sends one encoded [`Bytes`] to every member: one
///   command per reactor, and each member's outbound queue holds a reference to the same
///   bytes: nothing is copied per receiver.
/// * Ordering: broadcasts from one thread reach each member in the order they were made.
/// * Limits: a member whose own queued output is past its output limit (see
///   `docs/flow-control.md`) does not get the broadcast and is closed as a slow consumer
///   ([`CloseReason::SlowConsumer`](crate::CloseReason::SlowConsumer)); from then on it gets
///   nothing more, so every member receives every broadcast in order, or is closed. Nothing
///   is dropped for lack of room in a queue.
/// * Congestion: when a member's reactor falls behind (more than 1 MiB of writes waiting in
///   its inbox), the producer is slowed, not the members: the broadcasting handler's
///   connection stops reading until that inbox drains; a thread that is not a reactor
///   waits (up to a second).
///
/// `Clone` is cheap (an `Arc`); clones are the same group.
///
/// # Example
///
/// Every connection joins one group; the program broadcasts to all of them:
///
/// ```
/// use std::io::{BufRead, BufReader};
/// use std::net::TcpStream;
/// use std::time::{Duration, Instant};
/// use weft::codec::LineCodec;
/// use weft::{Bytes, Context, Group, Handler, Pipeline, Server};
///
/// struct Member(Group);
///
/// impl Handler for Member {
///     type In<'a> = &'a [u8];
///     type Out<'a> = &'a [u8];
///     fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
///         ctx.join_group(&self.0); // leaves by itself when the connection closes
///     }
///     fn on_message(&mut self, _ctx: &mut Context<'_, Self>, _line: &[u8]) {}
/// }
///
/// let everyone = Group::new();
/// let group = everyone.clone(); // the same group
/// let server = Server::builder()
///     .addr("127.0.0.1:0")
///     .reactors(2)
///     .pipeline(move || Pipeline::new(LineCodec::new(1024), Member(group.clone())))
///     .bind()?;
///
/// let addr = server.local_addr();
/// let clients = [TcpStream::connect(addr)?, TcpStream::connect(addr)?];
/// let deadline = Instant::now() + Duration::from_secs(5);
/// while everyone.len() < 2 {
///     assert!(Instant::now() < deadline, "both clients join");
///     std::thread::sleep(Duration::from_millis(5));
/// }
///
/// everyone.broadcast(Bytes::from_static(b"hello, all\n")); // one Bytes, shared by both
/// for client in &clients {
///     client.set_read_timeout(Some(Duration::from_secs(5)))?;
///     let mut line = String::new();
///     BufReader::new(client).read_line(&mut line)?;
///     assert_eq!(line, "hello, all\n");
/// }
/// server.shutdown(Duration::from_secs(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct Group {
    shared: Arc<GroupShared>,
}

#[derive(Default)]
pub(crate) struct GroupShared {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    members: HashMap<ConnectionId, ConnectionHandle>,
    /// Members by reactor, rebuilt after membership changes: what a broadcast sends.
    routes: Option<Vec<Route>>,
}

/// One reactor's inbox, and the members it owns (their tokens, and their handles in the
/// same order).
struct Route {
    inbox: Arc<Inbox>,
    tokens: Arc<[Token]>,
    members: Vec<ConnectionHandle>,
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("members", &self.len())
            .finish()
    }
}

impl Group {
    /// An empty group.
    pub fn new() -> Self {
        Group::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.shared
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn downgrade(&self) -> Weak<GroupShared> {
        Arc::downgrade(&self.shared)
    }

    pub(crate) fn insert(&self, handle: ConnectionHandle) {
        let mut inner = self.lock();
        inner.members.insert(handle.id(), handle);
        inner.routes = None;
    }

    /// Removes a member; returns whether it was one.
    pub fn remove(&self, id: ConnectionId) -> bool {
        let mut inner = self.lock();
        let removed = inner.members.remove(&id).is_some();
        if removed {
            inner.routes = None;
        }
        removed
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.lock().members.len()
    }

    /// True when the group has no member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when `id` is a member.
    pub fn contains(&self, id: ConnectionId) -> bool {
        self.lock().members.contains_key(&id)
    }

    /// A handle to every member.
    pub fn handles(&self) -> Vec<ConnectionHandle> {
        self.lock().members.values().cloned().collect()
    }

    /// Sends `bytes` to every member.
    pub fn broadcast(&self, bytes: Bytes) {
        self.send(bytes, None);
    }

    /// Sends `bytes` to every member but `except` (typically the sender).
    pub fn broadcast_except(&self, bytes: Bytes, except: ConnectionId) {
        self.send(bytes, Some(except));
    }

    fn send(&self, bytes: Bytes, except: Option<ConnectionId>) {
        let mut inner = self.lock();
        // Tokens are per reactor: the exception applies on its own reactor only.
        let except = except
            .and_then(|id| inner.members.get(&id))
            .map(|h| (h.reactor_index(), h.token()));
        if inner.routes.is_none() {
            let mut by_reactor: HashMap<usize, Vec<ConnectionHandle>> = HashMap::new();
            for handle in inner.members.values() {
                by_reactor
                    .entry(handle.reactor_index())
                    .or_default()
                    .push(handle.clone());
            }
            let routes = by_reactor
                .into_values()
                .map(|members| Route {
                    inbox: members[0].inbox().clone(),
                    tokens: members.iter().map(ConnectionHandle::token).collect(),
                    members,
                })
                .collect();
            inner.routes = Some(routes);
        }
        let routes = inner.routes.as_ref().expect("just built");
        let cost = posted_cost(bytes.len());
        let mut posted_to = Vec::new();
        for route in routes.iter() {
            let except = except
                .filter(|&(reactor, _)| reactor == route.inbox.index())
                .map(|(_, token)| token);
            let mut admitted = 0;
            let mut refused = Vec::new();
            for member in &route.members {
                if Some(member.token()) == except {
                    continue;
                }
                match member.shared().admit_broadcast(cost) {
                    Admission::Admitted => admitted += 1,
                    Admission::Full => {
                        refused.push(member.token());
                        if member.shared().mark_overflowed() {
                            member.send_close(CloseHow::SlowConsumer);
                        }
                    }
                    Admission::Closed => refused.push(member.token()),
                }
            }
            if admitted == 0 {
                continue;
            }
            let cmd = Command::Broadcast {
                tokens: route.tokens.clone(),
                except,
                refused,
                bytes: bytes.clone(),
            };
            // Fails only once the reactor has stopped: its connections are gone.
            let _ = route.inbox.send(cmd);
            posted_to.push(route.inbox.clone());
        }
        drop(inner); // a producer slowed by a congested inbox must not hold the group
        for inbox in &posted_to {
            note_post(inbox);
        }
    }
}

/// Removes a closed connection from the groups it joined.
pub(crate) fn leave_all(groups: &mut Vec<Weak<GroupShared>>, id: ConnectionId) {
    for group in groups.drain(..) {
        if let Some(shared) = group.upgrade() {
            Group { shared }.remove(id);
        }
    }
}
