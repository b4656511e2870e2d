//! `Db`: one numbered database: the main dictionary (key → value), the expires dictionary
//! (key → unix time in ms, only for keys with a TTL) and the keyspace counters. `Keyspace` holds
//! the 16 (`databases`) of them.
//!
//! Expiry is lazy (a lookup of an expired key deletes it) and active (`active_expire_cycle`
//! samples keys with a TTL and deletes the expired ones, repeating while more than a quarter of
//! a sample was expired, within a time budget), as Redis does.

use crate::compact::CompactBytes;
use crate::dict::Dict;
use crate::value::Value;

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

    /// Deletes `key` if it is expired at `now`; true if it did.
    pub fn expire_if_needed(&mut self, key: &[u8], now: i64) -> bool {
        match self.expire_of(key) {
            Some(when) if is_expired(when, now) => {
                self.delete_expired(key);
                true
            }
            _ => false,
        }
    }

    fn delete_expired(&mut self, key: &[u8]) {
        self.expires.remove(key);
        if let Some((k, _)) = self.main.remove(key) {
            self.expired_total += 1;
            self.expired_keys.push(k);
        }
    }

    /// Looks `key` up without touching the hit/miss counters or the access clock, expiring it
    /// first if needed.
    pub fn peek(&mut self, key: &[u8], now: i64) -> Option<&Value> {
        self.expire_if_needed(key, now);
        self.main.get(key).map(|o| &o.value)
    }

    /// The whole slot (value and access clock) without touching anything.
    pub fn peek_obj(&mut self, key: &[u8], now: i64) -> Option<&Obj> {
        self.expire_if_needed(key, now);
        self.main.get(key)
    }

    /// Looks `key` up for reading: expires it first if needed; counts a hit or a miss and
    /// updates the key's access clock.
    pub fn get(&mut self, key: &[u8], now: i64, stats: &mut DbStats) -> Option<&Value> {
        self.expire_if_needed(key, now);
        match self.main.get_mut(key) {
            Some(o) => {
                stats.hits += 1;
                o.lru = lru_clock(now);
                Some(&o.value)
            }
            None => {
                stats.misses += 1;
                None
            }
        }
    }

    /// Looks `key` up for writing (no hit/miss counting), expiring it first if needed, and
    /// updates its access clock.
    pub fn get_mut(&mut self, key: &[u8], now: i64) -> Option<&mut Value> {
        self.expire_if_needed(key, now);
        self.main.get_mut(key).map(|o| {
            o.lru = lru_clock(now);
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
        self.expire_if_needed(key, now);
        match self.main.get_mut(key) {
            Some(o) => {
                o.lru = lru_clock(now);
                true
            }
            None => false,
        }
    }

    /// True if `key` exists (and is not expired).
    pub fn exists(&mut self, key: &[u8], now: i64) -> bool {
        self.expire_if_needed(key, now);
        self.main.contains_key(key)
    }

    /// Sets `key` to `value` at time `now`. Unless `keep_ttl`, any TTL is removed (SET
    /// semantics).
    pub fn set(&mut self, key: &[u8], value: Value, keep_ttl: bool, now: i64) {
        if !keep_ttl && !self.expires.is_empty() {
            self.expires.remove(key);
        }
        let lru = lru_clock(now);
        if let Some(slot) = self.main.get_mut(key) {
            slot.value = value;
            slot.lru = lru;
            slot.raw = false;
        } else {
            self.main.insert(
                CompactBytes::from(key),
                Obj {
                    value,
                    lru,
                    raw: false,
                },
            );
        }
    }

    /// Adds `key` only if absent (an expired key counts as absent). True if added.
    pub fn add(&mut self, key: &[u8], value: Value, now: i64) -> bool {
        if self.exists(key, now) {
            return false;
        }
        let lru = lru_clock(now);
        self.main.insert(
            CompactBytes::from(key),
            Obj {
                value,
                lru,
                raw: false,
            },
        );
        true
    }

    /// Removes `key` and its TTL; true if it existed (and was not expired).
    pub fn remove(&mut self, key: &[u8], now: i64) -> bool {
        if self.expire_if_needed(key, now) {
            return false;
        }
        self.take(key).is_some()
    }

    /// Removes `key` and returns its value (no expiry check).
    pub fn take(&mut self, key: &[u8]) -> Option<Value> {
        if !self.expires.is_empty() {
            self.expires.remove(key);
        }
        self.main.remove(key).map(|(_, o)| o.value)
    }

    /// Sets the TTL of an existing key to `when` (unix ms). False if the key does not exist.
    pub fn set_expire(&mut self, key: &[u8], when: i64) -> bool {
        if !self.main.contains_key(key) {
            return false;
        }
        if let Some(slot) = self.expires.get_mut(key) {
            *slot = when;
        } else {
            self.expires.insert(CompactBytes::from(key), when);
        }
        true
    }

    /// Removes the TTL of `key`; true if it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        self.expires.remove(key).is_some()
    }

    /// Removes every key.
    pub fn clear(&mut self) {
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

/// All databases plus shared counters.
pub struct Keyspace {
    pub dbs: Vec<Db>,
    pub stats: DbStats,
    /// State of the random generator used for RANDOMKEY and sampling.
    pub rng: u64,
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
        }
    }

    /// Total number of keys in every database.
    pub fn total_keys(&self) -> usize {
        self.dbs.iter().map(|d| d.len()).sum()
    }
}
