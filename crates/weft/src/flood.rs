//! Logging that survives a flood: a condition that repeats (a thousand slow consumers, a
//! storm of malformed requests) is logged once per second per reactor thread, and the next
//! line it logs says how many like it were held back, instead of one line per event.
//!
//! ```text
//!   event  event  event ... event  (1 s later) event
//!   logged  held   held      held   logged, "suppressed = 4211"
//! ```

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How often one kind of event may be logged on one thread.
const PERIOD: Duration = Duration::from_secs(1);

/// The kinds of repeating event, each throttled on its own.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// A connection closed because of what its peer did (decode error, timeout, ...).
    Failure,
    /// A connection passed its output limit.
    SlowConsumer,
    /// User code panicked.
    Panic,
    /// A connection closed for a reason worth a line.
    Closed,
}

const KINDS: usize = 4;

struct Episode {
    last: Cell<Option<Instant>>,
    held: Cell<u64>,
}

thread_local! {
    static EPISODES: [Episode; KINDS] = const {
        [const { Episode { last: Cell::new(None), held: Cell::new(0) } }; KINDS]
    };
}

/// Whether an event of `kind` may be logged now: `Some(n)` with the number of events of
/// that kind held back since the last line, or `None` to hold this one back.
pub(crate) fn admit(kind: Kind) -> Option<u64> {
    EPISODES.with(|episodes| {
        let episode = &episodes[kind as usize];
        let now = Instant::now();
        match episode.last.get() {
            Some(last) if now.duration_since(last) < PERIOD => {
                episode.held.set(episode.held.get() + 1);
                None
            }
            _ => {
                episode.last.set(Some(now));
                Some(episode.held.replace(0))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_logs_once_and_counts_the_rest() {
        assert_eq!(admit(Kind::Panic), Some(0));
        for _ in 0..1000 {
            assert_eq!(admit(Kind::Panic), None);
        }
        assert_eq!(
            admit(Kind::SlowConsumer),
            Some(0),
            "kinds are throttled apart"
        );
        EPISODES.with(|e| {
            e[Kind::Panic as usize]
                .last
                .set(Some(Instant::now() - PERIOD))
        });
        assert_eq!(admit(Kind::Panic), Some(1000));
    }
}
