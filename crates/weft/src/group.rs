//! [`Group`]: a set of connections across reactors that can be written to at once.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use mio::Token;

use crate::conn::ConnectionId;
use crate::reactor::{Command, Inbox};
use crate::remote::ConnectionHandle;

/// A set of connections, possibly on different reactors, that can be broadcast to.
///
/// * Members join with [`Context::join_group`](crate::Context::join_group) and leave
///   automatically when their connection closes (or explicitly with
///   [`Group::remove`]).
/// * [`broadcast`](Group::broadcast) sends one encoded [`Bytes`] to every member: one
///   command per reactor, and each member's outbound queue holds a reference to the same
///   bytes: nothing is copied per receiver.
/// * Ordering: broadcasts from one thread reach each member in the order they were made.
///
/// `Clone` is cheap (an `Arc`); clones are the same group.
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

/// One reactor's inbox and the members it owns.
type Route = (Arc<Inbox>, Arc<[Token]>);

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
            let mut by_reactor: HashMap<usize, (Arc<Inbox>, Vec<Token>)> = HashMap::new();
            for handle in inner.members.values() {
                by_reactor
                    .entry(handle.reactor_index())
                    .or_insert_with(|| (handle.inbox().clone(), Vec::new()))
                    .1
                    .push(handle.token());
            }
            let routes = by_reactor
                .into_values()
                .map(|(inbox, tokens)| (inbox, Arc::from(tokens)))
                .collect();
            inner.routes = Some(routes);
        }
        let routes = inner.routes.as_ref().expect("just built");
        for (inbox, tokens) in routes.iter() {
            let cmd = Command::Broadcast {
                tokens: tokens.clone(),
                except: except
                    .filter(|&(reactor, _)| reactor == inbox.index())
                    .map(|(_, token)| token),
                bytes: bytes.clone(),
            };
            if inbox.send(cmd).is_err() {
                tracing::warn!(
                    reactor = inbox.index(),
                    "broadcast dropped: reactor inbox full or closed"
                );
            }
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
