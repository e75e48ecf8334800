//! A hashed timer wheel, one per reactor.
//!
//! Timers are bucketed by deadline tick into a fixed ring of slots (`slot = tick % SLOTS`);
//! a slot holds the timers of every rotation that hash to it. A small heap holds one marker
//! per armed slot: the earliest deadline in that slot. So
//!
//! * inserting is O(1) plus a heap push when it makes its slot due earlier;
//! * finding the next deadline (the reactor's poll timeout) is a peek at the heap: a reactor
//!   with no due timer sleeps until exactly then, never ticking;
//! * expiring touches only the slots that hold due timers: the cost is proportional to what
//!   expires (plus the later-rotation timers that share those slots), never to the number of
//!   connections;
//! * cancelling is O(timers in the slot), usually a handful.
//!
//! Deadlines are rounded up to the next tick, so a timer never fires early; it fires at most
//! one tick (plus scheduling delay) late.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use crate::clock::Moment;

const SLOTS: usize = 4096;
const MASK: u64 = SLOTS as u64 - 1;

/// Identifies one scheduled timer: enough to find it again for cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    id: u64,
    tick: u64,
}

struct Entry<T> {
    id: u64,
    tick: u64,
    value: T,
}

struct Slot<T> {
    entries: Vec<Entry<T>>,
    /// The earliest deadline tick in `entries` that has a marker in the heap; `None` when the
    /// slot is empty. May be stale-early after a cancellation (harmless: one early look).
    armed: Option<u64>,
}

/// A hashed timer wheel holding values of type `T`.
pub(crate) struct TimerWheel<T> {
    origin: Moment,
    /// The tick in nanoseconds (at least 1).
    tick: u64,
    slots: Box<[Slot<T>]>,
    /// `(deadline tick, slot index)` for every armed slot, earliest first.
    markers: BinaryHeap<Reverse<(u64, usize)>>,
    /// The instant of the tick last looked up for the heap's top marker: the reactor asks
    /// "is anything due?" and "when is the next deadline?" every loop turn, and the answer
    /// changes only when the top marker does.
    head: Option<(u64, Moment)>,
    next_id: u64,
    len: usize,
}

impl<T> TimerWheel<T> {
    /// A wheel whose resolution is `tick`, counting from `origin`.
    pub(crate) fn new(origin: Moment, tick: Duration) -> Self {
        assert!(!tick.is_zero(), "timer tick must be positive");
        let tick = u64::try_from(tick.as_nanos()).unwrap_or(u64::MAX);
        let slots = (0..SLOTS)
            .map(|_| Slot {
                entries: Vec::new(),
                armed: None,
            })
            .collect();
        TimerWheel {
            origin,
            tick,
            slots,
            markers: BinaryHeap::new(),
            head: None,
            next_id: 0,
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn tick_of(&self, at: Moment, round_up: bool) -> u64 {
        let since = at.nanos_since(self.origin);
        if round_up {
            since.div_ceil(self.tick)
        } else {
            since / self.tick
        }
    }

    /// `instant_of(tick)` for the heap's top marker, remembered until the top changes.
    #[inline]
    fn head_instant(&mut self, tick: u64) -> Moment {
        match self.head {
            Some((cached, at)) if cached == tick => at,
            _ => {
                let at = self.instant_of(tick);
                self.head = Some((tick, at));
                at
            }
        }
    }

    fn instant_of(&self, tick: u64) -> Moment {
        self.origin.add_nanos(tick.saturating_mul(self.tick))
    }

    /// Schedules `value` to expire at `deadline`.
    pub(crate) fn insert(&mut self, deadline: Moment, value: T) -> TimerKey {
        let id = self.next_id;
        self.next_id += 1;
        let tick = self.tick_of(deadline, true);
        let index = (tick & MASK) as usize;
        let slot = &mut self.slots[index];
        slot.entries.push(Entry { id, tick, value });
        if slot.armed.is_none_or(|armed| tick < armed) {
            slot.armed = Some(tick);
            self.markers.push(Reverse((tick, index)));
        }
        self.len += 1;
        TimerKey { id, tick }
    }

    /// Removes a timer that has not fired yet and returns its value.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<T> {
        let slot = &mut self.slots[(key.tick & MASK) as usize];
        let position = slot.entries.iter().position(|e| e.id == key.id)?;
        let entry = slot.entries.swap_remove(position);
        if slot.entries.is_empty() {
            slot.armed = None;
        }
        self.len -= 1;
        Some(entry.value)
    }

    /// When the earliest timer is due, if there is one.
    pub(crate) fn next_deadline(&mut self) -> Option<Moment> {
        while let Some(&Reverse((tick, index))) = self.markers.peek() {
            if self.slots[index].armed == Some(tick) {
                return Some(self.head_instant(tick));
            }
            self.markers.pop();
        }
        None
    }

    /// Moves every timer due at `now` into `due`, earliest deadline first (ties in the order
    /// they were scheduled), with the key each one was scheduled under.
    pub(crate) fn expire(&mut self, now: Moment, due: &mut Vec<(TimerKey, T)>) {
        // Every loop turn asks; usually nothing is due: one comparison of instants.
        // (`now < instant_of(tick)` is `tick_of(now) < tick`.)
        let Some(&Reverse((head, _))) = self.markers.peek() else {
            return;
        };
        if now < self.head_instant(head) {
            return;
        }
        let now_tick = self.tick_of(now, false);
        let first = due.len();
        while let Some(&Reverse((tick, index))) = self.markers.peek() {
            if tick > now_tick {
                break;
            }
            self.markers.pop();
            let slot = &mut self.slots[index];
            if slot.armed != Some(tick) {
                continue; // stale marker: the slot was emptied or re-armed
            }
            let mut next_armed: Option<u64> = None;
            let mut i = 0;
            while i < slot.entries.len() {
                if slot.entries[i].tick <= now_tick {
                    let Entry { id, tick, value } = slot.entries.swap_remove(i);
                    due.push((TimerKey { id, tick }, value));
                    self.len -= 1;
                } else {
                    let t = slot.entries[i].tick;
                    next_armed = Some(next_armed.map_or(t, |n| n.min(t)));
                    i += 1;
                }
            }
            slot.armed = next_armed;
            if let Some(t) = next_armed {
                self.markers.push(Reverse((t, index)));
            }
        }
        due[first..].sort_by_key(|(key, _)| (key.tick, key.id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn wheel() -> (TimerWheel<u32>, Moment) {
        let origin = Moment::now();
        (TimerWheel::new(origin, MS), origin)
    }

    fn fire(w: &mut TimerWheel<u32>, at: Moment) -> Vec<u32> {
        let mut due = Vec::new();
        w.expire(at, &mut due);
        due.into_iter().map(|(_, v)| v).collect()
    }

    #[test]
    fn fires_in_deadline_order_never_early() {
        let (mut w, t0) = wheel();
        w.insert(t0 + 30 * MS, 3);
        w.insert(t0 + 10 * MS, 1);
        w.insert(t0 + 20 * MS, 2);
        w.insert(t0 + 10 * MS, 11);
        assert_eq!(w.next_deadline(), Some(t0 + 10 * MS));
        assert!(fire(&mut w, t0 + 9 * MS).is_empty());
        assert_eq!(fire(&mut w, t0 + 25 * MS), vec![1, 11, 2]);
        assert_eq!(w.next_deadline(), Some(t0 + 30 * MS));
        assert_eq!(fire(&mut w, t0 + 31 * MS), vec![3]);
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn cancelled_timers_do_not_fire() {
        let (mut w, t0) = wheel();
        let a = w.insert(t0 + 5 * MS, 1);
        w.insert(t0 + 6 * MS, 2);
        assert_eq!(w.cancel(a), Some(1));
        assert_eq!(w.cancel(a), None);
        assert_eq!(fire(&mut w, t0 + 10 * MS), vec![2]);
    }

    #[test]
    fn far_deadlines_share_slots_without_firing_early() {
        let (mut w, t0) = wheel();
        let rotation = SLOTS as u32;
        // Same slot, three different rotations.
        w.insert(t0 + (2 * rotation + 7) * MS, 3);
        w.insert(t0 + 7 * MS, 1);
        w.insert(t0 + (rotation + 7) * MS, 2);
        assert_eq!(fire(&mut w, t0 + 8 * MS), vec![1]);
        assert_eq!(w.next_deadline(), Some(t0 + (rotation + 7) * MS));
        assert!(fire(&mut w, t0 + (rotation + 6) * MS).is_empty());
        assert_eq!(fire(&mut w, t0 + (rotation + 7) * MS), vec![2]);
        assert_eq!(fire(&mut w, t0 + (3 * rotation) * MS), vec![3]);
    }

    #[test]
    fn a_long_stall_fires_everything_overdue_in_order() {
        let (mut w, t0) = wheel();
        for i in (0..10_000u32).rev() {
            w.insert(t0 + (i * 3) * MS, i);
        }
        let fired = fire(&mut w, t0 + Duration::from_secs(60));
        assert_eq!(fired, (0..10_000).collect::<Vec<_>>());
    }

    #[test]
    fn many_timers_expire_incrementally() {
        let (mut w, t0) = wheel();
        for i in 0..5_000u32 {
            w.insert(t0 + (i % 100 + 1) * MS, i);
        }
        let mut seen = 0;
        for ms in 1..=100u32 {
            let fired = fire(&mut w, t0 + ms * MS);
            assert_eq!(fired.len(), 50, "at {ms} ms");
            assert!(fired.iter().all(|v| v % 100 + 1 == ms));
            seen += fired.len();
        }
        assert_eq!(seen, 5_000);
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn deadlines_in_the_past_fire_at_once() {
        let origin = Moment::now();
        let mut w = TimerWheel::new(origin + Duration::from_secs(1), MS);
        w.insert(origin, 1);
        assert_eq!(fire(&mut w, origin + Duration::from_secs(1)), vec![1]);
    }
}
