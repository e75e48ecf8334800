//! The reactors' clock: a point in time as nanoseconds of the monotonic clock.
//!
//! A reactor reads the time twice per loop turn and compares and subtracts times many
//! times more (turn metrics, the poll timeout, the timer wheel, idle and frame deadlines).
//! `std::time::Instant` is a `timespec` underneath, so each subtraction normalises seconds
//! and nanoseconds with overflow checks: about 55 instructions, and a u128 division to
//! turn a deadline into a wheel tick. A [`Moment`] is one `u64`, read from the same clock
//! (`CLOCK_MONOTONIC`, which `Instant` uses on Linux; read in `net`, the crate's one
//! unsafe module), so subtracting is one instruction.
//! It converts to an `Instant` where the public API speaks `Instant`
//! ([`Context::now`](crate::Context::now)), through one anchor pair read at first use.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A point on the monotonic clock, in nanoseconds since an unspecified start (the boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Moment(u64);

impl Moment {
    /// The time now.
    #[inline]
    pub(crate) fn now() -> Moment {
        Moment(crate::net::monotonic_nanos())
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    #[inline]
    pub(crate) fn saturating_duration_since(self, earlier: Moment) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// Nanoseconds from `earlier` to `self`, zero if `earlier` is later.
    #[inline]
    pub(crate) fn nanos_since(self, earlier: Moment) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// `self + nanos`, saturating at the end of representable time (some 580 years after
    /// boot).
    #[inline]
    pub(crate) fn add_nanos(self, nanos: u64) -> Moment {
        Moment(self.0.saturating_add(nanos))
    }

    /// The same point as an `Instant`.
    pub(crate) fn to_instant(self) -> Instant {
        let (instant, moment) = anchor();
        if self >= moment {
            instant + self.saturating_duration_since(moment)
        } else {
            instant
                .checked_sub(moment.saturating_duration_since(self))
                .unwrap_or(instant)
        }
    }
}

impl std::ops::Add<Duration> for Moment {
    type Output = Moment;

    /// Saturating: a deadline past the end of representable time stays at the end.
    #[inline]
    fn add(self, d: Duration) -> Moment {
        self.add_nanos(saturating_nanos(d))
    }
}

#[inline]
fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// One `Instant` and the `Moment` of the same point: how the two scales line up. Read as
/// a `Moment` on each side of the `Instant`, keeping the tightest of a few tries (a
/// preemption between the reads would skew every conversion), at the midpoint.
fn anchor() -> (Instant, Moment) {
    static ANCHOR: OnceLock<(Instant, Moment)> = OnceLock::new();
    *ANCHOR.get_or_init(|| {
        let mut best: Option<(u64, Instant, Moment)> = None;
        for _ in 0..8 {
            let before = Moment::now();
            let instant = Instant::now();
            let after = Moment::now();
            let gap = after.nanos_since(before);
            if best.is_none_or(|(g, _, _)| gap < g) {
                best = Some((gap, instant, before.add_nanos(gap / 2)));
            }
            if gap < 1_000 {
                break;
            }
        }
        let (_, instant, moment) = best.expect("at least one try");
        (instant, moment)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_follow_instants() {
        let before = Instant::now();
        let m = Moment::now();
        let after = Instant::now();
        let i = m.to_instant();
        // The anchor pair is a few nanoseconds apart: allow a millisecond.
        let slack = Duration::from_millis(1);
        assert!(i + slack >= before && i <= after + slack);
        // Later moments are later instants, by the same amount.
        let later = (m + Duration::from_secs(3)).to_instant();
        assert_eq!(later - i, Duration::from_secs(3));
    }

    #[test]
    fn arithmetic_saturates() {
        let m = Moment::now();
        assert_eq!(m + Duration::MAX, Moment(u64::MAX));
        assert_eq!(
            m.saturating_duration_since(m + Duration::from_secs(1)),
            Duration::ZERO
        );
        assert_eq!(
            (m + Duration::from_millis(5)).saturating_duration_since(m),
            Duration::from_millis(5)
        );
        // A moment before the anchor maps before it.
        let anchor = anchor().1;
        let early = Moment(anchor.0 - 5_000);
        assert_eq!(
            anchor.to_instant() - early.to_instant(),
            Duration::from_micros(5)
        );
    }

    #[test]
    fn the_clock_does_not_go_backwards() {
        let mut last = Moment::now();
        for _ in 0..1000 {
            let now = Moment::now();
            assert!(now >= last);
            last = now;
        }
    }
}
