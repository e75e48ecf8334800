//! A connection's timers: the idle check, the frame deadline, user timers, the close
//! deadline and the PROXY header deadline, each armed lazily (one timer per kind, re-armed when it fires) so that busy
//! connections cost nothing per read.

use std::time::Duration;

use super::guard::guarded;
use super::{ConnCore, Connection, Drive, UserTimer};
use crate::clock::Moment;
use crate::config::{deadline_after, Idle};
use crate::error::CloseReason;
use crate::id::TimerId;
use crate::metrics::Callback;
use crate::services::{ReactorCore, TimerEvent};
use crate::timer::TimerKey;

impl ConnCore {
    pub(crate) fn schedule(
        &mut self,
        reactor: &mut ReactorCore,
        delay: Duration,
        period: Option<Duration>,
    ) -> TimerId {
        let id = reactor.new_timer_id();
        let key = reactor.insert_timer(
            deadline_after(reactor.now(), delay),
            TimerEvent::User(self.token, id),
        );
        self.cold_mut()
            .user_timers
            .push(UserTimer { id, key, period });
        id
    }

    pub(crate) fn cancel_timer(&mut self, reactor: &mut ReactorCore, id: TimerId) -> bool {
        let Some(cold) = &mut self.cold else {
            return false;
        };
        match cold.user_timers.iter().position(|t| t.id == id) {
            Some(i) => {
                let timer = cold.user_timers.swap_remove(i);
                reactor.cancel_timer(timer.key);
                true
            }
            None => false,
        }
    }

    /// Disarms every timer of the connection (it is being removed).
    pub(super) fn cancel_all_timers(&mut self, reactor: &mut ReactorCore) {
        if let Some(cold) = &mut self.cold {
            for timer in cold.user_timers.drain(..) {
                reactor.cancel_timer(timer.key);
            }
        }
        for key in [
            self.idle_timer.take(),
            self.close_timer.take(),
            self.frame_timer.take(),
        ]
        .into_iter()
        .flatten()
        {
            reactor.cancel_timer(key);
        }
    }

    fn idle_since(&self, kind: Idle) -> Moment {
        let activity = match kind {
            Idle::Read => self.last_read,
            Idle::Write => self.last_write,
            Idle::All => self.last_read.max(self.last_write),
        };
        match self
            .cold
            .as_ref()
            .and_then(|c| c.idle_reported[kind as usize])
        {
            Some(reported) => activity.max(reported),
            None => activity,
        }
    }

    /// (Re)arms the one idle timer of this connection at the earliest idle deadline.
    pub(super) fn arm_idle(&mut self, reactor: &mut ReactorCore) {
        let idle = reactor.config().idle;
        let deadline = [Idle::Read, Idle::Write, Idle::All]
            .into_iter()
            .filter_map(|kind| Some(deadline_after(self.idle_since(kind), idle.get(kind)?)))
            .min();
        if let Some(deadline) = deadline {
            self.idle_timer = Some(reactor.insert_timer(deadline, TimerEvent::Idle(self.token)));
        }
    }

    /// Records what the decoder said when it stopped: `waiting` for the rest of a frame or
    /// not, after delivering frames (`progressed`) or not. Drives the frame deadline.
    #[inline]
    pub(crate) fn note_frame(&mut self, waiting: bool, progressed: bool, now: Moment) {
        if !waiting {
            self.frame_since = None;
        } else if progressed || self.frame_since.is_none() {
            self.frame_since = Some(now);
        }
    }

    /// Arms the frame timer if a frame is in progress and none is armed.
    #[inline]
    pub(super) fn arm_frame_timer(&mut self, reactor: &mut ReactorCore) {
        if self.frame_since.is_none() {
            return; // between frames: the usual case, kept inline
        }
        let (Some(since), Some(timeout), None) = (
            self.frame_since,
            reactor.config().frame_timeout,
            self.frame_timer,
        ) else {
            return;
        };
        self.frame_timer = Some(reactor.insert_timer(
            deadline_after(since, timeout),
            TimerEvent::FrameDeadline(self.token),
        ));
    }
}

impl<P: Drive> Connection<P> {
    /// A timer of this connection fired.
    pub(crate) fn on_timer(&mut self, reactor: &mut ReactorCore, key: TimerKey, event: TimerEvent) {
        let Connection { core, pipeline, .. } = self;
        match event {
            TimerEvent::Idle(_) => {
                if core.idle_timer != Some(key) {
                    return;
                }
                core.idle_timer = None;
                if !core.accepts_writes() {
                    return;
                }
                let idle = reactor.config().idle;
                for kind in [Idle::Read, Idle::Write, Idle::All] {
                    let Some(timeout) = idle.get(kind) else {
                        continue;
                    };
                    if reactor.now() >= deadline_after(core.idle_since(kind), timeout) {
                        core.cold_mut().idle_reported[kind as usize] = Some(reactor.now());
                        guarded(core, reactor, Some(Callback::Idle), |core, reactor| {
                            pipeline.idle(core, reactor, kind)
                        });
                    }
                }
                if core.accepts_writes() {
                    core.arm_idle(reactor);
                }
            }
            TimerEvent::User(_, id) => {
                let token = core.token;
                let Some(cold) = &mut core.cold else {
                    return;
                };
                let Some(i) = cold.user_timers.iter().position(|t| t.id == id) else {
                    return;
                };
                match cold.user_timers[i].period {
                    Some(period) => {
                        let next = deadline_after(reactor.now(), period);
                        cold.user_timers[i].key =
                            reactor.insert_timer(next, TimerEvent::User(token, id));
                    }
                    None => {
                        cold.user_timers.swap_remove(i);
                    }
                }
                if core.accepts_writes() {
                    guarded(core, reactor, Some(Callback::Timer), |core, reactor| {
                        pipeline.timer(core, reactor, id)
                    });
                }
            }
            TimerEvent::FrameDeadline(_) => {
                if core.frame_timer != Some(key) {
                    return;
                }
                core.frame_timer = None;
                let (Some(since), Some(timeout)) =
                    (core.frame_since, reactor.config().frame_timeout)
                else {
                    return;
                };
                if reactor.now() < deadline_after(since, timeout) {
                    core.arm_frame_timer(reactor); // the frame began later than we armed for
                    return;
                }
                if core.accepts_writes() {
                    core.fail(
                        CloseReason::FrameTimeout,
                        &format_args!("a frame was still incomplete after {timeout:?}"),
                    );
                }
            }
            TimerEvent::ProxyHeaderDeadline(_) => {
                if core.frame_timer != Some(key) {
                    return;
                }
                core.proxy_header_deadline(reactor);
            }
            TimerEvent::TlsHandshakeDeadline(_) => core.tls_handshake_deadline(reactor, key),
            TimerEvent::ConnectDeadline(_) => {
                core.connect_deadline(reactor);
                return;
            }
            TimerEvent::CloseDeadline(_) => {
                if core.close_timer != Some(key) {
                    return;
                }
                core.close_timer = None;
                core.close_deadline_passed();
                return;
            }
        }
        self.settle(reactor, false);
    }
}
