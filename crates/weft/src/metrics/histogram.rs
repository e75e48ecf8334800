//! A fixed-bucket histogram of durations, written by one thread (a reactor) with plain
//! loads and stores, read by any.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the buckets, in nanoseconds (the last bucket is `+Inf`): from 5 µs, the
/// cost of a quiet turn, to 2.5 s, a reactor in trouble.
pub(crate) const BOUNDS_NS: [u64; 18] = [
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
];

/// Buckets: one per bound, and the `+Inf` one.
pub(crate) const BUCKETS: usize = BOUNDS_NS.len() + 1;

/// Counts per bucket (not cumulative), and the sum of every observation.
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    counts: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
}

/// Adds `n` to a counter that only the calling thread writes.
#[inline]
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

impl Histogram {
    /// Records one duration. Only the owning thread may call it.
    #[inline]
    #[cfg(test)]
    pub(crate) fn record(&self, took: Duration) {
        self.record_ns(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
    }

    /// [`record`](Self::record) of a time in nanoseconds.
    #[inline]
    pub(crate) fn record_ns(&self, ns: u64) {
        let bucket = BOUNDS_NS
            .iter()
            .position(|&bound| ns <= bound)
            .unwrap_or(BUCKETS - 1);
        bump(&self.counts[bucket], 1);
        bump(&self.sum_ns, ns);
    }

    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            counts: std::array::from_fn(|i| self.counts[i].load(Relaxed)),
            sum: Duration::from_nanos(self.sum_ns.load(Relaxed)),
        }
    }
}

/// A histogram of durations at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramSnapshot {
    counts: [u64; BUCKETS],
    sum: Duration,
}

impl Default for HistogramSnapshot {
    fn default() -> Self {
        HistogramSnapshot {
            counts: [0; BUCKETS],
            sum: Duration::ZERO,
        }
    }
}

impl HistogramSnapshot {
    /// The number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The sum of every observation.
    pub fn sum(&self) -> Duration {
        self.sum
    }

    /// `(upper bound, observations at or below it)` for every bucket, cumulative as in
    /// Prometheus; the last bound is `None` (`+Inf`).
    pub fn buckets(&self) -> impl Iterator<Item = (Option<Duration>, u64)> + '_ {
        let mut total = 0;
        (0..BUCKETS).map(move |i| {
            total += self.counts[i];
            (BOUNDS_NS.get(i).map(|&ns| Duration::from_nanos(ns)), total)
        })
    }

    /// An estimate of the `q` quantile (0 to 1): the upper bound of the bucket it falls
    /// in (`None` when empty or in the `+Inf` bucket).
    pub fn quantile_bound(&self, q: f64) -> Option<Duration> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = ((count as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        self.buckets()
            .find(|&(_, cumulative)| cumulative >= rank)
            .and_then(|(bound, _)| bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_bucket_and_add_up() {
        let h = Histogram::default();
        h.record(Duration::from_micros(3));
        h.record(Duration::from_micros(7));
        h.record(Duration::from_millis(7));
        h.record(Duration::from_secs(100));
        let s = h.snapshot();
        assert_eq!(s.count(), 4);
        let buckets: Vec<_> = s.buckets().collect();
        assert_eq!(buckets[0], (Some(Duration::from_micros(5)), 1));
        assert_eq!(buckets[1], (Some(Duration::from_micros(10)), 2));
        assert_eq!(buckets[9], (Some(Duration::from_millis(5)), 2));
        assert_eq!(buckets[10], (Some(Duration::from_millis(10)), 3));
        assert_eq!(buckets[BUCKETS - 1], (None, 4));
        assert_eq!(s.quantile_bound(0.5), Some(Duration::from_micros(10)));
        assert_eq!(s.quantile_bound(1.0), None, "in +Inf");
        assert!(s.sum() > Duration::from_secs(100));
    }
}
