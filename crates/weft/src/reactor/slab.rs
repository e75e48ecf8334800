//! Connection slots addressed by generation-checked tokens.
//!
//! A token packs a slot index (low 32 bits) and the slot's generation (high 32 bits). A slot's
//! generation changes every time it is freed, so a token that outlived its connection (in a
//! timer, a queued command or a late event) never reaches the connection that took the slot
//! afterwards.
//!
//! ```text
//!   token = generation << 32 | index        generation in 0..=u32::MAX-1
//!   reserved tokens (WAKER, LISTENER) sit at usize::MAX and just below: never produced here
//! ```

use mio::Token;

/// Wakes a reactor or the acceptor out of `poll` (see `Inbox`).
pub(crate) const WAKER: Token = Token(usize::MAX);
/// The listening socket of the acceptor, or of a reactor in `SO_REUSEPORT` mode.
pub(crate) const LISTENER: Token = Token(usize::MAX - 1);

const MAX_GENERATION: u32 = u32::MAX - 1;

const _: () = assert!(
    usize::BITS >= 64,
    "weft's token layout needs a 64-bit target"
);

enum Slot<T> {
    Occupied { generation: u32, value: T },
    Vacant { generation: u32, next_free: u32 },
}

/// A slab of `T` keyed by generation-checked [`Token`]s.
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    /// Head of the free list (`u32::MAX` when empty).
    free_head: u32,
    len: usize,
}

const NO_FREE: u32 = u32::MAX;

fn encode(index: u32, generation: u32) -> Token {
    Token(((generation as usize) << 32) | index as usize)
}

fn decode(token: Token) -> (u32, u32) {
    ((token.0 & 0xFFFF_FFFF) as u32, (token.0 >> 32) as u32)
}

impl<T> Slab<T> {
    pub(crate) fn new() -> Self {
        Slab {
            slots: Vec::new(),
            free_head: NO_FREE,
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Stores the value built by `make` (which is told its token) and returns the token.
    pub(crate) fn insert_with(&mut self, make: impl FnOnce(Token) -> T) -> Token {
        let index = if self.free_head != NO_FREE {
            self.free_head
        } else {
            let index = u32::try_from(self.slots.len()).expect("more than 2^32 connections");
            assert!(index != NO_FREE, "more than 2^32 - 1 connections");
            self.slots.push(Slot::Vacant {
                generation: 0,
                next_free: NO_FREE,
            });
            index
        };
        let slot = &mut self.slots[index as usize];
        let (generation, next_free) = match *slot {
            Slot::Vacant {
                generation,
                next_free,
            } => (generation, next_free),
            Slot::Occupied { .. } => unreachable!("free list points at an occupied slot"),
        };
        self.free_head = next_free;
        let token = encode(index, generation);
        *slot = Slot::Occupied {
            generation,
            value: make(token),
        };
        self.len += 1;
        token
    }

    pub(crate) fn get_mut(&mut self, token: Token) -> Option<&mut T> {
        let (index, generation) = decode(token);
        match self.slots.get_mut(index as usize) {
            Some(Slot::Occupied {
                generation: g,
                value,
            }) if *g == generation => Some(value),
            _ => None,
        }
    }

    /// Two distinct live values at once (the two sides of a splice); `None` unless both
    /// tokens are live and different.
    pub(crate) fn pair_mut(&mut self, a: Token, b: Token) -> Option<(&mut T, &mut T)> {
        let ((ia, ga), (ib, gb)) = (decode(a), decode(b));
        if ia == ib {
            return None;
        }
        let (low, high) = (ia.min(ib) as usize, ia.max(ib) as usize);
        if high >= self.slots.len() {
            return None;
        }
        let (left, right) = self.slots.split_at_mut(high);
        let (first, second) = (&mut left[low], &mut right[0]);
        let (slot_a, slot_b, want_a, want_b) = if ia < ib {
            (first, second, ga, gb)
        } else {
            (second, first, ga, gb)
        };
        match (slot_a, slot_b) {
            (
                Slot::Occupied {
                    generation: g1,
                    value: v1,
                },
                Slot::Occupied {
                    generation: g2,
                    value: v2,
                },
            ) if *g1 == want_a && *g2 == want_b => Some((v1, v2)),
            _ => None,
        }
    }

    pub(crate) fn remove(&mut self, token: Token) -> Option<T> {
        let (index, generation) = decode(token);
        let slot = self.slots.get_mut(index as usize)?;
        match slot {
            Slot::Occupied { generation: g, .. } if *g == generation => {}
            _ => return None,
        }
        let next_generation = if generation >= MAX_GENERATION {
            0
        } else {
            generation + 1
        };
        let old = std::mem::replace(
            slot,
            Slot::Vacant {
                generation: next_generation,
                next_free: self.free_head,
            },
        );
        self.free_head = index;
        self.len -= 1;
        match old {
            Slot::Occupied { value, .. } => Some(value),
            Slot::Vacant { .. } => unreachable!(),
        }
    }

    /// Every live token, for operations over all connections (shutdown).
    pub(crate) fn tokens(&self) -> Vec<Token> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| match slot {
                Slot::Occupied { generation, .. } => Some(encode(i as u32, *generation)),
                Slot::Vacant { .. } => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_token_misses_the_slot_reuser() {
        let mut slab = Slab::new();
        let first = slab.insert_with(|_| "first");
        assert_eq!(slab.remove(first), Some("first"));
        let second = slab.insert_with(|_| "second");
        assert_ne!(first, second, "a reused slot must get a new token");
        assert!(slab.get_mut(first).is_none());
        assert!(slab.remove(first).is_none());
        assert_eq!(slab.get_mut(second), Some(&mut "second"));
    }

    #[test]
    fn pair_mut_gives_two_live_values_in_the_order_asked() {
        let mut slab = Slab::new();
        let a = slab.insert_with(|_| 1);
        let b = slab.insert_with(|_| 2);
        let (x, y) = slab.pair_mut(b, a).unwrap();
        assert_eq!((*x, *y), (2, 1));
        *x = 20;
        assert_eq!(slab.get_mut(b), Some(&mut 20));
        assert!(slab.pair_mut(a, a).is_none());
        slab.remove(b);
        assert!(slab.pair_mut(a, b).is_none(), "a stale token");
    }

    #[test]
    fn tokens_never_collide_with_reserved_ones() {
        let mut slab: Slab<()> = Slab::new();
        // Force the generation of slot 0 to wrap.
        slab.slots.push(Slot::Vacant {
            generation: MAX_GENERATION,
            next_free: NO_FREE,
        });
        slab.free_head = 0;
        let token = slab.insert_with(|_| ());
        assert!(token != WAKER && token != LISTENER);
        slab.remove(token);
        let wrapped = slab.insert_with(|_| ());
        assert_eq!(wrapped, Token(0));
    }

    #[test]
    fn insert_with_sees_its_own_token_and_len_tracks() {
        let mut slab = Slab::new();
        let a = slab.insert_with(|t| t);
        let b = slab.insert_with(|t| t);
        assert_eq!(slab.get_mut(a).copied(), Some(a));
        assert_eq!(slab.get_mut(b).copied(), Some(b));
        assert_eq!(slab.len(), 2);
        assert_eq!(slab.tokens(), vec![a, b]);
        slab.remove(a);
        assert_eq!(slab.len(), 1);
        assert!(slab.get_mut(a).is_none());
        assert!(slab.get_mut(b).is_some());
    }
}
