//! A small Redis-compatible server: a sharded in-memory [`Store`] and the [`RespHandler`]
//! that runs commands against it.
//!
//! # Commands
//!
//! | command | reply |
//! |---|---|
//! | `PING [message]` | `+PONG`, or the message as a bulk string |
//! | `ECHO message` | the message |
//! | `SET key value [NX\|XX] [EX seconds\|PX milliseconds]` | `+OK`; null if NX/XX prevented it |
//! | `GET key` | the value, or null |
//! | `DEL key [key ...]` | how many keys were removed |
//! | `EXISTS key [key ...]` | how many of the keys exist (repeats count again) |
//! | `INCR key` | the new value; a missing key counts as 0; the expiry is kept |
//! | `MGET key [key ...]` | an array of values and nulls |
//! | `MSET key value [key value ...]` | `+OK`, all keys set at once |
//! | `DBSIZE` | the number of keys held, counting expired keys not yet reclaimed (as redis-server does) |
//! | `FLUSHALL [ASYNC\|SYNC]` | `+OK` |
//! | `CONFIG GET parameter` | `save` and `appendonly` as an unpersisted redis-server reports them, otherwise empty (`redis-benchmark` asks); a map |
//! | `SET ... [GET] [KEEPTTL]`, `GETSET`, `SETNX`, `APPEND`, `STRLEN` | as redis 7 |
//! | `INCRBY`, `DECR`, `DECRBY` | the new value; the expiry is kept |
//! | `TTL`, `PTTL`, `EXPIRE`, `PEXPIRE` (`NX\|XX\|GT\|LT`), `TYPE` | as redis 7 |
//! | `KEYS pattern`, `SCAN cursor [MATCH p] [COUNT n] [TYPE t]` | glob matching ([`glob_match`]); `SCAN` walks whole shards, see [`Store`]'s `scan` |
//! | `AUTH`, `SELECT`, `INFO [section]`, `COMMAND [COUNT\|DOCS\|INFO]` | as redis 7 with no password and one database |
//! | `HELLO [2\|3 [AUTH u p] [SETNAME n]]`, `CLIENT SETNAME\|GETNAME\|ID\|SETINFO` | per connection, in [`RespHandler`] |
//! | `MULTI`, `EXEC`, `DISCARD` | per connection, in [`RespHandler`]: at most [`MAX_QUEUED`] commands and [`MAX_QUEUED_BYTES`] |
//!
//! # Protocols
//!
//! Each connection speaks RESP2 until `HELLO 3`; then replies are RESP3 (nulls `_`, maps
//! `%`). Commands build one [`RespValue`]; the handler turns it into the connection's
//! protocol with [`RespValue::into_resp2`] or [`RespValue::into_resp3`], so RESP2 replies
//! are byte for byte what they were before RESP3.
//!
//! # Transactions
//!
//! `MULTI` queues commands (copied out of the read buffer), checking each as redis does at
//! queue time (unknown command, wrong number of arguments: `EXEC` then answers
//! `EXECABORT`). `EXEC` runs them holding the store's gate exclusively; every other command
//! holds it shared, so no command of another connection runs inside a transaction.
//!
//! Command names are case-insensitive. Errors use `redis-server`'s own wording:
//! `-ERR unknown command 'FOO', with args beginning with: 'a' `, `-ERR wrong number of
//! arguments for 'get' command`, `-ERR value is not an integer or out of range`, `-ERR syntax
//! error`, `-ERR invalid expire time in 'set' command`, `-ERR increment or decrement would
//! overflow`. A protocol error is answered with `-ERR Protocol error: ...` in
//! redis-server's words (`expected '$', got 'f'`, `invalid bulk length`, `too big inline
//! request`), then the connection closes, as `redis-server` does.
//!
//! # The store
//!
//! 64 shards, each a `Mutex<HashMap>`, picked by a hash of the key: connections on
//! different reactors contend only when they touch the same shard, and never on a global
//! lock but the transaction gate (an `RwLock<()>` every command takes shared and only `EXEC`
//! takes exclusively). Commands on several keys (`MSET`, `MGET`, `FLUSHALL`) lock the shards
//! they need in index order, so they are atomic and cannot deadlock.
//!
//! Expiry is checked when a key is read; [`Store::sweep`] removes expired keys that nobody
//! reads (the binary runs it once a second). Until one or the other reclaims it, an expired
//! key still counts in `DBSIZE`, as in redis-server, which reclaims lazily the same way:
//! this keeps `DBSIZE` a read of each shard's length instead of a walk over every key.
//!
//! `EX`/`PX` amounts are validated as redis-server 7 validates them: positive, and with a
//! deadline in Unix milliseconds that fits in an `i64`; otherwise `-ERR invalid expire time
//! in 'set' command`.
//!
//! Keys and values are copied out of the request when stored: the request's arguments are
//! slices of a reactor's read buffer, and keeping one alive would keep the whole buffer.
//!
//! # Output
//!
//! The common contract of the sample servers (`docs/protocols.md`, "Common to every sample
//! server") holds: what one connection's queued output costs never passes its output limit
//! (`--max-pending`), counted as weft counts it (`docs/flow-control.md`): encoded bytes, plus
//! 128 bytes per separately queued chunk, and only those 128 bytes for a *shared* chunk.
//!
//! * **Zero-copy replies.** [`execute`] answers `GET` and `MGET` with the stored values
//!   themselves ([`Reply::Stored`], [`Reply::StoredArray`]). A value of at least
//!   [`SHARE_AT`] bytes is queued with [`Context::write_shared`], referenced rather than
//!   copied: the store holds it anyway, and it owns its own allocation (copied out of its
//!   request when stored), so the reference pins nothing else. The RESP framing around it
//!   goes out as small chunks. So `MGET` of one 1 MiB value 1023 times costs about 275 KB
//!   of the limit, not 1 GiB of memory, and the bytes on the wire are the same as
//!   [`RespCodec`](weft::codec::RespCodec) would encode ([`Reply::into_value`]). Smaller
//!   values are copied, up to [`COPY_BUDGET`] per reply; the rest of that reply is shared.
//!   Every other reply is encoded (copied) as usual.
//! * **Backpressure.** Reading pauses once queued output costs more than half the limit (at
//!   most 64 KiB; see [`watermarks`]), so a client pipelining requests without reading
//!   holds a bounded amount of memory however large the values it asks for.
//! * **A reply that cannot fit** (such as `ECHO` of an argument larger than the limit, or,
//!   with a small limit, an `MGET` of many large values) is not queued: the client gets
//!   `-ERR reply exceeds the output limit of N bytes` ([`reply_too_large`]) after the
//!   replies before it, and the connection closes. If replies the client had not read took
//!   the room a reply of stored values needed, the limit can stop that reply part way; then
//!   the connection closes without the error line (it would land inside the array), as
//!   redis-server closes a client that passes its output buffer limit.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::fmt::Write as _;

use weft::codec::RespValue;
use weft::{Bytes, BytesMut, CloseReason, Context, Error, Handler, WriteWatermarks};

/// How many shards a [`Store`] has.
pub const SHARDS: usize = 64;

#[derive(Debug, Clone)]
struct Entry {
    value: Bytes,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|t| t > now)
    }
}

type Shard = HashMap<Bytes, Entry>;

/// The key space: [`SHARDS`] mutex-protected maps, a key's shard picked by its hash.
pub struct Store {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    /// Taken shared by every command, exclusively by `EXEC`: a transaction runs with no
    /// other command between its commands.
    gate: RwLock<()>,
    /// Connections open now (`INFO clients`).
    clients: AtomicUsize,
    /// The last connection id handed out (`CLIENT ID`, `HELLO`).
    last_id: AtomicU64,
    /// When the store was made (`INFO server`'s uptime).
    started: Instant,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("shards", &SHARDS).finish()
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

/// The expiry `SET` gives a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// None: the key never expires.
    Clear,
    /// This deadline.
    At(Instant),
    /// The expiry it had (`KEEPTTL`).
    Keep,
}

/// When `EXPIRE` changes a key's deadline: always, or as its `NX`, `XX`, `GT`, `LT` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExpireRule {
    Always,
    IfNone,
    IfSome,
    IfGreater,
    IfLess,
}

/// Redis glob matching, as `KEYS` and `SCAN MATCH` use it: `*`, `?`, `[abc]`, `[^a-z]`,
/// and `\` to take the next byte as it is. Linear backtracking (to the last `*` only),
/// so a pattern costs at most its length times the key's.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if pattern.get(p) == Some(&b'*') {
            p += 1;
            star = Some((p, t));
            continue;
        }
        if p < pattern.len() {
            if let Some(next) = glob_one(pattern, p, text[t]) {
                p = next;
                t += 1;
                continue;
            }
        }
        match star {
            Some((after, from)) => {
                p = after;
                t = from + 1;
                star = Some((after, from + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Whether the pattern element at `pattern[p]` (not `*`) matches `c`: the index just past
/// that element if it does.
fn glob_one(pattern: &[u8], p: usize, c: u8) -> Option<usize> {
    match pattern[p] {
        b'?' => Some(p + 1),
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == c).then_some(p + 2),
        b'[' => {
            let mut i = p + 1;
            let negate = pattern.get(i) == Some(&b'^');
            if negate {
                i += 1;
            }
            let mut matched = false;
            while i < pattern.len() && pattern[i] != b']' {
                if pattern[i] == b'\\' && i + 1 < pattern.len() {
                    matched |= pattern[i + 1] == c;
                    i += 2;
                } else if i + 2 < pattern.len() && pattern[i + 1] == b'-' {
                    let (a, b) = (pattern[i], pattern[i + 2]);
                    let (low, high) = if a <= b { (a, b) } else { (b, a) };
                    matched |= (low..=high).contains(&c);
                    i += 3;
                } else {
                    matched |= pattern[i] == c;
                    i += 1;
                }
            }
            // An unclosed class ends with the pattern, as in redis.
            (matched != negate).then_some((i + 1).min(pattern.len()))
        }
        literal => (literal == c).then_some(p + 1),
    }
}

/// What `SET` does when the key exists or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    Always,
    IfAbsent,
    IfPresent,
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Store {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            gate: RwLock::new(()),
            clients: AtomicUsize::new(0),
            last_id: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    fn index(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) % SHARDS as u64) as usize
    }

    fn lock(&self, index: usize) -> MutexGuard<'_, Shard> {
        // A panic while holding a shard cannot leave a HashMap half-updated in a way that
        // matters here (every update is one insert or remove).
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Locks the shards of `keys`, in index order; returns the guards and, per key, the
    /// position of its guard.
    fn lock_many<'a>(
        &self,
        keys: impl Iterator<Item = &'a [u8]>,
    ) -> (Vec<MutexGuard<'_, Shard>>, Vec<usize>) {
        let indexes: Vec<usize> = keys.map(|k| self.index(k)).collect();
        let mut order = indexes.clone();
        order.sort_unstable();
        order.dedup();
        let guards = order.iter().map(|&i| self.lock(i)).collect();
        let slots = indexes
            .iter()
            .map(|i| order.binary_search(i).expect("locked above"))
            .collect();
        (guards, slots)
    }

    /// The live value of `key`.
    pub fn get(&self, key: &[u8], now: Instant) -> Option<Bytes> {
        let mut shard = self.lock(self.index(key));
        lookup(&mut shard, key, now).map(|e| e.value.clone())
    }

    /// Sets `key` to `value`, expiring after `ttl` if given. A `ttl` too long for an
    /// [`Instant`] to hold means the key never expires: its deadline lies past the clock's end.
    pub fn set(&self, key: &[u8], value: &[u8], ttl: Option<Duration>, now: Instant) {
        let expires = ttl.and_then(|ttl| now.checked_add(ttl));
        self.set_if(key, value, expires, Condition::Always, now);
    }

    /// Sets `key` to `value`, expiring at `expires` if given, if `condition` allows.
    fn set_if(
        &self,
        key: &[u8],
        value: &[u8],
        expires: Option<Instant>,
        condition: Condition,
        now: Instant,
    ) -> bool {
        let expiry = expires.map_or(Expiry::Clear, Expiry::At);
        self.set_full(key, value, expiry, condition, now).0
    }

    /// Sets `key` to `value` if `condition` allows, with the expiry `expiry` says; returns
    /// whether it was set and the live value it held before (`SET ... GET`, `GETSET`).
    fn set_full(
        &self,
        key: &[u8],
        value: &[u8],
        expiry: Expiry,
        condition: Condition,
        now: Instant,
    ) -> (bool, Option<Bytes>) {
        let mut shard = self.lock(self.index(key));
        let old = lookup(&mut shard, key, now).map(|e| (e.value.clone(), e.expires));
        let allowed = match condition {
            Condition::Always => true,
            Condition::IfAbsent => old.is_none(),
            Condition::IfPresent => old.is_some(),
        };
        if allowed {
            let expires = match expiry {
                Expiry::Clear => None,
                Expiry::At(at) => Some(at),
                Expiry::Keep => old.as_ref().and_then(|(_, at)| *at),
            };
            let entry = Entry {
                value: Bytes::copy_from_slice(value),
                expires,
            };
            shard.insert(Bytes::copy_from_slice(key), entry);
        }
        (allowed, old.map(|(value, _)| value))
    }

    /// Appends `value` to the string at `key` (made empty if missing), keeping its expiry;
    /// returns the new length.
    fn append(&self, key: &[u8], value: &[u8], now: Instant) -> usize {
        let mut shard = self.lock(self.index(key));
        let (mut joined, expires) = match lookup(&mut shard, key, now) {
            None => (Vec::with_capacity(value.len()), None),
            Some(entry) => {
                let mut joined = Vec::with_capacity(entry.value.len() + value.len());
                joined.extend_from_slice(&entry.value);
                (joined, entry.expires)
            }
        };
        joined.extend_from_slice(value);
        let len = joined.len();
        let entry = Entry {
            value: Bytes::from(joined),
            expires,
        };
        shard.insert(Bytes::copy_from_slice(key), entry);
        len
    }

    /// The remaining time to live of `key`: `None` if it is missing, `Some(None)` if it
    /// never expires.
    fn ttl(&self, key: &[u8], now: Instant) -> Option<Option<Duration>> {
        let mut shard = self.lock(self.index(key));
        lookup(&mut shard, key, now).map(|e| e.expires.map(|at| at.saturating_duration_since(now)))
    }

    /// `EXPIRE`: gives `key` the deadline `at` (`None`: a deadline already past, so the key
    /// is removed) if `rule` allows; true if the key exists and was changed.
    fn expire(&self, key: &[u8], at: Option<Instant>, rule: ExpireRule, now: Instant) -> bool {
        let mut shard = self.lock(self.index(key));
        let Some(entry) = lookup(&mut shard, key, now) else {
            return false;
        };
        // A missing deadline is later than any (the key never expires).
        let current = entry.expires;
        let new = at.unwrap_or(now);
        let allowed = match rule {
            ExpireRule::Always => true,
            ExpireRule::IfNone => current.is_none(),
            ExpireRule::IfSome => current.is_some(),
            ExpireRule::IfGreater => current.is_some_and(|c| new > c),
            ExpireRule::IfLess => current.is_none_or(|c| new < c),
        };
        if !allowed {
            return false;
        }
        match at {
            None => {
                shard.remove(key);
            }
            Some(at) => {
                if let Some(entry) = shard.get_mut(key) {
                    entry.expires = Some(at);
                }
            }
        }
        true
    }

    /// The live keys matching the glob `pattern`, one shard at a time (as `KEYS`, this
    /// walks every key).
    fn keys(&self, pattern: &[u8], now: Instant) -> Vec<Bytes> {
        let mut found = Vec::new();
        for i in 0..SHARDS {
            let shard = self.lock(i);
            found.extend(
                shard
                    .iter()
                    .filter(|(k, e)| e.live(now) && glob_match(pattern, k))
                    .map(|(k, _)| k.clone()),
            );
        }
        found
    }

    /// One `SCAN` step: the cursor is the index of the next shard to visit. Walks whole
    /// shards from `cursor` until at least `count` keys were looked at (or the last shard),
    /// so a call visits at most `count` keys plus one shard's worth; returns the next
    /// cursor (0 once every shard was visited) and the live keys matching `pattern`.
    fn scan(
        &self,
        cursor: usize,
        pattern: Option<&[u8]>,
        count: usize,
        now: Instant,
    ) -> (usize, Vec<Bytes>) {
        let mut found = Vec::new();
        let mut visited = 0;
        let mut next = cursor;
        while next < SHARDS && visited < count {
            let shard = self.lock(next);
            visited += shard.len();
            found.extend(
                shard
                    .iter()
                    .filter(|(k, e)| e.live(now) && pattern.is_none_or(|p| glob_match(p, k)))
                    .map(|(k, _)| k.clone()),
            );
            next += 1;
        }
        (if next >= SHARDS { 0 } else { next }, found)
    }

    /// How many live keys have a deadline (`INFO keyspace`): walks every key, one shard at a
    /// time.
    fn expires_count(&self, now: Instant) -> usize {
        (0..SHARDS)
            .map(|i| {
                self.lock(i)
                    .values()
                    .filter(|e| e.expires.is_some() && e.live(now))
                    .count()
            })
            .sum()
    }

    /// Removes `key`; true if it was live.
    pub fn del(&self, key: &[u8], now: Instant) -> bool {
        let mut shard = self.lock(self.index(key));
        shard.remove(key).is_some_and(|e| e.live(now))
    }

    /// True if `key` holds a live value.
    pub fn exists(&self, key: &[u8], now: Instant) -> bool {
        let mut shard = self.lock(self.index(key));
        lookup(&mut shard, key, now).is_some()
    }

    /// Adds 1 to the integer stored at `key` (0 if missing), keeping its expiry.
    pub fn incr(&self, key: &[u8], now: Instant) -> Result<i64, &'static str> {
        self.incr_by(key, 1, now)
    }

    /// Adds `delta` to the integer stored at `key` (0 if missing), keeping its expiry.
    pub fn incr_by(&self, key: &[u8], delta: i64, now: Instant) -> Result<i64, &'static str> {
        let mut shard = self.lock(self.index(key));
        let (current, expires) = match lookup(&mut shard, key, now) {
            None => (0, None),
            Some(entry) => (
                parse_integer(&entry.value).ok_or(NOT_AN_INTEGER)?,
                entry.expires,
            ),
        };
        let next = current.checked_add(delta).ok_or(OVERFLOW)?;
        let value = Bytes::from(next.to_string());
        match shard.get_mut(key) {
            Some(entry) => entry.value = value,
            None => {
                shard.insert(Bytes::copy_from_slice(key), Entry { value, expires });
            }
        }
        Ok(next)
    }

    /// The live values of `keys`, read under all their shards' locks at once.
    pub fn mget(&self, keys: &[Bytes], now: Instant) -> Vec<Option<Bytes>> {
        let (mut guards, slots) = self.lock_many(keys.iter().map(|k| &k[..]));
        keys.iter()
            .zip(slots)
            .map(|(key, slot)| lookup(&mut guards[slot], key, now).map(|e| e.value.clone()))
            .collect()
    }

    /// Sets every `(key, value)` pair at once.
    pub fn mset(&self, pairs: &[(Bytes, Bytes)]) {
        let (mut guards, slots) = self.lock_many(pairs.iter().map(|(k, _)| &k[..]));
        for ((key, value), slot) in pairs.iter().zip(slots) {
            let entry = Entry {
                value: Bytes::copy_from_slice(value),
                expires: None,
            };
            guards[slot].insert(Bytes::copy_from_slice(key), entry);
        }
    }

    /// The number of keys held, as redis-server's `DBSIZE` counts them: a key that has
    /// expired still counts until it is reclaimed, by a read or by [`Store::sweep`].
    ///
    /// One short lock per shard to read its length, whatever the number of keys: walking
    /// the entries to leave out the expired ones would hold up every other connection on the
    /// reactor. The shards are counted in turn, not at one instant.
    pub fn len(&self) -> usize {
        (0..SHARDS).map(|i| self.lock(i).len()).sum()
    }

    /// True if no key is held (expired but unreclaimed keys count as held; see
    /// [`Store::len`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every key, holding every shard's lock at once.
    pub fn clear(&self) {
        let mut guards: Vec<_> = (0..SHARDS).map(|i| self.lock(i)).collect();
        for shard in &mut guards {
            shard.clear();
        }
    }

    /// Removes expired keys, one shard at a time; returns how many.
    pub fn sweep(&self, now: Instant) -> usize {
        (0..SHARDS)
            .map(|i| {
                let mut shard = self.lock(i);
                let before = shard.len();
                shard.retain(|_, e| e.live(now));
                before - shard.len()
            })
            .sum()
    }
}

/// The live entry of `key`, removing it if it has expired.
fn lookup<'a>(shard: &'a mut Shard, key: &[u8], now: Instant) -> Option<&'a Entry> {
    if shard.get(key).is_some_and(|e| !e.live(now)) {
        shard.remove(key);
        return None;
    }
    shard.get(key)
}

const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
const OVERFLOW: &str = "ERR increment or decrement would overflow";
const SYNTAX: &str = "ERR syntax error";
const INVALID_EXPIRE: &str = "ERR invalid expire time in 'set' command";

/// The unit of `SET`'s expire amount: `EX` seconds or `PX` milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Milliseconds,
}

/// The wall clock as Unix milliseconds (negative before 1970), which redis-server adds an
/// expire amount to.
fn unix_millis() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// The deadline of a key set at `now` (`unix_ms` on the wall clock) with `EX`/`PX amount`,
/// validated as redis-server 7 validates it (`getExpireMillisecondsOrReply`): the amount must
/// be a positive integer; in seconds, it must survive being multiplied by 1000; and the
/// deadline in Unix milliseconds, amount plus `unix_ms`, must fit in an `i64` and be
/// positive, because that is how redis-server stores it. An amount that passes but whose
/// deadline an [`Instant`] cannot hold is refused the same way.
fn deadline(
    amount: &[u8],
    unit: Unit,
    unix_ms: i64,
    now: Instant,
) -> Result<Instant, &'static str> {
    let amount = parse_integer(amount).ok_or(NOT_AN_INTEGER)?;
    if amount <= 0 {
        return Err(INVALID_EXPIRE);
    }
    let millis = match unit {
        // Fails exactly when amount > i64::MAX / 1000, redis-server's bound.
        Unit::Seconds => amount.checked_mul(1000).ok_or(INVALID_EXPIRE)?,
        Unit::Milliseconds => amount,
    };
    match millis.checked_add(unix_ms) {
        Some(at) if at > 0 => {}
        _ => return Err(INVALID_EXPIRE),
    }
    // millis > 0, checked above.
    now.checked_add(Duration::from_millis(millis as u64))
        .ok_or(INVALID_EXPIRE)
}

/// An integer as redis-server reads one: an optional `-`, digits, no leading zeros (but
/// `0`), no `+`, no spaces, within `i64`.
fn parse_integer(s: &[u8]) -> Option<i64> {
    let digits = s.strip_prefix(b"-").unwrap_or(s);
    let valid = match digits {
        [] => false,
        [b'0'] => s.len() == 1,
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !valid || s.len() > 20 {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

fn simple(text: &'static str) -> RespValue {
    RespValue::simple(text)
}

fn error(text: &'static str) -> RespValue {
    RespValue::Error(Bytes::from_static(text.as_bytes()))
}

fn wrong_arity(name: &str) -> RespValue {
    RespValue::Error(Bytes::from(format!(
        "ERR wrong number of arguments for '{name}' command"
    )))
}

/// `ERR unknown command 'NAME', with args beginning with: 'a' 'b' `, built the way
/// redis-server builds it (arguments until 128 bytes, line breaks turned into spaces).
fn unknown_command(args: &[Bytes]) -> RespValue {
    let mut message = b"ERR unknown command '".to_vec();
    message.extend_from_slice(&args[0][..args[0].len().min(128)]);
    message.extend_from_slice(b"', with args beginning with: ");
    let mut listed = Vec::new();
    for arg in &args[1..] {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        listed.push(b'\'');
        listed.extend_from_slice(&arg[..arg.len().min(room)]);
        listed.extend_from_slice(b"' ");
    }
    message.extend_from_slice(&listed);
    for b in &mut message {
        if *b == b'\r' || *b == b'\n' {
            *b = b' ';
        }
    }
    RespValue::Error(Bytes::from(message))
}

/// What a command answers: a value the codec encodes, or values read from the store, which
/// [`RespHandler`] sends without copying when they are large (see `write_stored`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Any reply: encoded through the codec (copied into the output).
    Value(RespValue),
    /// `GET`: a stored value as a bulk string, or null.
    Stored(Option<Bytes>),
    /// `MGET`: an array of stored values (bulk strings) and nulls.
    StoredArray(Vec<Option<Bytes>>),
}

impl Reply {
    /// The same reply as one [`RespValue`] (what goes on the wire, byte for byte).
    pub fn into_value(self) -> RespValue {
        fn bulk(value: Option<Bytes>) -> RespValue {
            value.map_or(RespValue::Null, RespValue::Bulk)
        }
        match self {
            Reply::Value(value) => value,
            Reply::Stored(value) => bulk(value),
            Reply::StoredArray(values) => RespValue::Array(values.into_iter().map(bulk).collect()),
        }
    }
}

impl From<RespValue> for Reply {
    fn from(value: RespValue) -> Self {
        Reply::Value(value)
    }
}

/// Runs one command against `store`; `now` is the time expiry is judged by.
///
/// Takes the store's transaction gate shared for the command, so no `EXEC` runs in the
/// middle of it. The connection commands (`HELLO`, `CLIENT`, `MULTI`, `EXEC`, `DISCARD`)
/// are [`RespHandler`]'s: here they are unknown commands.
pub fn execute(store: &Store, args: &[Bytes], now: Instant) -> Reply {
    let _gate = store.gate.read().unwrap_or_else(|p| p.into_inner());
    execute_ungated(store, args, now)
}

/// The upper-case name of a command (empty if longer than any command name).
fn command_name(name: &[u8], upper: &mut [u8; 16]) -> usize {
    if name.len() > upper.len() {
        return 0;
    }
    upper[..name.len()].copy_from_slice(name);
    upper[..name.len()].make_ascii_uppercase();
    name.len()
}

/// Every command and its arity as redis-server gives it (`COMMAND`): a positive number is
/// the exact argument count (with the name), a negative one the least.
const COMMANDS: &[(&str, i64)] = &[
    ("PING", -1),
    ("ECHO", 2),
    ("SET", -3),
    ("GET", 2),
    ("DEL", -2),
    ("EXISTS", -2),
    ("INCR", 2),
    ("INCRBY", 3),
    ("DECR", 2),
    ("DECRBY", 3),
    ("MGET", -2),
    ("MSET", -3),
    ("APPEND", 3),
    ("STRLEN", 2),
    ("SETNX", 3),
    ("GETSET", 3),
    ("TTL", 2),
    ("PTTL", 2),
    ("EXPIRE", -3),
    ("PEXPIRE", -3),
    ("TYPE", 2),
    ("KEYS", 2),
    ("SCAN", -2),
    ("DBSIZE", 1),
    ("FLUSHALL", -1),
    ("CONFIG", -2),
    ("INFO", -1),
    ("COMMAND", -1),
    ("SELECT", 2),
    ("AUTH", -2),
    ("HELLO", -1),
    ("CLIENT", -2),
    ("MULTI", 1),
    ("EXEC", 1),
    ("DISCARD", 1),
];

/// The error redis-server gives a command before running it, as when queuing it in a
/// transaction: an unknown command, or a wrong number of arguments.
pub fn check_command(args: &[Bytes]) -> Option<RespValue> {
    let name = args.first()?;
    let mut upper = [0u8; 16];
    let len = command_name(name, &mut upper);
    let Some(&(_, arity)) = COMMANDS.iter().find(|(n, _)| n.as_bytes() == &upper[..len]) else {
        return Some(unknown_command(args));
    };
    let argc = args.len() as i64;
    let fits = if arity >= 0 {
        argc == arity
    } else {
        argc >= -arity
    };
    (!fits).then(|| wrong_arity(&String::from_utf8_lossy(&upper[..len]).to_ascii_lowercase()))
}

/// [`execute`] without taking the gate: `EXEC` holds it exclusively already.
fn execute_ungated(store: &Store, args: &[Bytes], now: Instant) -> Reply {
    let Some(name) = args.first() else {
        return error("ERR empty command").into();
    };
    let mut upper = [0u8; 16];
    let len = command_name(name, &mut upper);
    let name_upper = &upper[..len];
    let argc = args.len();
    let value = match name_upper {
        b"PING" => match argc {
            1 => simple("PONG"),
            2 => RespValue::Bulk(args[1].clone()),
            _ => wrong_arity("ping"),
        },
        b"ECHO" if argc == 2 => RespValue::Bulk(args[1].clone()),
        b"ECHO" => wrong_arity("echo"),
        b"GET" if argc == 2 => return Reply::Stored(store.get(&args[1], now)),
        b"GET" => wrong_arity("get"),
        b"SET" if argc >= 3 => return set(store, args, now),
        b"SET" => wrong_arity("set"),
        b"DEL" if argc >= 2 => {
            let removed = args[1..].iter().filter(|k| store.del(k, now)).count();
            RespValue::Integer(removed as i64)
        }
        b"DEL" => wrong_arity("del"),
        b"EXISTS" if argc >= 2 => {
            let found = args[1..].iter().filter(|k| store.exists(k, now)).count();
            RespValue::Integer(found as i64)
        }
        b"EXISTS" => wrong_arity("exists"),
        b"INCR" if argc == 2 => match store.incr(&args[1], now) {
            Ok(n) => RespValue::Integer(n),
            Err(message) => error(message),
        },
        b"INCR" => wrong_arity("incr"),
        b"MGET" if argc >= 2 => return Reply::StoredArray(store.mget(&args[1..], now)),
        b"MGET" => wrong_arity("mget"),
        b"MSET" if argc >= 3 && argc % 2 == 1 => {
            let pairs: Vec<(Bytes, Bytes)> = args[1..]
                .chunks_exact(2)
                .map(|kv| (kv[0].clone(), kv[1].clone()))
                .collect();
            store.mset(&pairs);
            simple("OK")
        }
        b"MSET" => wrong_arity("mset"),
        b"DBSIZE" if argc == 1 => RespValue::Integer(store.len() as i64),
        b"DBSIZE" => wrong_arity("dbsize"),
        b"FLUSHALL" => match args.get(1) {
            None if argc == 1 => {
                store.clear();
                simple("OK")
            }
            Some(mode)
                if argc == 2
                    && (mode.eq_ignore_ascii_case(b"async")
                        || mode.eq_ignore_ascii_case(b"sync")) =>
            {
                store.clear();
                simple("OK")
            }
            _ => error(SYNTAX),
        },
        b"CONFIG" => config(args),
        b"INCRBY" | b"DECRBY" if argc == 3 => {
            let decr = name_upper == b"DECRBY";
            match parse_integer(&args[2]) {
                None => error(NOT_AN_INTEGER),
                Some(i64::MIN) if decr => error("ERR decrement would overflow"),
                Some(n) => integer_reply(store.incr_by(&args[1], if decr { -n } else { n }, now)),
            }
        }
        b"INCRBY" => wrong_arity("incrby"),
        b"DECRBY" => wrong_arity("decrby"),
        b"DECR" if argc == 2 => integer_reply(store.incr_by(&args[1], -1, now)),
        b"DECR" => wrong_arity("decr"),
        b"APPEND" if argc == 3 => RespValue::Integer(store.append(&args[1], &args[2], now) as i64),
        b"APPEND" => wrong_arity("append"),
        b"STRLEN" if argc == 2 => {
            RespValue::Integer(store.get(&args[1], now).map_or(0, |v| v.len()) as i64)
        }
        b"STRLEN" => wrong_arity("strlen"),
        b"SETNX" if argc == 3 => {
            let set = store.set_if(&args[1], &args[2], None, Condition::IfAbsent, now);
            RespValue::Integer(i64::from(set))
        }
        b"SETNX" => wrong_arity("setnx"),
        b"GETSET" if argc == 3 => {
            let (_, old) =
                store.set_full(&args[1], &args[2], Expiry::Clear, Condition::Always, now);
            return Reply::Stored(old);
        }
        b"GETSET" => wrong_arity("getset"),
        b"TTL" | b"PTTL" if argc == 2 => RespValue::Integer(match store.ttl(&args[1], now) {
            None => -2,
            Some(None) => -1,
            Some(Some(left)) if name_upper == b"PTTL" => left.as_millis() as i64,
            // Rounded to the nearest second, as redis-server does.
            Some(Some(left)) => ((left.as_millis() + 500) / 1000) as i64,
        }),
        b"TTL" => wrong_arity("ttl"),
        b"PTTL" => wrong_arity("pttl"),
        b"EXPIRE" | b"PEXPIRE" if argc >= 3 => expire(store, args, name_upper == b"EXPIRE", now),
        b"EXPIRE" => wrong_arity("expire"),
        b"PEXPIRE" => wrong_arity("pexpire"),
        b"TYPE" if argc == 2 => {
            if store.exists(&args[1], now) {
                simple("string")
            } else {
                simple("none")
            }
        }
        b"TYPE" => wrong_arity("type"),
        b"KEYS" if argc == 2 => RespValue::Array(
            store
                .keys(&args[1], now)
                .into_iter()
                .map(RespValue::Bulk)
                .collect(),
        ),
        b"KEYS" => wrong_arity("keys"),
        b"SCAN" if argc >= 2 => scan(store, args, now),
        b"SCAN" => wrong_arity("scan"),
        b"INFO" => info(store, &args[1..], now),
        b"COMMAND" => command(args),
        b"SELECT" if argc == 2 => match parse_integer(&args[1]) {
            None => error(NOT_AN_INTEGER),
            Some(0) => simple("OK"),
            Some(_) => error("ERR DB index is out of range"),
        },
        b"SELECT" => wrong_arity("select"),
        b"AUTH" => match argc {
            2 => error(NO_PASSWORD),
            3 => auth_user(&args[1]),
            1 => wrong_arity("auth"),
            _ => error(SYNTAX),
        },
        _ => unknown_command(args),
    };
    Reply::Value(value)
}

/// `SET key value [NX|XX] [GET] [EX seconds|PX milliseconds|KEEPTTL]`.
fn set(store: &Store, args: &[Bytes], now: Instant) -> Reply {
    let mut condition = Condition::Always;
    let mut get = false;
    let mut keep_ttl = false;
    // Judged once every option has parsed, as redis-server does: a syntax error later in
    // the command wins over a bad amount.
    let mut expire: Option<(&[u8], Unit)> = None;
    let mut i = 3;
    while i < args.len() {
        let option = &args[i];
        let has_next = i + 1 < args.len();
        if option.eq_ignore_ascii_case(b"nx") && condition != Condition::IfPresent {
            condition = Condition::IfAbsent;
        } else if option.eq_ignore_ascii_case(b"xx") && condition != Condition::IfAbsent {
            condition = Condition::IfPresent;
        } else if option.eq_ignore_ascii_case(b"get") {
            get = true;
        } else if option.eq_ignore_ascii_case(b"keepttl") && expire.is_none() {
            keep_ttl = true;
        } else if (option.eq_ignore_ascii_case(b"ex") || option.eq_ignore_ascii_case(b"px"))
            && expire.is_none()
            && !keep_ttl
            && has_next
        {
            let unit = if option.eq_ignore_ascii_case(b"ex") {
                Unit::Seconds
            } else {
                Unit::Milliseconds
            };
            expire = Some((&args[i + 1], unit));
            i += 1;
        } else {
            return error(SYNTAX).into();
        }
        i += 1;
    }
    let expires = match expire {
        None => None,
        Some((amount, unit)) => match deadline(amount, unit, unix_millis(), now) {
            Ok(at) => Some(at),
            Err(message) => return error(message).into(),
        },
    };
    let expiry = match expires {
        Some(at) => Expiry::At(at),
        None if keep_ttl => Expiry::Keep,
        None => Expiry::Clear,
    };
    let (done, old) = store.set_full(&args[1], &args[2], expiry, condition, now);
    if get {
        Reply::Stored(old)
    } else if done {
        simple("OK").into()
    } else {
        RespValue::Null.into()
    }
}

fn integer_reply(result: Result<i64, &'static str>) -> RespValue {
    match result {
        Ok(n) => RespValue::Integer(n),
        Err(message) => error(message),
    }
}

/// `AUTH password` when no password is configured, in redis-server's words.
const NO_PASSWORD: &str = "ERR AUTH <password> called without any password configured for \
the default user. Are you sure your configuration is correct?";

/// `AUTH user password` (and `HELLO ... AUTH`): the only user is `default`, which has no
/// password (redis-server's `nopass`), so any password is accepted for it.
fn auth_user(user: &[u8]) -> RespValue {
    if user == b"default" {
        simple("OK")
    } else {
        error("WRONGPASS invalid username-password pair or user is disabled.")
    }
}

/// `EXPIRE key seconds [NX|XX|GT|LT]` and `PEXPIRE key milliseconds [...]`: 1 if the
/// deadline was set, 0 if the key is missing or the option prevented it. A deadline not in
/// the future removes the key, as in redis-server.
fn expire(store: &Store, args: &[Bytes], seconds: bool, now: Instant) -> RespValue {
    let name = if seconds { "expire" } else { "pexpire" };
    let mut rule = ExpireRule::Always;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for option in &args[3..] {
        match option.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => {
                return RespValue::Error(Bytes::from(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(option)
                )))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return error("ERR GT and LT options at the same time are not compatible");
    }
    if nx {
        rule = ExpireRule::IfNone;
    } else if xx {
        rule = ExpireRule::IfSome;
    }
    if gt {
        rule = ExpireRule::IfGreater;
    } else if lt {
        rule = ExpireRule::IfLess;
    }
    let Some(amount) = parse_integer(&args[2]) else {
        return error(NOT_AN_INTEGER);
    };
    let invalid = || {
        RespValue::Error(Bytes::from(format!(
            "ERR invalid expire time in '{name}' command"
        )))
    };
    let millis = if seconds {
        amount.checked_mul(1000)
    } else {
        Some(amount)
    };
    let Some(millis) = millis else {
        return invalid();
    };
    if millis.checked_add(unix_millis()).is_none() {
        return invalid();
    }
    let at = if millis <= 0 {
        None
    } else {
        match now.checked_add(Duration::from_millis(millis as u64)) {
            Some(at) => Some(at),
            None => return invalid(),
        }
    };
    RespValue::Integer(i64::from(store.expire(&args[1], at, rule, now)))
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`: see [`Store::scan`] for what
/// the cursor is and how much one call does.
fn scan(store: &Store, args: &[Bytes], now: Instant) -> RespValue {
    let Some(cursor) = std::str::from_utf8(&args[1])
        .ok()
        .and_then(|c| c.parse::<u64>().ok())
    else {
        return error("ERR invalid cursor");
    };
    let mut pattern = None;
    let mut count = 10usize;
    let mut only_strings = true;
    let mut i = 2;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            return error(SYNTAX);
        };
        match args[i].to_ascii_uppercase().as_slice() {
            b"MATCH" => pattern = Some(&value[..]),
            b"COUNT" => match parse_integer(value) {
                None => return error(NOT_AN_INTEGER),
                Some(n) if n < 1 => return error(SYNTAX),
                Some(n) => count = usize::try_from(n).unwrap_or(usize::MAX),
            },
            // Every key holds a string.
            b"TYPE" => only_strings = value.eq_ignore_ascii_case(b"string"),
            _ => return error(SYNTAX),
        }
        i += 2;
    }
    let (next, keys) = if cursor >= SHARDS as u64 {
        (0, Vec::new())
    } else {
        store.scan(cursor as usize, pattern, count, now)
    };
    let keys = if only_strings { keys } else { Vec::new() };
    RespValue::Array(vec![
        RespValue::Bulk(Bytes::from(next.to_string())),
        RespValue::Array(keys.into_iter().map(RespValue::Bulk).collect()),
    ])
}

/// The version this server reports (`INFO`, `HELLO`): the redis-server whose replies it
/// follows.
pub const REDIS_VERSION: &str = "7.2.0";

/// The resident set size of this process, in bytes (`INFO memory`'s `used_memory`: the
/// store does not count its allocations), or 0 if `/proc` cannot tell.
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// `INFO [section ...]`: the server, clients, memory and keyspace sections, with the fields
/// clients read.
fn info(store: &Store, sections: &[Bytes], now: Instant) -> RespValue {
    let all = sections.is_empty()
        || sections.iter().any(|s| {
            s.eq_ignore_ascii_case(b"all")
                || s.eq_ignore_ascii_case(b"default")
                || s.eq_ignore_ascii_case(b"everything")
        });
    let wants = |name: &str| {
        all || sections
            .iter()
            .any(|s| s.eq_ignore_ascii_case(name.as_bytes()))
    };
    let mut text = String::new();
    let mut section = |title: &str, body: String| {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        let _ = write!(text, "# {title}\r\n{body}");
    };
    if wants("server") {
        section(
            "Server",
            format!(
                "redis_version:{REDIS_VERSION}\r\nredis_mode:standalone\r\nos:{}\r\n\
                 arch_bits:{}\r\nprocess_id:{}\r\nuptime_in_seconds:{}\r\n",
                std::env::consts::OS,
                usize::BITS,
                std::process::id(),
                now.saturating_duration_since(store.started).as_secs(),
            ),
        );
    }
    if wants("clients") {
        section(
            "Clients",
            format!(
                "connected_clients:{}\r\n",
                store.clients.load(Ordering::Relaxed)
            ),
        );
    }
    if wants("memory") {
        section("Memory", format!("used_memory:{}\r\n", resident_bytes()));
    }
    if wants("keyspace") {
        let keys = store.len();
        let body = if keys == 0 {
            String::new()
        } else {
            format!(
                "db0:keys={keys},expires={},avg_ttl=0\r\n",
                store.expires_count(now)
            )
        };
        section("Keyspace", body);
    }
    RespValue::Bulk(Bytes::from(text))
}

/// `COMMAND`, for clients that probe it: `COUNT`, `DOCS` (empty), `INFO` (a null per name:
/// no details are kept); the bare `COMMAND` lists nothing.
fn command(args: &[Bytes]) -> RespValue {
    let Some(sub) = args.get(1) else {
        return RespValue::Array(Vec::new());
    };
    match sub.to_ascii_uppercase().as_slice() {
        b"COUNT" if args.len() == 2 => RespValue::Integer(COMMANDS.len() as i64),
        b"DOCS" => RespValue::Map(Vec::new()),
        b"INFO" => RespValue::Array(args[2..].iter().map(|_| RespValue::Null).collect()),
        b"COUNT" => wrong_arity("command|count"),
        _ => RespValue::Error(Bytes::from(format!(
            "ERR unknown subcommand '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(sub)
        ))),
    }
}

/// `CONFIG GET parameter`: what an unpersisted redis-server reports for `save` and
/// `appendonly` (redis-benchmark reads both), nothing for other parameters.
fn config(args: &[Bytes]) -> RespValue {
    if args.len() < 2 {
        return wrong_arity("config");
    }
    if !args[1].eq_ignore_ascii_case(b"get") {
        return RespValue::Error(Bytes::from("ERR unknown subcommand for 'config'"));
    }
    if args.len() < 3 {
        return wrong_arity("config|get");
    }
    let mut reply = Vec::new();
    for pattern in &args[2..] {
        for (name, value) in [("save", ""), ("appendonly", "no")] {
            if pattern.eq_ignore_ascii_case(name.as_bytes()) || &pattern[..] == b"*" {
                reply.push((
                    RespValue::Bulk(Bytes::from_static(name.as_bytes())),
                    RespValue::Bulk(Bytes::from_static(value.as_bytes())),
                ));
            }
        }
    }
    // A map: a flat array of names and values in RESP2, as before.
    RespValue::Map(reply)
}

/// Stored values at least this long are sent shared: referenced in the output queue, not
/// copied (see `write_stored`).
pub const SHARE_AT: usize = 1024;

/// Once one reply has copied this many bytes of stored values, its further values are sent
/// shared whatever their length: so the copied part of a reply never passes this, and a
/// reply carrying stored values costs at most this plus about 280 bytes per value.
pub const COPY_BUDGET: usize = 64 * 1024;

/// What a queued chunk costs against the output limit on top of its bytes (weft's
/// per-chunk bookkeeping, `docs/flow-control.md`); a shared chunk costs only this.
const CHUNK_COST: usize = 64;

/// The error written instead of a reply that cannot fit in the output limit, after which the
/// connection closes.
pub fn reply_too_large(limit: usize) -> RespValue {
    RespValue::Error(Bytes::from(format!(
        "ERR reply exceeds the output limit of {limit} bytes"
    )))
}

/// The watermarks for an output limit of `max_pending` bytes: reading pauses once the
/// queued output costs more than half the limit (at most 64 KiB, weft's default), and
/// resumes below half of that. A client that pipelines requests without reading is thus
/// paused with at least half the limit still free, room for any reply that carries stored
/// values (at most [`COPY_BUDGET`] plus about 280 bytes per value) with the default
/// `--max-pending`.
pub fn watermarks(max_pending: usize) -> WriteWatermarks {
    let high = (max_pending / 2).clamp(1, 64 * 1024);
    WriteWatermarks::new((high / 2).max(1), high).expect("1 <= low <= high")
}

/// Whether each present value of a stored reply is sent shared (true) or copied.
fn plan_sharing(values: &[Option<Bytes>]) -> Vec<bool> {
    let mut copied = 0usize;
    values
        .iter()
        .map(|value| {
            let len = value.as_ref().map_or(0, Bytes::len);
            let share = value.is_some() && (len >= SHARE_AT || copied + len > COPY_BUDGET);
            if !share {
                copied += len;
            }
            share
        })
        .collect()
}

fn bulk_header(dst: &mut BytesMut, len: usize) {
    // Infallible: BytesMut grows as needed.
    let _ = write!(dst, "${len}\r\n");
}

/// What came of writing a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// Queued whole (or discarded whole, the connection closing for another reason).
    Whole,
    /// Part of it was queued when the output limit stopped the rest: the stream ends
    /// inside this reply.
    Torn,
}

/// Writes a reply carrying stored values (`GET`'s bulk string, or `MGET`'s array when
/// `array` is true), byte for byte as [`RespCodec`](weft::codec::RespCodec) would encode it.
///
/// If no value is to be shared (see [`SHARE_AT`], [`COPY_BUDGET`]), the reply is encoded
/// through `ctx.write` as any other. Otherwise each shared value is queued with
/// [`Context::write_shared`], costing 128 bytes of the output limit instead of its length
/// (the store holds the value anyway, and it was copied out of its request when stored, so
/// sharing it pins nothing else); the framing around it (`*N\r\n`, `$len\r\n`, `\r\n`)
/// and the copied values go out as small chunks of one buffer with
/// [`Context::write_bytes`].
///
/// A reply whose cost alone would pass the output limit is not started: the client gets
/// [`reply_too_large`] and the connection closes, as when weft's own limit check refuses a
/// reply. If the queue already held replies the client had not read, the limit can still
/// stop such a reply part way ([`Written::Torn`]).
fn write_stored(
    ctx: &mut Context<'_, RespHandler>,
    array: bool,
    values: Vec<Option<Bytes>>,
    resp3: bool,
) -> Written {
    let shared = plan_sharing(&values);
    let shared_count = shared.iter().filter(|&&s| s).count();
    if shared_count == 0 {
        let reply = if array {
            Reply::StoredArray(values)
        } else {
            Reply::Stored(values.into_iter().next().flatten())
        };
        ctx.write(for_protocol(reply.into_value(), resp3));
        return Written::Whole;
    }
    // Framing and copied values, in one buffer split into chunks between shared values.
    let framing_len: usize = (if array { 1 + 20 + 2 } else { 0 })
        + values
            .iter()
            .zip(&shared)
            .map(|(value, &share)| match value {
                None => 5,
                Some(v) => 1 + 20 + 2 + 2 + if share { 0 } else { v.len() },
            })
            .sum::<usize>();
    // Each shared value: its own chunk, and the framing chunk before it; then the last one.
    let cost = framing_len + (2 * shared_count + 1) * CHUNK_COST;
    if cost > ctx.output_limit() {
        ctx.write(reply_too_large(ctx.output_limit()));
        ctx.close();
        return Written::Whole;
    }
    let mut framing = BytesMut::with_capacity(framing_len);
    if array {
        let _ = write!(framing, "*{}\r\n", values.len());
    }
    // Whether part of the reply is queued: from then on, a refused piece tears it.
    let mut queued_any = false;
    let stopped = |queued_any: bool| {
        if queued_any {
            Written::Torn
        } else {
            Written::Whole
        }
    };
    for (value, share) in values.into_iter().zip(shared) {
        match value {
            None if resp3 => framing.extend_from_slice(b"_\r\n"),
            None => framing.extend_from_slice(b"$-1\r\n"),
            Some(value) => {
                bulk_header(&mut framing, value.len());
                if share {
                    if !queue(ctx, framing.split().freeze(), false) {
                        return stopped(queued_any);
                    }
                    queued_any = true;
                    if !queue(ctx, value, true) {
                        return Written::Torn;
                    }
                } else {
                    framing.extend_from_slice(&value);
                }
                framing.extend_from_slice(b"\r\n");
            }
        }
    }
    if !queue(ctx, framing.freeze(), false) {
        return stopped(queued_any);
    }
    Written::Whole
}

/// Queues one piece of a reply, shared or not; false if the connection stopped taking
/// writes (the output limit refused it).
fn queue(ctx: &mut Context<'_, RespHandler>, chunk: Bytes, shared: bool) -> bool {
    if shared {
        ctx.write_shared(chunk);
    } else if !chunk.is_empty() {
        ctx.write_bytes(chunk);
    }
    !ctx.is_closing()
}

/// A value as the connection's protocol has it: RESP3 after `HELLO 3`, RESP2 otherwise
/// (where every RESP2 reply stays byte for byte what it was).
fn for_protocol(value: RespValue, resp3: bool) -> RespValue {
    if resp3 {
        value.into_resp3()
    } else {
        value.into_resp2()
    }
}

/// The most commands one `MULTI` queues; one more discards the transaction.
pub const MAX_QUEUED: usize = 10_000;

/// The most bytes one `MULTI` queues (the default request limit), counting each argument's
/// bytes and its handle (`size_of::<Bytes>()`, 32 bytes); more discards the transaction.
pub const MAX_QUEUED_BYTES: usize = 16 << 20;

/// A transaction being queued (between `MULTI` and `EXEC`).
#[derive(Debug, Clone, Default)]
struct Transaction {
    /// The queued commands, copied out of their requests (a request's arguments are slices
    /// of the read buffer, which a queued command would otherwise keep alive).
    commands: Vec<Vec<Bytes>>,
    /// The bytes of their arguments, and of each argument's handle.
    bytes: usize,
    /// A command was refused when queued: `EXEC` will answer `EXECABORT`.
    failed: bool,
}

/// The error for a client name with bytes redis-server refuses in one.
const BAD_NAME: &str = "ERR Client names cannot contain spaces, newlines or special characters.";

/// A client name as redis-server accepts it: printable ASCII other than space.
fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

/// One connection of the Redis-compatible server: runs each request against the shared
/// store and writes its reply, in the protocol the client chose (`HELLO`).
#[derive(Debug, Clone)]
pub struct RespHandler {
    store: Arc<Store>,
    /// The last reply was stopped part way by the output limit.
    torn: bool,
    /// The client asked for RESP3 (`HELLO 3`).
    resp3: bool,
    /// This connection's id (`CLIENT ID`).
    id: u64,
    /// `CLIENT SETNAME`'s name.
    name: Option<Bytes>,
    /// The transaction being queued, after `MULTI`.
    transaction: Option<Transaction>,
    /// This connection is counted in the store's `connected_clients`.
    counted: bool,
}

impl RespHandler {
    /// A handler running commands against `store`, speaking RESP2 until the client asks
    /// for RESP3.
    pub fn new(store: Arc<Store>) -> Self {
        let id = store.last_id.fetch_add(1, Ordering::Relaxed) + 1;
        RespHandler {
            store,
            torn: false,
            resp3: false,
            id,
            name: None,
            transaction: None,
            counted: false,
        }
    }

    /// Answers one request: queues it if a transaction is open, runs it otherwise.
    fn handle(&mut self, args: &[Bytes], now: Instant) -> Reply {
        let mut upper = [0u8; 16];
        let len = args.first().map_or(0, |n| command_name(n, &mut upper));
        let name = &upper[..len];
        let alone = args.len() == 1;
        if let Some(transaction) = &mut self.transaction {
            match name {
                b"EXEC" if alone => return self.exec(now),
                b"DISCARD" if alone => {
                    self.transaction = None;
                    return simple("OK").into();
                }
                b"MULTI" if alone => return error("ERR MULTI calls can not be nested").into(),
                _ => {}
            }
            if let Some(refused) = check_command(args) {
                transaction.failed = true;
                return refused.into();
            }
            // What the queued command holds: its bytes, and each argument's handle.
            let payload: usize = args.iter().map(Bytes::len).sum();
            let bytes = payload + std::mem::size_of_val(args);
            if transaction.commands.len() >= MAX_QUEUED
                || transaction.bytes + bytes > MAX_QUEUED_BYTES
            {
                self.transaction = None;
                return RespValue::Error(Bytes::from(format!(
                    "ERR Transaction discarded: a transaction queues at most {MAX_QUEUED} \
                     commands and {MAX_QUEUED_BYTES} bytes of arguments"
                )))
                .into();
            }
            transaction.bytes += bytes;
            // One allocation per command, the arguments slices of it.
            let mut copy = BytesMut::with_capacity(payload);
            for arg in args {
                copy.extend_from_slice(arg);
            }
            let copy = copy.freeze();
            let mut at = 0;
            let command = args
                .iter()
                .map(|arg| {
                    at += arg.len();
                    copy.slice(at - arg.len()..at)
                })
                .collect();
            transaction.commands.push(command);
            return simple("QUEUED").into();
        }
        match name {
            b"MULTI" if alone => {
                self.transaction = Some(Transaction::default());
                simple("OK").into()
            }
            b"EXEC" if alone => error("ERR EXEC without MULTI").into(),
            b"DISCARD" if alone => error("ERR DISCARD without MULTI").into(),
            b"MULTI" => wrong_arity("multi").into(),
            b"EXEC" => wrong_arity("exec").into(),
            b"DISCARD" => wrong_arity("discard").into(),
            _ => self.run(args, now, false),
        }
    }

    /// Runs one command; `in_exec`: `EXEC` holds the store's gate already.
    fn run(&mut self, args: &[Bytes], now: Instant, in_exec: bool) -> Reply {
        let mut upper = [0u8; 16];
        let len = args.first().map_or(0, |n| command_name(n, &mut upper));
        match &upper[..len] {
            b"HELLO" => self.hello(args).into(),
            b"CLIENT" => self.client(args).into(),
            _ if in_exec => execute_ungated(&self.store, args, now),
            _ => execute(&self.store, args, now),
        }
    }

    /// `EXEC`: runs the queued commands with the store's gate held exclusively, so no other
    /// connection's command runs between them; `EXECABORT` if one was refused when queued.
    fn exec(&mut self, now: Instant) -> Reply {
        let Some(transaction) = self.transaction.take() else {
            return error("ERR EXEC without MULTI").into();
        };
        if transaction.failed {
            return error("EXECABORT Transaction discarded because of previous errors.").into();
        }
        let store = Arc::clone(&self.store);
        let _gate = store.gate.write().unwrap_or_else(|p| p.into_inner());
        let replies = transaction
            .commands
            .iter()
            .map(|command| self.run(command, now, true).into_value())
            .collect();
        RespValue::Array(replies).into()
    }

    /// `HELLO [protover [AUTH user password] [SETNAME name]]`.
    fn hello(&mut self, args: &[Bytes]) -> RespValue {
        let mut resp3 = self.resp3;
        if let Some(version) = args.get(1) {
            match parse_integer(version) {
                None => return error("ERR Protocol version is not an integer or out of range"),
                Some(2) => resp3 = false,
                Some(3) => resp3 = true,
                Some(_) => return error("NOPROTO unsupported protocol version"),
            }
        }
        let mut user = None;
        let mut name = None;
        let mut i = 2;
        while i < args.len() {
            let option = &args[i];
            if option.eq_ignore_ascii_case(b"auth") && i + 2 < args.len() {
                user = Some(&args[i + 1]);
                i += 3;
            } else if option.eq_ignore_ascii_case(b"setname") && i + 1 < args.len() {
                name = Some(&args[i + 1]);
                i += 2;
            } else {
                return RespValue::Error(Bytes::from(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(option)
                )));
            }
        }
        if let Some(user) = user {
            if let refused @ RespValue::Error(_) = auth_user(user) {
                return refused;
            }
        }
        if let Some(name) = name {
            if !valid_name(name) {
                return error(BAD_NAME);
            }
            self.name = (!name.is_empty()).then(|| Bytes::copy_from_slice(name));
        }
        self.resp3 = resp3;
        let text = |s: &'static str| RespValue::Bulk(Bytes::from_static(s.as_bytes()));
        RespValue::Map(vec![
            (text("server"), text("redis")),
            (text("version"), text(REDIS_VERSION)),
            (text("proto"), RespValue::Integer(if resp3 { 3 } else { 2 })),
            (text("id"), RespValue::Integer(self.id as i64)),
            (text("mode"), text("standalone")),
            (text("role"), text("master")),
            (text("modules"), RespValue::Array(Vec::new())),
        ])
    }

    /// `CLIENT SETNAME|GETNAME|ID|SETINFO`.
    fn client(&mut self, args: &[Bytes]) -> RespValue {
        let Some(sub) = args.get(1) else {
            return wrong_arity("client");
        };
        let sub = sub.to_ascii_uppercase();
        let argc = args.len();
        match sub.as_slice() {
            b"SETNAME" if argc == 3 => {
                if !valid_name(&args[2]) {
                    return error(BAD_NAME);
                }
                self.name = (!args[2].is_empty()).then(|| Bytes::copy_from_slice(&args[2]));
                simple("OK")
            }
            b"GETNAME" if argc == 2 => self.name.clone().map_or(RespValue::Null, RespValue::Bulk),
            b"ID" if argc == 2 => RespValue::Integer(self.id as i64),
            b"SETINFO" if argc == 4 => {
                if args[2].eq_ignore_ascii_case(b"lib-name")
                    || args[2].eq_ignore_ascii_case(b"lib-ver")
                {
                    simple("OK")
                } else {
                    RespValue::Error(Bytes::from(format!(
                        "ERR Unrecognized option '{}'",
                        String::from_utf8_lossy(&args[2])
                    )))
                }
            }
            b"SETNAME" | b"GETNAME" | b"ID" | b"SETINFO" => wrong_arity(&format!(
                "client|{}",
                String::from_utf8_lossy(&sub).to_ascii_lowercase()
            )),
            _ => RespValue::Error(Bytes::from(format!(
                "ERR unknown subcommand '{}'. Try CLIENT HELP.",
                String::from_utf8_lossy(&args[1])
            ))),
        }
    }
}

impl Handler for RespHandler {
    type In<'a> = Vec<Bytes>;
    type Out<'a> = RespValue;

    fn on_active(&mut self, _ctx: &mut Context<'_, Self>) {
        self.store.clients.fetch_add(1, Ordering::Relaxed);
        self.counted = true;
    }

    fn on_inactive(&mut self, _ctx: &mut Context<'_, Self>, _reason: CloseReason) {
        if std::mem::take(&mut self.counted) {
            self.store.clients.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, args: Vec<Bytes>) {
        // QUIT (what node-redis sends to say goodbye): `+OK`, then the connection closes once
        // it is flushed, as redis-server does. Outside a transaction only, as there.
        if self.transaction.is_none()
            && args
                .first()
                .is_some_and(|n| n.eq_ignore_ascii_case(b"quit"))
        {
            ctx.write(RespValue::simple("OK"));
            ctx.close();
            return;
        }
        let reply = self.handle(&args, ctx.now());
        // After the command: a reply to HELLO is in the protocol it chose, as in redis.
        let resp3 = self.resp3;
        let written = match reply {
            Reply::Value(value) => {
                ctx.write(for_protocol(value, resp3));
                Written::Whole
            }
            Reply::Stored(value) => write_stored(ctx, false, vec![value], resp3),
            Reply::StoredArray(values) => write_stored(ctx, true, values, resp3),
        };
        self.torn = written == Written::Torn;
    }

    /// A reply would have passed the output limit (`--max-pending`): it was not queued, and
    /// the connection closes once what was queued before it is flushed. The client is told
    /// why with [`reply_too_large`], unless the stream already ends inside a reply (then
    /// the connection just closes, as redis-server does when a client passes its output
    /// buffer limit).
    fn on_output_limit(&mut self, ctx: &mut Context<'_, Self>) {
        if !self.torn {
            ctx.write(reply_too_large(ctx.output_limit()));
        }
    }

    fn on_decode_error(&mut self, ctx: &mut Context<'_, Self>, error: &Error) {
        if error.is_truncated() {
            return; // the client closed mid-request: nothing to answer, as redis-server
        }
        let message = match error.codec_error() {
            // The codec words every error as redis-server does (`invalid bulk length`,
            // `too big inline request`, `expected '$', got 'x'`, ...).
            Some(e) => format!("ERR Protocol error: {}", e.detail()),
            None => "ERR Protocol error".to_string(),
        };
        ctx.write(RespValue::Error(Bytes::from(message)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(store: &Store, command: &str) -> RespValue {
        let args: Vec<Bytes> = command
            .split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        execute(store, &args, Instant::now()).into_value()
    }

    fn bulk(s: &'static str) -> RespValue {
        RespValue::Bulk(Bytes::from_static(s.as_bytes()))
    }

    #[test]
    fn commands_and_errors() {
        let store = Store::new();
        assert_eq!(run(&store, "ping"), simple("PONG"));
        assert_eq!(run(&store, "PiNg hi"), bulk("hi"));
        assert_eq!(run(&store, "SET k 1"), simple("OK"));
        assert_eq!(run(&store, "INCR k"), RespValue::Integer(2));
        assert_eq!(run(&store, "GET k"), bulk("2"));
        assert_eq!(run(&store, "SET k v NX"), RespValue::Null);
        assert_eq!(run(&store, "SET n v XX"), RespValue::Null);
        assert_eq!(run(&store, "MSET a 1 b 2"), simple("OK"));
        assert_eq!(
            run(&store, "MGET a nope b"),
            RespValue::Array(vec![bulk("1"), RespValue::Null, bulk("2")])
        );
        assert_eq!(run(&store, "EXISTS a a nope"), RespValue::Integer(2));
        assert_eq!(run(&store, "DBSIZE"), RespValue::Integer(3));
        assert_eq!(run(&store, "DEL a nope"), RespValue::Integer(1));
        assert_eq!(run(&store, "FLUSHALL"), simple("OK"));
        assert_eq!(run(&store, "DBSIZE"), RespValue::Integer(0));

        assert_eq!(
            run(&store, "FOO a b"),
            error("ERR unknown command 'FOO', with args beginning with: 'a' 'b' ")
        );
        assert_eq!(
            run(&store, "get"),
            error("ERR wrong number of arguments for 'get' command")
        );
        assert_eq!(run(&store, "SET k v EX x"), error(NOT_AN_INTEGER));
        assert_eq!(run(&store, "SET k v EX 1 PX 1"), error(SYNTAX));
        assert_eq!(run(&store, "SET k v NX XX"), error(SYNTAX));
        assert_eq!(run(&store, "SET k v EX 0"), error(INVALID_EXPIRE));
        assert_eq!(run(&store, "SET s 01"), simple("OK"));
        assert_eq!(run(&store, "INCR s"), error(NOT_AN_INTEGER));
        assert_eq!(run(&store, "SET s 9223372036854775807"), simple("OK"));
        assert_eq!(run(&store, "INCR s"), error(OVERFLOW));
        assert_eq!(run(&store, "MSET a"), wrong_arity("mset"));
        assert_eq!(run(&store, "MSET a 1 b"), wrong_arity("mset"));
    }

    #[test]
    fn expire_times_are_validated_like_redis_server() {
        let store = Store::new();
        let max = i64::MAX;
        let now_ms = unix_millis();
        let set = |amount: String| run(&store, &format!("SET k v {amount}"));
        for refused in [
            format!("EX {max}"),
            // i64::MAX / 1000: its milliseconds fit, plus the clock they do not.
            "EX 9223372036854775".to_string(),
            "EX 9223372036854774".to_string(),
            format!("EX {}", (max - now_ms) / 1000 + 1),
            format!("PX {max}"),
            "EX 0".to_string(),
            "EX -1".to_string(),
            "PX 0".to_string(),
            "PX -1".to_string(),
        ] {
            assert_eq!(
                set(refused.clone()),
                error(INVALID_EXPIRE),
                "SET k v {refused}"
            );
        }
        assert_eq!(run(&store, "DBSIZE"), RespValue::Integer(0));
        for accepted in [
            "EX 100000000000".to_string(),
            // Near the largest amount redis-server accepts now, with room for the clock
            // moving on before the command reads it.
            format!("EX {}", (max - now_ms) / 1000 - 10),
            format!("PX {}", max - now_ms - 1000),
        ] {
            assert_eq!(set(accepted.clone()), simple("OK"), "SET k v {accepted}");
            assert_eq!(run(&store, "GET k"), bulk("v"), "after SET k v {accepted}");
        }
        assert_eq!(run(&store, "SET k v EX 1.5"), error(NOT_AN_INTEGER));
        assert_eq!(run(&store, "SET k v PX 1e3"), error(NOT_AN_INTEGER));
        // As in redis-server, the amount is judged after the options parse.
        assert_eq!(run(&store, "SET k v EX 0 BOGUS"), error(SYNTAX));
        assert_eq!(run(&store, "SET k v EX x NX XX"), error(SYNTAX));
        // A refused SET changes nothing.
        assert_eq!(run(&store, "SET k old"), simple("OK"));
        assert_eq!(set(format!("EX {max}")), error(INVALID_EXPIRE));
        assert_eq!(run(&store, "GET k"), bulk("old"));
    }

    #[test]
    fn the_expire_deadline_bounds_are_exact() {
        let now = Instant::now();
        let unix = 1_800_000_000_000;
        let max = i64::MAX;
        let ms =
            |amount: i64| deadline(amount.to_string().as_bytes(), Unit::Milliseconds, unix, now);
        let secs = |amount: i64| deadline(amount.to_string().as_bytes(), Unit::Seconds, unix, now);
        assert_eq!(ms(1500), Ok(now + Duration::from_millis(1500)));
        assert_eq!(secs(2), Ok(now + Duration::from_secs(2)));
        assert!(ms(max - unix).is_ok());
        assert_eq!(ms(max - unix + 1), Err(INVALID_EXPIRE));
        assert!(secs((max - unix) / 1000).is_ok());
        assert_eq!(secs((max - unix) / 1000 + 1), Err(INVALID_EXPIRE));
        assert_eq!(secs(max / 1000 + 1), Err(INVALID_EXPIRE));
        // A clock before 1970: the deadline must still come out positive.
        let before = |amount: i64| {
            deadline(
                amount.to_string().as_bytes(),
                Unit::Milliseconds,
                -5000,
                now,
            )
        };
        assert_eq!(before(5000), Err(INVALID_EXPIRE));
        assert!(before(5001).is_ok());
        assert_eq!(
            deadline(b"+5", Unit::Seconds, unix, now),
            Err(NOT_AN_INTEGER)
        );
    }

    #[test]
    fn a_ttl_past_the_clock_never_expires() {
        let store = Store::new();
        let now = Instant::now();
        store.set(b"k", b"v", Some(Duration::MAX), now);
        assert_eq!(store.get(b"k", now).as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn expiry_is_checked_on_read_and_swept() {
        let store = Store::new();
        let now = Instant::now();
        store.set(b"a", b"1", Some(Duration::from_millis(10)), now);
        store.set(b"b", b"1", Some(Duration::from_millis(10)), now);
        store.set(b"c", b"1", None, now);
        assert_eq!(store.get(b"a", now).as_deref(), Some(&b"1"[..]));
        let later = now + Duration::from_millis(11);
        assert_eq!(store.get(b"a", later), None);
        // As redis-server's DBSIZE: b has expired but is not yet reclaimed, so it counts.
        assert_eq!(store.len(), 2);
        assert_eq!(store.sweep(later), 1); // b; a went when it was read
        assert_eq!(store.len(), 1);
        assert_eq!(store.incr(b"c", later), Ok(2));
    }

    #[test]
    fn incr_keeps_the_expiry() {
        let store = Store::new();
        let now = Instant::now();
        store.set(b"n", b"5", Some(Duration::from_millis(10)), now);
        assert_eq!(store.incr(b"n", now), Ok(6));
        assert_eq!(store.get(b"n", now + Duration::from_millis(11)), None);
    }

    #[test]
    fn large_values_are_shared_and_the_copied_part_of_a_reply_is_bounded() {
        let of = |len: usize| Some(Bytes::from(vec![b'x'; len]));
        assert_eq!(
            plan_sharing(&[None, of(0), of(SHARE_AT - 1), of(SHARE_AT), of(1 << 20)]),
            [false, false, false, true, true]
        );
        // 1023 values just under the threshold: copied until COPY_BUDGET, then shared.
        let values: Vec<_> = (0..1023).map(|_| of(SHARE_AT - 1)).collect();
        let plan = plan_sharing(&values);
        let copied = plan.iter().filter(|&&s| !s).count();
        assert_eq!(copied, COPY_BUDGET / (SHARE_AT - 1));
        assert!(plan[..copied].iter().all(|&s| !s) && plan[copied..].iter().all(|&s| s));
        // Small values stay copied, whatever their number.
        assert!(plan_sharing(&vec![of(10); 1023]).iter().all(|&s| !s));
    }

    #[test]
    fn glob_patterns_match_as_redis_matches_them() {
        for (pattern, text, expected) in [
            ("*", "", true),
            ("*", "anything", true),
            ("user:*", "user:1", true),
            ("user:*", "user", false),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[b-a]llo", "hbllo", true),
            ("h[a-b]llo", "hcllo", false),
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
            ("*a*b*c*", "xxaxxbxxcxx", true),
            ("*a*b*c*", "xxaxxcxxbxx", false),
            ("a*", "ba", false),
            ("[abc", "b", true),
        ] {
            assert_eq!(
                glob_match(pattern.as_bytes(), text.as_bytes()),
                expected,
                "{pattern} on {text}"
            );
        }
    }

    #[test]
    fn queue_time_checks_know_every_command() {
        let args = |s: &str| -> Vec<Bytes> {
            s.split(' ')
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect()
        };
        assert_eq!(check_command(&args("get k")), None);
        assert_eq!(check_command(&args("set k v ex 10")), None);
        assert_eq!(check_command(&args("GET")), Some(wrong_arity("get")));
        assert_eq!(check_command(&args("exec x")), Some(wrong_arity("exec")));
        assert_eq!(
            check_command(&args("nope")),
            Some(error(
                "ERR unknown command 'nope', with args beginning with: "
            ))
        );
        // Every command execute answers is in the table.
        let store = Store::new();
        for (name, _) in COMMANDS {
            let reply = execute(&store, &args(name), Instant::now()).into_value();
            let unknown =
                matches!(&reply, RespValue::Error(e) if e.starts_with(b"ERR unknown command"));
            let connection = ["HELLO", "CLIENT", "MULTI", "EXEC", "DISCARD"].contains(name);
            assert_eq!(unknown, connection, "{name}: {reply:?}");
        }
    }

    #[test]
    fn scan_visits_every_shard_once() {
        let store = Store::new();
        let now = Instant::now();
        for i in 0..1000 {
            store.set(format!("k{i}").as_bytes(), b"v", None, now);
        }
        let mut cursor = 0;
        let mut seen = Vec::new();
        let mut calls = 0;
        loop {
            let (next, keys) = store.scan(cursor, None, 100, now);
            seen.extend(keys);
            calls += 1;
            if next == 0 {
                break;
            }
            assert!(next > cursor);
            cursor = next;
        }
        assert!(calls > 1 && calls <= SHARDS);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 1000);
    }

    #[test]
    fn watermarks_leave_half_the_limit_free() {
        let w = watermarks(1 << 20);
        assert_eq!((w.low(), w.high()), (32 * 1024, 64 * 1024));
        let w = watermarks(65536);
        assert_eq!((w.low(), w.high()), (16384, 32768));
        let w = watermarks(1);
        assert_eq!((w.low(), w.high()), (1, 1));
        let w = watermarks(3);
        assert_eq!((w.low(), w.high()), (1, 1));
    }
}
