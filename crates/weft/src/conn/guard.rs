//! The panic guard: every call into user code runs inside it, so that a panic closes that
//! one connection and the loop carries on.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use super::ConnCore;
use crate::error::CloseReason;
use crate::flood;
use crate::metrics::Callback;
use crate::services::ReactorCore;

/// Runs user code; a panic marks the connection's pipeline broken (never called again) and
/// closes the connection, after flushing what it was owed. The reactor publishes which
/// callback it is in, for the watchdog (see `metrics/activity.rs`).
#[inline]
pub(super) fn guarded(
    core: &mut ConnCore,
    reactor: &mut ReactorCore,
    callback: Option<Callback>,
    f: impl FnOnce(&mut ConnCore, &mut ReactorCore),
) {
    if core.panicked {
        return;
    }
    // `None`: the caller has published a span covering this call already.
    if let Some(callback) = callback {
        reactor
            .counters()
            .activity
            .enter(callback, core.id.as_u64());
    }
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| f(&mut *core, &mut *reactor)));
    if callback.is_some() {
        reactor.counters().activity.leave();
    }
    if let Err(payload) = outcome {
        core.panicked = true;
        reactor.counters().panicked();
        let message = panic_message(&*payload);
        if let Some(suppressed) = flood::admit(flood::Kind::Panic) {
            tracing::error!(conn = %core.id, peer = %core.peer, suppressed, "handler panicked: {message}");
        }
        core.request_close(CloseReason::HandlerPanic);
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string panic payload)"
    }
}
