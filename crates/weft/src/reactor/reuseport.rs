//! `SO_REUSEPORT` mode: a reactor that accepts on its own listener (the kernel spreads
//! connections over the reactors' listeners; there is no acceptor thread).

use std::sync::atomic::Ordering;

use super::acceptor::{self, AcceptOutcome};
use super::Reactor;
use crate::conn::Drive;

impl<F, P> Reactor<F, P>
where
    F: Fn() -> P + Send + Sync + 'static,
    P: Drive,
{
    /// `SO_REUSEPORT` mode: accept on this reactor's own listener.
    pub(super) fn accept_own(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        self.accept_retry = None;
        let mut accepted = Vec::new();
        let outcome = acceptor::accept_batch(
            listener,
            self.core.config(),
            self.core.metrics(),
            self.core.admission(),
            || true, // this reactor registers what it accepts itself
            |stream, peer, id, permit| accepted.push((stream, peer, id, permit)),
        );
        // Edge-triggered: connections left in the backlog raise no new event, so every
        // outcome but "drained" schedules another look.
        self.accept_retry = match outcome {
            AcceptOutcome::Drained => None,
            AcceptOutcome::More => Some(self.core.now()),
            AcceptOutcome::AtLimit | AcceptOutcome::ReactorsBusy | AcceptOutcome::BackOff(_) => {
                if !self.accept_paused {
                    self.core
                        .metrics()
                        .accept_pauses
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        reactor = self.core.index(),
                        ?outcome,
                        "accepting paused; retrying every {:?}",
                        acceptor::BACKOFF
                    );
                }
                Some(self.core.now() + acceptor::BACKOFF)
            }
        };
        self.accept_paused = self.accept_retry.is_some_and(|t| t > self.core.now());
        for (stream, peer, id, permit) in accepted {
            self.register_conn(stream, peer, id, permit);
        }
    }
}
