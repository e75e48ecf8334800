//! The watchdog: a thread that looks at every reactor's current callback (`activity.rs`)
//! a few times per stall threshold and reports, through `tracing`, a callback into user code
//! that has been running too long, naming the reactor, the connection, the callback and the
//! handler's and stages' Rust types.
//!
//! * **Stall**: the same callback seen running for the stall threshold (default 10 ms) is
//!   reported once, at `warn`, and counted (`weft_stalls_total`). The watchdog looks every
//!   half threshold, so a callback that runs 1.5 times the threshold is always reported,
//!   one between 1 and 1.5 times may be, a shorter one never.
//! * **Stuck**: a callback still running after the stuck threshold (default 1 s) is
//!   reported again at `error`, once per threshold, for as long as it runs: while the
//!   reactor is stuck, not after.
//!
//! The reactors pay four plain stores per callback; the watchdog reads them and sleeps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::activity::Sighting;
use super::Metrics;

/// Thresholds for the watchdog.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Thresholds {
    pub(crate) stall: Duration,
    pub(crate) stuck: Duration,
}

/// What the watchdog remembers of one reactor.
#[derive(Debug, Default)]
struct Watch {
    current: Option<(Sighting, Instant)>,
    reported: bool,
    last_stuck_report: Option<Instant>,
}

/// Runs the watchdog until `stop` is set.
pub(crate) fn run(metrics: Arc<Metrics>, thresholds: Thresholds, stop: Arc<AtomicBool>) {
    let period = (thresholds.stall / 2).max(Duration::from_millis(1));
    let mut watches: Vec<Watch> = (0..metrics.reactors.len())
        .map(|_| Watch::default())
        .collect();
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(period);
        let now = Instant::now();
        for (index, watch) in watches.iter_mut().enumerate() {
            look(&metrics, index, watch, thresholds, now);
        }
    }
}

fn look(metrics: &Metrics, index: usize, watch: &mut Watch, thresholds: Thresholds, now: Instant) {
    let counters = &metrics.reactors[index];
    let Some(seen) = counters.activity.sight() else {
        *watch = Watch::default();
        return;
    };
    let since = match watch.current {
        Some((known, since)) if known.seq == seen.seq => since,
        _ => {
            *watch = Watch {
                current: Some((seen, now)),
                ..Watch::default()
            };
            return;
        }
    };
    let running = now - since;
    let (handler, stages) = metrics.pipeline;
    let conn = seen
        .callback
        .has_connection()
        .then(|| format!("conn#{}", seen.conn));
    if running >= thresholds.stall && !watch.reported {
        watch.reported = true;
        counters.stalled();
        tracing::warn!(
            reactor = index,
            conn = conn.as_deref().unwrap_or("-"),
            callback = seen.callback.name(),
            handler,
            stages,
            "stall: a callback into user code has been running for at least {running:?} \
             (threshold {:?}); every connection of this reactor waits",
            thresholds.stall
        );
    }
    if running >= thresholds.stuck
        && watch
            .last_stuck_report
            .is_none_or(|last| now - last >= thresholds.stuck)
    {
        watch.last_stuck_report = Some(now);
        tracing::error!(
            reactor = index,
            conn = conn.as_deref().unwrap_or("-"),
            callback = seen.callback.name(),
            handler,
            stages,
            "reactor stuck: in {} for {running:?} and counting",
            seen.callback.name()
        );
    }
}
