//! The one command dispatcher: what each inbox [`Command`] does, for a reactor and for the
//! embedded pipeline alike, so the two cannot drift apart.

use crate::clock::Moment;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};

use mio::net::TcpStream;
use mio::Token;

use crate::admission::OpenPermit;
use crate::conn::{Connection, Drive};
use crate::id::ConnectionId;
use crate::inbox::{take_congested, Command};
use crate::metrics::{Activity, Callback};
use crate::services::ReactorCore;

/// Where commands are carried out: a reactor's connections, or the embedded pipeline's.
pub(crate) trait Connections<P: Drive> {
    /// Runs `f` on the connection of `token` if it is still there (a command may outlive
    /// its connection), removing the connection if `f` finished it.
    fn with_conn(&mut self, token: Token, f: impl FnOnce(&mut Connection<P>, &mut ReactorCore));

    /// Takes in a connection handed over by the acceptor.
    fn register(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
        id: ConnectionId,
        permit: OpenPermit,
    );

    /// Starts a dial made from another thread (a `conn::RemoteDial`).
    fn dial(&mut self, request: Box<dyn std::any::Any + Send>);

    /// Begins the graceful shutdown of every connection, with `deadline` for all of it.
    fn shutdown(&mut self, deadline: Moment);

    /// The index of the reactor, for logs.
    fn reactor_index(&self) -> usize;

    /// Where the reactor publishes the callback it is in (for the watchdog).
    fn activity(&self) -> &Activity;
}

/// Carries out one command.
pub(crate) fn run_command<P: Drive>(target: &mut impl Connections<P>, cmd: Command) {
    match cmd {
        Command::Register {
            stream,
            peer,
            id,
            permit,
        } => target.register(stream, peer, id, permit),
        Command::Write { token, bytes } => {
            target.with_conn(token, |conn, core| conn.write_posted(core, bytes, false))
        }
        Command::Broadcast {
            tokens,
            except,
            refused,
            bytes,
        } => {
            for &token in tokens
                .iter()
                .filter(|&&t| Some(t) != except && !refused.contains(&t))
            {
                let bytes = bytes.clone();
                target.with_conn(token, |conn, core| conn.write_posted(core, bytes, true));
            }
        }
        Command::Close { token, how } => {
            target.with_conn(token, |conn, core| conn.close(core, how))
        }
        Command::Continuation { token, call } => {
            target.with_conn(token, |conn, core| conn.continuation(core, call))
        }
        Command::Task(task) => {
            target.activity().enter(Callback::Task, 0);
            let outcome = panic::catch_unwind(AssertUnwindSafe(task));
            target.activity().leave();
            if outcome.is_err() {
                tracing::error!(reactor = target.reactor_index(), "a task panicked");
            }
            // A task has no connection to pause for the inboxes it may have congested.
            take_congested(&mut Vec::new());
        }
        Command::Shutdown { deadline } => target.shutdown(deadline),
        Command::Resume { token } => {
            target.with_conn(token, |conn, core| conn.core.resume_congested(core))
        }
        Command::Dial(request) => target.dial(request),
        Command::Resolved {
            token,
            attempt,
            result,
        } => target.with_conn(token, |conn, core| {
            conn.core.on_resolved(core, attempt, result)
        }),
    }
}
