//! `Db`: one numbered database: the main dictionary (key → value), the expires dictionary
//! (key → unix time in ms, only for keys with a TTL) and the keyspace counters. `Keyspace` holds
//! the 16 (`databases`) of them.
//!
//! Expiry is lazy (a lookup of an expired key deletes it) and active (`active_expire_cycle`
//! samples keys with a TTL and deletes the expired ones, repeating while more than a quarter of
//! a sample was expired, within a time budget), as Redis does.

use crate::compact::CompactBytes;
use crate::dict::Dict;
use crate::snapshot::{Detached, SnapState};
use crate::value::Value;

/// A key read from a dump file, for [`Db::load_batch`].
pub struct LoadedKey {
    pub key: Vec<u8>,
    pub value: Value,
    pub expire: Option<i64>,
    /// Time of the last access (ms), for the LRU clock.
    pub lru_ms: i64,
}

/// Counters the INFO stats section reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct DbStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
    pub expired_stale_perc: f64,
    pub expire_cycle_time_used_us: u64,
}

/// A key's slot in the main dictionary: the value plus its access clock (seconds, as
/// Redis's 24-bit LRU clock; later also the LFU counter). The clock fits in the padding of the
/// dictionary node, so it costs no memory.
#[derive(Clone, Debug)]
pub struct Obj {
    pub value: Value,
    pub lru: u32,
    /// The string was edited in place (APPEND, SETRANGE, SETBIT), which makes Redis keep it
    /// in the `raw` encoding until it is replaced. Lives in the node's padding.
    pub raw: bool,
    /// Epoch of the last snapshot that saw this slot (see `snapshot`). Lives in the padding.
    pub epoch: u16,
}

impl Obj {
    /// The name OBJECT ENCODING answers for this slot.
    pub fn encoding_name(&self) -> &'static str {
        match &self.value {
            Value::Str(_) if self.raw => "raw",
            v => v.encoding_name(),
        }
    }

    /// OBJECT REFCOUNT: Redis shares the integers 0..=9999 (refcount INT_MAX); every other
    /// value has one reference.
    pub fn refcount(&self) -> i64 {
        match &self.value {
            Value::Str(s)
                if !self.raw
                    && !Access::current().unshared_ints
                    && s.len() <= 4
                    && self.value.encoding_name() == "int"
                    && cinnabar_util::num::string2ll(s)
                        .is_some_and(|v| (0..10000).contains(&v)) =>
            {
                i32::MAX as i64
            }
            _ => 1,
        }
    }
}

/// The LRU clock for a unix time in ms (seconds, wrapping at 2^24 like Redis's).
pub fn lru_clock(now_ms: i64) -> u32 {
    ((now_ms / 1000) as u64 & ((1 << 24) - 1)) as u32
}

/// Seconds since `lru` at `now_ms`, with wrap-around handled as Redis does.
pub fn idle_seconds(lru: u32, now_ms: i64) -> u64 {
    let now = lru_clock(now_ms);
    if now >= lru {
        (now - lru) as u64
    } else {
        (now as u64 + (1 << 24)) - lru as u64
    }
}

/// How keys' access clocks are kept (the 24 bits of `Obj::lru`): as Redis, LRU seconds, or
/// under an LFU `maxmemory-policy` a 16-bit time in minutes plus an 8-bit logarithmic
/// access counter that decays with `lfu-decay-time`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Access {
    pub lfu: bool,
    /// `lfu-log-factor`.
    pub log_factor: u32,
    /// `lfu-decay-time` (minutes per decrement; 0: no decay).
    pub decay_time: u32,
    /// `maxmemory` is set with an LRU or LFU policy: Redis then stops sharing the integers
    /// 0..9999 (each key needs its own clock), which OBJECT REFCOUNT shows.
    pub unshared_ints: bool,
}

/// The counter a new key starts with under LFU (so a new key is not evicted at once).
pub const LFU_INIT: u32 = 5;

fn minutes16(now_ms: i64) -> u32 {
    ((now_ms / 60_000) as u64 & 0xffff) as u32
}

thread_local! {
    static LFU_RNG: std::cell::Cell<u64> = const { std::cell::Cell::new(0x9e37_79b9_7f4a_7c15) };
}

fn lfu_rand01() -> f64 {
    LFU_RNG.with(|r| {
        let mut x = r.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

impl Access {
    /// The clock of a key created (or overwritten) now.
    #[inline]
    pub fn fresh(&self, now_ms: i64) -> u32 {
        if self.lfu {
            (minutes16(now_ms) << 8) | LFU_INIT
        } else {
            lru_clock(now_ms)
        }
    }

    /// Records an access.
    #[inline]
    pub fn touch(&self, clock: &mut u32, now_ms: i64) {
        if !self.lfu {
            *clock = lru_clock(now_ms);
            return;
        }
        let mut c = self.lfu_counter(*clock, now_ms);
        if c < 255 {
            let base = c.saturating_sub(LFU_INIT) as f64;
            let p = 1.0 / (base * self.log_factor as f64 + 1.0);
            if lfu_rand01() < p {
                c += 1;
            }
        }
        *clock = (minutes16(now_ms) << 8) | c;
    }

    /// The LFU counter of `clock` decayed to `now_ms` (OBJECT FREQ; not stored).
    pub fn lfu_counter(&self, clock: u32, now_ms: i64) -> u32 {
        let counter = clock & 0xff;
        if self.decay_time == 0 {
            return counter;
        }
        let then = clock >> 8;
        let now = minutes16(now_ms);
        let elapsed = if now >= then {
            now - then
        } else {
            65535 - then + now
        };
        counter.saturating_sub(elapsed / self.decay_time)
    }

    /// The clock for a key loaded or restored with an access frequency (RESTORE FREQ, RDB).
    pub fn with_freq(&self, freq: u8, now_ms: i64) -> u32 {
        (minutes16(now_ms) << 8) | freq as u32
    }
}

/// The access policy of the whole process (bit 63: LFU; bits 32..62: log factor; low 32 bits:
/// decay time), set by the server from its configuration.
static ACCESS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Access {
    /// The policy in force.
    #[inline]
    pub fn current() -> Access {
        let v = ACCESS.load(std::sync::atomic::Ordering::Relaxed);
        Access {
            lfu: v >> 63 != 0,
            unshared_ints: (v >> 62) & 1 != 0,
            log_factor: ((v >> 32) & 0x3fff_ffff) as u32,
            decay_time: v as u32,
        }
    }

    /// Makes this the policy in force.
    pub fn install(self) {
        let v = ((self.lfu as u64) << 63)
            | ((self.unshared_ints as u64) << 62)
            | (((self.log_factor & 0x3fff_ffff) as u64) << 32)
            | self.decay_time as u64;
        ACCESS.store(v, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One database.
pub struct Db {
    pub main: Dict<CompactBytes, Obj>,
    pub expires: Dict<CompactBytes, i64>,
    /// Where the next active-expiry pass resumes (a dict scan cursor).
    expire_cursor: u64,
    /// Average TTL of sampled keys (ms), for INFO keyspace `avg_ttl`.
    pub avg_ttl: i64,
    /// Keys deleted by expiry so far (INFO stats `expired_keys`).
    pub expired_total: u64,
    /// Keys deleted by expiry (lazy or active) since the server last drained this list: the
    /// server touches WATCHed keys with them (and will propagate their deletion).
    pub expired_keys: Vec<CompactBytes>,
    /// Commands are being replayed (AOF loading, a master's stream): keys past their expiry
    /// are not deleted on access, as Redis does while loading and for its master client.
    pub replaying: bool,
    /// The server is a replica: a read does not see a key past its TTL but does not delete
    /// it either (the master's DEL does; a write on a writable replica does), as Redis.
    pub replica: bool,
    /// On a (writable) replica, keys its own clients gave a TTL: the replica expires these
    /// itself ([`Db::expire_replica_keys`]), as Redis's `slaveKeysWithExpire`.
    pub replica_ttl_keys: std::collections::HashSet<Vec<u8>>,
    /// This database's part of the running snapshot.
    pub snap: SnapState,
    /// Keyspace notification classes enabled (see [`crate::notify`]); 0 when off.
    pub notify: u32,
    /// Events raised inside this database (`new`, `expired`, `keymiss`) not yet collected
    /// by [`Keyspace::collect_events`].
    pub events: Vec<(&'static str, CompactBytes)>,
}

impl Default for Db {
    fn default() -> Self {
        Self::new()
    }
}

/// Result of a lookup that may find an expired key.
fn is_expired(when: i64, now: i64) -> bool {
    when <= now
}

impl Db {
    /// An empty database.
    pub fn new() -> Self {
        Db {
            main: Dict::new(),
            expires: Dict::new(),
            expire_cursor: 0,
            avg_ttl: 0,
            expired_total: 0,
            expired_keys: Vec::new(),
            replaying: false,
            replica: false,
            replica_ttl_keys: std::collections::HashSet::new(),
            snap: SnapState::default(),
            notify: 0,
            events: Vec::new(),
        }
    }

    /// Records a keyspace event of `class` on `key`, if that class is enabled.
    #[inline]
    fn event(&mut self, class: u32, name: &'static str, key: &[u8]) {
        if self.notify & class != 0 {
            self.events.push((name, CompactBytes::from(key)));
        }
    }

    /// Number of keys (expired but not yet reclaimed keys included, as Redis counts).
    pub fn len(&self) -> usize {
        self.main.len()
    }

    /// True when the database holds no key.
    pub fn is_empty(&self) -> bool {
        self.main.is_empty()
    }

    /// The expiry of `key` in unix ms, if it has one.
    pub fn expire_of(&self, key: &[u8]) -> Option<i64> {
        if self.expires.is_empty() {
            return None;
        }
        self.expires.get(key).copied()
    }

    /// For a read: true if `key` is past its TTL at `now` (it then counts as missing). The key
    /// is deleted, except on a replica, where it stays until the master's DEL.
    pub fn expired_for_read(&mut self, key: &[u8], now: i64) -> bool {
        if self.replica && !self.replaying {
            return self.expire_of(key).is_some_and(|w| is_expired(w, now));
        }
        self.expire_if_needed(key, now)
    }

    /// A replica's cron: deletes the keys its own clients gave a TTL once it has passed, and
    /// forgets those that no longer have one. Returns how many it deleted.
    pub fn expire_replica_keys(&mut self, now: i64) -> usize {
        if self.replica_ttl_keys.is_empty() {
            return 0;
        }
        let keys: Vec<Vec<u8>> = self.replica_ttl_keys.iter().cloned().collect();
        let mut n = 0;
        for k in keys {
            match self.expire_of(&k) {
                Some(w) if is_expired(w, now) => {
                    self.delete_expired(&k);
                    self.replica_ttl_keys.remove(&k);
                    n += 1;
                }
                Some(_) => {}
                None => {
                    self.replica_ttl_keys.remove(&k);
                }
            }
        }
        n
    }

    /// Deletes `key` if it is expired at `now`; true if it did.
    pub fn expire_if_needed(&mut self, key: &[u8], now: i64) -> bool {
        if self.replaying {
            return false;
        }
        match self.expire_of(key) {
            Some(when) if is_expired(when, now) => {
                self.delete_expired(key);
                true
            }
            _ => false,
        }
    }

    fn delete_expired(&mut self, key: &[u8]) {
        let exp = self.expires.remove(key).map(|(_, w)| w);
        if let Some((k, o)) = self.main.remove(key) {
            self.expired_total += 1;
            if self.snap.active && o.epoch != self.snap.epoch {
                self.snap.keep(k.clone(), o.value, exp, o.lru);
            }
            if self.notify & crate::notify::EXPIRED != 0 {
                self.events.push(("expired", k.clone()));
            }
            self.expired_keys.push(k);
        }
    }

    /// Before a write changes `key` in place: if the running snapshot has not saved it yet,
    /// keep a copy of its current version for the snapshot.
    #[inline]
    fn snap_before_write(&mut self, key: &[u8]) {
        if self.snap.active {
            self.snap_keep_copy(key);
        }
    }

    #[cold]
    fn snap_keep_copy(&mut self, key: &[u8]) {
        let epoch = self.snap.epoch;
        if let Some(o) = self.main.get_mut(key) {
            if o.epoch != epoch {
                o.epoch = epoch;
                let (value, lru) = (o.value.clone(), o.lru);
                let exp = self.expires.get(key).copied();
                self.snap.keep(CompactBytes::from(key), value, exp, lru);
            }
        }
    }

    /// Looks `key` up without touching the hit/miss counters or the access clock, expiring it
    /// first if needed.
    pub fn peek(&mut self, key: &[u8], now: i64) -> Option<&Value> {
        if self.expired_for_read(key, now) {
            return None;
        }
        self.main.get(key).map(|o| &o.value)
    }

    /// The whole slot (value and access clock) without touching anything.
    pub fn peek_obj(&mut self, key: &[u8], now: i64) -> Option<&Obj> {
        if self.expired_for_read(key, now) {
            return None;
        }
        self.main.get(key)
    }

    /// Looks `key` up for reading: expires it first if needed; counts a hit or a miss and
    /// updates the key's access clock.
    pub fn get(&mut self, key: &[u8], now: i64, stats: &mut DbStats) -> Option<&Value> {
        if self.expired_for_read(key, now) {
            stats.misses += 1;
            self.event(crate::notify::KEY_MISS, "keymiss", key);
            return None;
        }
        let access = Access::current();
        match self.main.get_mut(key) {
            Some(o) => {
                stats.hits += 1;
                access.touch(&mut o.lru, now);
                Some(&o.value)
            }
            None => {
                stats.misses += 1;
                if self.notify & crate::notify::KEY_MISS != 0 {
                    self.events.push(("keymiss", CompactBytes::from(key)));
                }
                None
            }
        }
    }

    /// Looks `key` up for writing (no hit/miss counting), expiring it first if needed, and
    /// updates its access clock.
    pub fn get_mut(&mut self, key: &[u8], now: i64) -> Option<&mut Value> {
        self.expire_if_needed(key, now);
        self.snap_before_write(key);
        let access = Access::current();
        self.main.get_mut(key).map(|o| {
            access.touch(&mut o.lru, now);
            &mut o.value
        })
    }

    /// Marks the string at `key` as edited in place (OBJECT ENCODING then says `raw`).
    pub fn mark_raw(&mut self, key: &[u8]) {
        if let Some(o) = self.main.get_mut(key) {
            o.raw = true;
        }
    }

    /// Updates the access clock of `key` (TOUCH); true if the key exists.
    pub fn touch(&mut self, key: &[u8], now: i64) -> bool {
        if self.expired_for_read(key, now) {
            return false;
        }
        let access = Access::current();
        match self.main.get_mut(key) {
            Some(o) => {
                access.touch(&mut o.lru, now);
                true
            }
            None => false,
        }
    }

    /// True if `key` exists (and is not expired).
    pub fn exists(&mut self, key: &[u8], now: i64) -> bool {
        !self.expired_for_read(key, now) && self.main.contains_key(key)
    }

    /// Sets `key` to `value` at time `now`. Unless `keep_ttl`, any TTL is removed (SET
    /// semantics).
    pub fn set(&mut self, key: &[u8], value: Value, keep_ttl: bool, now: i64) {
        let old_exp = if self.snap.active {
            self.expires.get(key).copied()
        } else {
            None
        };
        if !keep_ttl && !self.expires.is_empty() {
            self.expires.remove(key);
        }
        let lru = Access::current().fresh(now);
        let epoch = self.snap.epoch;
        if let Some(slot) = self.main.get_mut(key) {
            let old = std::mem::replace(&mut slot.value, value);
            if self.snap.active && slot.epoch != epoch {
                slot.epoch = epoch;
                self.snap
                    .keep(CompactBytes::from(key), old, old_exp, slot.lru);
            }
            // Under LFU an overwritten key keeps its counter, as Redis does.
            if !Access::current().lfu {
                slot.lru = lru;
            }
            slot.raw = false;
        } else {
            self.main.insert(
                CompactBytes::from(key),
                Obj {
                    value,
                    lru,
                    raw: false,
                    epoch,
                },
            );
            self.event(crate::notify::NEW, "new", key);
        }
    }

    /// Adds `key` only if absent (an expired key counts as absent). True if added.
    pub fn add(&mut self, key: &[u8], value: Value, now: i64) -> bool {
        self.expire_if_needed(key, now);
        if self.main.contains_key(key) {
            return false;
        }
        let lru = Access::current().fresh(now);
        self.main.insert(
            CompactBytes::from(key),
            Obj {
                value,
                lru,
                raw: false,
                epoch: self.snap.epoch,
            },
        );
        self.event(crate::notify::NEW, "new", key);
        true
    }

    /// Removes `key` and its TTL; true if it existed (and was not expired).
    pub fn remove(&mut self, key: &[u8], now: i64) -> bool {
        if self.expire_if_needed(key, now) {
            return false;
        }
        let exp = if self.expires.is_empty() {
            None
        } else {
            self.expires.remove(key).map(|(_, w)| w)
        };
        match self.main.remove(key) {
            Some((k, o)) => {
                if self.snap.active && o.epoch != self.snap.epoch {
                    self.snap.keep(k, o.value, exp, o.lru);
                }
                true
            }
            None => false,
        }
    }

    /// [`Db::remove`] that frees a costly value in the background (UNLINK).
    pub fn unlink(&mut self, key: &[u8], now: i64) -> bool {
        if self.expire_if_needed(key, now) {
            return false;
        }
        let exp = if self.expires.is_empty() {
            None
        } else {
            self.expires.remove(key).map(|(_, w)| w)
        };
        match self.main.remove(key) {
            Some((k, o)) => {
                if self.snap.active && o.epoch != self.snap.epoch {
                    self.snap.keep(k, o.value, exp, o.lru);
                } else {
                    crate::lazyfree::free(o.value);
                }
                true
            }
            None => false,
        }
    }

    /// Removes `key` and returns its value (no expiry check).
    pub fn take(&mut self, key: &[u8]) -> Option<Value> {
        let exp = if self.expires.is_empty() {
            None
        } else {
            self.expires.remove(key).map(|(_, w)| w)
        };
        let (k, o) = self.main.remove(key)?;
        if self.snap.active && o.epoch != self.snap.epoch {
            self.snap.keep(k, o.value.clone(), exp, o.lru);
        }
        Some(o.value)
    }

    /// Sets the TTL of an existing key to `when` (unix ms). False if the key does not exist.
    pub fn set_expire(&mut self, key: &[u8], when: i64) -> bool {
        if !self.main.contains_key(key) {
            return false;
        }
        self.snap_before_write(key);
        if let Some(slot) = self.expires.get_mut(key) {
            *slot = when;
        } else {
            self.expires.insert(CompactBytes::from(key), when);
        }
        if self.replica && !self.replaying {
            self.replica_ttl_keys.insert(key.to_vec());
        }
        true
    }

    /// Removes the TTL of `key`; true if it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        if !self.expires.contains_key(key) {
            return false;
        }
        self.snap_before_write(key);
        self.expires.remove(key).is_some()
    }

    /// Removes every key. While a snapshot has not walked this database completely, the
    /// tables are handed to the snapshot whole (O(1)) instead of being freed.
    pub fn clear(&mut self) {
        if self.snap.active && !self.snap.walked && !self.main.is_empty() {
            let mut main = std::mem::take(&mut self.main);
            let expires = std::mem::take(&mut self.expires);
            self.snap.detached.push(Detached {
                entries: main.drain(),
                expires,
            });
        }
        self.main.clear();
        self.expires.clear();
        self.expire_cursor = 0;
        self.avg_ttl = 0;
    }

    /// A random key that is not expired, trying a bounded number of times like Redis (expired
    /// keys found are deleted on the way). None if the database is empty.
    pub fn random_key(&mut self, now: i64, rng: &mut u64) -> Option<CompactBytes> {
        let mut tries = 0;
        loop {
            let key = {
                let (k, _) = self.main.fair_random_entry(rng)?;
                k.clone()
            };
            tries += 1;
            match self.expire_of(&key) {
                Some(when) if is_expired(when, now) => {
                    if tries >= 100 || self.main.len() == self.expires.len() && tries > 50 {
                        // Redis gives up deleting after a while when every key is volatile and
                        // returns one anyway; it will be lazily expired on access.
                        return Some(key);
                    }
                    self.delete_expired(&key);
                }
                _ => return Some(key),
            }
        }
    }

    /// One pass of active expiry over this database: samples keys with a TTL from where the last
    /// pass stopped and deletes the expired ones; repeats while more than `stale_pct`% of a sample
    /// was expired and `deadline` (checked by the callback) is not reached. Returns
    /// (sampled, expired).
    pub fn active_expire(
        &mut self,
        now: i64,
        per_loop: usize,
        stale_pct: usize,
        mut time_left: impl FnMut() -> bool,
    ) -> (usize, usize) {
        let mut total_sampled = 0;
        let mut total_expired = 0;
        let mut ttl_sum: i64 = 0;
        let mut ttl_samples: i64 = 0;
        loop {
            if self.expires.is_empty() {
                self.expire_cursor = 0;
                break;
            }
            let mut sampled = 0;
            let mut to_delete: Vec<CompactBytes> = Vec::new();
            let mut buckets = 0;
            let max_buckets = per_loop * 20;
            let mut cursor = self.expire_cursor;
            while sampled < per_loop && buckets < max_buckets {
                cursor = self.expires.scan(cursor, |k, &when| {
                    sampled += 1;
                    if is_expired(when, now) {
                        to_delete.push(k.clone());
                    } else {
                        ttl_sum += when - now;
                        ttl_samples += 1;
                    }
                });
                buckets += 1;
                if cursor == 0 {
                    break;
                }
            }
            self.expire_cursor = cursor;
            let expired = to_delete.len();
            for k in to_delete {
                self.delete_expired(&k);
            }
            total_sampled += sampled;
            total_expired += expired;
            if sampled == 0 || expired * 100 <= sampled * stale_pct || !time_left() {
                break;
            }
        }
        if ttl_samples > 0 {
            let avg = ttl_sum / ttl_samples;
            // Running average as Redis does: mostly the old value, a bit of the new sample.
            self.avg_ttl = if self.avg_ttl == 0 {
                avg
            } else {
                (self.avg_ttl / 50) * 49 + avg / 50
            };
        }
        (total_sampled, total_expired)
    }
}

impl Db {
    /// Makes `key` look idle for `secs` seconds (RESTORE IDLETIME, OBJECT IDLETIME).
    pub fn set_idle(&mut self, key: &[u8], now: i64, secs: i64) {
        if let Some(o) = self.main.get_mut(key) {
            o.lru = lru_clock(now.saturating_sub(secs.saturating_mul(1000)));
        }
    }

    /// Inserts a key read from a dump file (no expiry check; `lru_ms` is the time of its last
    /// access). A key already present is an error (false) unless `replace`.
    pub fn load_insert(
        &mut self,
        key: &[u8],
        value: Value,
        expire: Option<i64>,
        lru_ms: i64,
        replace: bool,
    ) -> bool {
        if replace && self.main.contains_key(key) {
            self.take(key);
        }
        let obj = Obj {
            value,
            lru: Access::current().fresh(lru_ms),
            raw: false,
            epoch: self.snap.epoch,
        };
        if !self.main.insert_new(CompactBytes::from(key), obj) {
            return false;
        }
        if let Some(when) = expire {
            self.expires.insert(CompactBytes::from(key), when);
        }
        true
    }

    /// Inserts keys read from a dump file, as [`Db::load_insert`] each, but as a batch: the
    /// buckets of the keys a few places ahead are prefetched while one is inserted, so a load
    /// waits for memory once per several keys rather than once per key. Stops at the first key
    /// already present (unless `replace`) and returns it; the rest of the batch is dropped.
    pub fn load_batch(&mut self, batch: &mut Vec<LoadedKey>, replace: bool) -> Result<(), Vec<u8>> {
        const AHEAD: usize = 16;
        if replace {
            for e in batch.drain(..) {
                self.load_insert(&e.key, e.value, e.expire, e.lru_ms, true);
            }
            return Ok(());
        }
        let hashes: Vec<u64> = batch
            .iter()
            .map(|e| self.main.hash_key(e.key.as_slice()))
            .collect();
        for (i, e) in batch.drain(..).enumerate() {
            if let Some(&h) = hashes.get(i + AHEAD) {
                self.main.prefetch_bucket(h);
            }
            if let Some(&h) = hashes.get(i + AHEAD / 2) {
                self.main.prefetch_chain(h);
            }
            let obj = Obj {
                value: e.value,
                lru: Access::current().fresh(e.lru_ms),
                raw: false,
                epoch: self.snap.epoch,
            };
            let key = CompactBytes::from(e.key.as_slice());
            if !self.main.insert_new_hashed(hashes[i], key, obj) {
                return Err(e.key);
            }
            if let Some(when) = e.expire {
                self.expires
                    .insert(CompactBytes::from(e.key.as_slice()), when);
            }
        }
        Ok(())
    }

    /// One slice of this database's part of the running snapshot: hands up to about `max` keys
    /// to `f` as they were when the snapshot started — first versions kept by writes, then
    /// flushed tables, then the walk over the live table — and returns true once the part is
    /// complete (it is then no longer active). `f` gets (key, value, expire ms, lru clock).
    pub fn snap_step(&mut self, max: usize, f: &mut crate::snapshot::SaveFn<'_>) -> bool {
        if !self.snap.active {
            return true;
        }
        let epoch = self.snap.epoch;
        let mut n = 0usize;
        while n < max {
            let Some(k) = self.snap.kept.pop() else {
                break;
            };
            self.snap.kept_bytes = self
                .snap
                .kept_bytes
                .saturating_sub(crate::snapshot::approx_size(&k.key, &k.value));
            f(&k.key, &k.value, k.expire, k.lru);
            n += 1;
        }
        while n < max {
            let Some(d) = self.snap.detached.last_mut() else {
                break;
            };
            match d.entries.next() {
                Some((k, o)) => {
                    if o.epoch != epoch {
                        let exp = d.expires.get(&k).copied();
                        f(&k, &o.value, exp, o.lru);
                        n += 1;
                    }
                }
                None => {
                    self.snap.detached.pop();
                }
            }
        }
        let mut visited = 0usize;
        while n < max && visited < max * 4 && !self.snap.walked {
            let expires = &self.expires;
            let cursor = self.main.scan_mut(self.snap.cursor, |k, o| {
                visited += 1;
                if o.epoch != epoch {
                    o.epoch = epoch;
                    f(k, &o.value, expires.get(k).copied(), o.lru);
                    n += 1;
                }
            });
            visited += 1;
            self.snap.cursor = cursor;
            if cursor == 0 {
                self.snap.walked = true;
            }
        }
        self.snap.saved += n as u64;
        let done = self.snap.walked && self.snap.kept.is_empty() && self.snap.detached.is_empty();
        if done {
            self.snap.active = false;
        }
        done
    }
}

/// All databases plus shared counters.
pub struct Keyspace {
    pub dbs: Vec<Db>,
    pub stats: DbStats,
    /// State of the random generator used for RANDOMKEY and sampling.
    pub rng: u64,
    /// DEBUG SET-SKIP-CHECKSUM-VALIDATION: RESTORE does not check the payload's CRC-64.
    pub skip_checksum_validation: bool,
    /// Keyspace notification classes enabled (see [`crate::notify`]); 0 when off.
    pub notify: u32,
    /// Keyspace events raised so far and not yet published, in order.
    pub events: Vec<crate::notify::KeyEvent>,
}

impl Keyspace {
    /// `n` empty databases.
    pub fn new(n: usize) -> Self {
        let mut dbs = Vec::with_capacity(n);
        dbs.resize_with(n, Db::new);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15)
            | 1;
        Keyspace {
            dbs,
            stats: DbStats::default(),
            rng: seed,
            skip_checksum_validation: false,
            notify: 0,
            events: Vec::new(),
        }
    }

    /// Sets the enabled notification classes (on every database) unless already set.
    #[inline]
    pub fn sync_notify(&mut self, flags: u32) {
        if self.notify != flags || self.dbs.first().is_some_and(|d| d.notify != flags) {
            self.notify = flags;
            if flags == 0 {
                self.events.clear();
            }
            for db in self.dbs.iter_mut() {
                db.notify = flags;
                if flags == 0 {
                    db.events.clear();
                }
            }
        }
    }

    /// Records a keyspace event of `class` for `key` in database `db`; returns at once
    /// when the class is off.
    #[inline]
    pub fn notify(&mut self, db: usize, class: u32, event: &'static str, key: &[u8]) {
        if self.notify & class != 0 {
            self.push_event(db, event, key);
        }
    }

    #[cold]
    fn push_event(&mut self, db: usize, event: &'static str, key: &[u8]) {
        self.collect_events();
        self.events.push(crate::notify::KeyEvent {
            db,
            event,
            key: key.to_vec(),
        });
    }

    /// Moves the events the databases raised themselves (`new`, `expired`, `keymiss`) to
    /// [`Keyspace::events`], after those already there.
    pub fn collect_events(&mut self) {
        for (i, db) in self.dbs.iter_mut().enumerate() {
            for (event, key) in db.events.drain(..) {
                self.events.push(crate::notify::KeyEvent {
                    db: i,
                    event,
                    key: key.to_vec(),
                });
            }
        }
    }

    /// Takes every pending keyspace event, in the order raised.
    pub fn take_events(&mut self) -> Vec<crate::notify::KeyEvent> {
        if self.notify == 0 {
            return Vec::new();
        }
        self.collect_events();
        std::mem::take(&mut self.events)
    }

    /// Starts a point-in-time snapshot of every database (see `snapshot`); whatever an
    /// unfinished one held is dropped. Drive it with [`Db::snap_step`] per database, in the
    /// order of `snap.index`.
    pub fn snapshot_begin(&mut self) {
        let last = self.dbs.iter().map(|d| d.snap.epoch).max().unwrap_or(0);
        let epoch = match last.checked_add(1) {
            Some(e) => e,
            None => {
                for db in self.dbs.iter_mut() {
                    for (_, o) in db.main.iter_mut() {
                        o.epoch = 0;
                    }
                }
                1
            }
        };
        for (i, db) in self.dbs.iter_mut().enumerate() {
            db.snap.begin(i, epoch);
        }
    }

    /// Abandons the running snapshot and frees what it held.
    pub fn snapshot_abort(&mut self) {
        for db in self.dbs.iter_mut() {
            db.snap.clear();
        }
    }

    /// True while some database's part of a snapshot is unfinished.
    pub fn snapshot_active(&self) -> bool {
        self.dbs.iter().any(|d| d.snap.active)
    }

    /// Bytes currently held by the snapshot for keys written during it.
    /// The server became a replica (true) or a master (false): see [`Db::replica`].
    pub fn set_replica(&mut self, on: bool) {
        for db in self.dbs.iter_mut() {
            db.replica = on;
            if !on {
                db.replica_ttl_keys.clear();
            }
        }
    }

    pub fn snapshot_kept_bytes(&self) -> usize {
        self.dbs.iter().map(|d| d.snap.kept_bytes).sum()
    }

    /// Total number of keys in every database.
    pub fn total_keys(&self) -> usize {
        self.dbs.iter().map(|d| d.len()).sum()
    }
}
