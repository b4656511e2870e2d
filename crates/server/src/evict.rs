//! `maxmemory`: before each command (and from the cron) the engine compares the memory the
//! process uses, less the replication buffer beyond the backlog, with `maxmemory`, and evicts
//! keys by `maxmemory-policy` until it is under again, as Redis's performEvictions does.
//!
//! - `*-random` picks a random key of the main (allkeys) or expires (volatile) dictionary.
//! - `*-lru`, `*-lfu`, `volatile-ttl` sample `maxmemory-samples` keys of each database into a
//!   pool of the 16 best candidates (highest idle time, lowest decayed LFU counter, nearest
//!   expiry) kept across calls, and evict the best one still present.
//! - Each eviction is propagated as DEL (UNLINK with `lazyfree-lazy-eviction`), counted in
//!   INFO `evicted_keys`, touches WATCHed keys and raises the `evicted` keyspace event.
//! - One call works for at most the `maxmemory-eviction-tenacity` time budget; the cron
//!   goes on where it stopped. When nothing is left to evict, the call fails and commands
//!   flagged `denyoom` get `-OOM`.

use crate::server::Server;
use cinnabar_keyspace::db::{idle_seconds, Access};
use std::time::{Duration, Instant};

/// `maxmemory-policy`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Policy {
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    #[default]
    NoEviction,
}

impl Policy {
    pub fn parse(s: &str) -> Policy {
        match s.to_ascii_lowercase().as_str() {
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            "allkeys-lru" => Policy::AllkeysLru,
            "allkeys-lfu" => Policy::AllkeysLfu,
            "allkeys-random" => Policy::AllkeysRandom,
            _ => Policy::NoEviction,
        }
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::VolatileLfu | Policy::AllkeysLfu)
    }

    fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    fn random(self) -> bool {
        matches!(self, Policy::VolatileRandom | Policy::AllkeysRandom)
    }
}

/// Candidates kept between calls (Redis's eviction pool).
const POOL_SIZE: usize = 16;

/// The eviction state of the server.
#[derive(Default)]
pub struct Evictor {
    /// (score: higher is evicted first, db, key), sorted by ascending score.
    pool: Vec<(u64, usize, Vec<u8>)>,
    /// The next database a random policy picks from.
    next_db: usize,
    /// Keys evicted so far (INFO `evicted_keys`).
    pub evicted_keys: u64,
    /// Eviction could not finish within its time budget: the cron continues it.
    pub pending: bool,
    /// Since when memory has been over the limit (INFO `current_eviction_exceeded_time`).
    pub exceeded_since: Option<Instant>,
    /// Total time spent over the limit, ms (INFO `total_eviction_exceeded_time`).
    pub exceeded_total_ms: u64,
}

/// The outcome of [`perform`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// Under the limit (or nothing to do).
    Ok,
    /// Over the limit and eviction goes on (time budget used up): not an OOM.
    Running,
    /// Over the limit with nothing (more) to evict: `denyoom` commands get -OOM.
    Fail,
}

/// Memory that does not count against `maxmemory`: the replication buffer beyond the backlog
/// (what replicas still have to read) and the AOF buffer, as Redis.
fn not_counted(s: &Server) -> u64 {
    (s.repl_buf.mem() as u64).saturating_sub(s.settings.repl_backlog_size)
}

/// Memory counted against `maxmemory`.
pub fn counted_memory(s: &Server) -> u64 {
    crate::memory::used().saturating_sub(not_counted(s))
}

/// The eviction time budget for `maxmemory-eviction-tenacity` (Redis's formula).
fn time_budget(tenacity: u64) -> Option<Duration> {
    if tenacity <= 10 {
        Some(Duration::from_micros(50 * tenacity))
    } else if tenacity < 100 {
        Some(Duration::from_micros(
            (500.0 * 1.15f64.powf(tenacity as f64 - 10.0)) as u64,
        ))
    } else {
        None
    }
}

/// The eviction time budget of one call (`Duration::MAX` standing for none at tenacity 100).
pub fn perform_budget(s: &Server) -> Duration {
    time_budget(s.settings.maxmemory_eviction_tenacity).unwrap_or(Duration::MAX)
}

/// Frees memory by `maxmemory-policy` until the server is under `maxmemory` (see the module
/// documentation).
pub fn perform(s: &mut Server, now: i64) -> Outcome {
    let budget = time_budget(s.settings.maxmemory_eviction_tenacity);
    perform_within(s, now, budget)
}

/// [`perform`] with its own time budget (`None`: until done); the cron continues a pending
/// eviction with a larger one, as Redis's eviction timer keeps going between events.
pub fn perform_within(s: &mut Server, now: i64, budget: Option<Duration>) -> Outcome {
    let max = s.settings.maxmemory;
    if max == 0 || s.loading.is_some() {
        s.evict.pending = false;
        return Outcome::Ok;
    }
    // A replica leaves eviction to its master (replica-ignore-maxmemory).
    if s.master.is_some() && s.settings.replica_ignore_maxmemory {
        return Outcome::Ok;
    }
    let mut used = counted_memory(s);
    if used <= max {
        s.evict.pending = false;
        if let Some(t) = s.evict.exceeded_since.take() {
            s.evict.exceeded_total_ms += t.elapsed().as_millis() as u64;
        }
        return Outcome::Ok;
    }
    if s.evict.exceeded_since.is_none() {
        s.evict.exceeded_since = Some(Instant::now());
    }
    let policy = s.settings.maxmemory_policy;
    if policy == Policy::NoEviction {
        return Outcome::Fail;
    }
    let start = Instant::now();
    let mut evicted = 0u64;
    crate::notify::sync(s);
    while used > max {
        let Some((db, key)) = pick(s, policy, now) else {
            s.evict.pending = false;
            return Outcome::Fail;
        };
        let before_remove = crate::memory::used();
        let timed = (s.settings.latency_monitor_threshold > 0).then(Instant::now);
        if !s.ks.dbs[db].remove(&key, now) {
            // Already gone (expired meanwhile): try another.
            continue;
        }
        if let Some(t) = timed {
            s.latency_sample("eviction-del", t.elapsed().as_millis() as u64);
        }
        let freed = before_remove.saturating_sub(crate::memory::used());
        s.dirty += 1;
        s.evict.evicted_keys += 1;
        evicted += 1;
        if s.prop.enabled {
            let cmd: &[u8] = if s.settings.lazyfree_lazy_eviction {
                b"UNLINK"
            } else {
                b"DEL"
            };
            s.prop.add(db, vec![cmd.to_vec(), key.clone()]);
            crate::propagate::end_unit(s, true);
        }
        if !s.watched.is_empty() {
            crate::multi::touch(s, db, &key);
        }
        if s.tracking.active() {
            crate::tracking::invalidate_key(s, 0, &key, true);
        }
        s.ks.notify(db, cinnabar_keyspace::notify::EVICTED, "evicted", &key);
        crate::notify::publish_pending(s, None);
        // With client-side caching, each eviction queues invalidations (as large as the key
        // names, to every client caching the key): as Redis, only what the deletion itself
        // freed counts in this run, or those messages would feed the eviction until the
        // database is empty. The next run sees them if they are still unsent.
        used = if s.tracking.active() {
            used.saturating_sub(freed)
        } else {
            counted_memory(s)
        };
        if evicted.is_multiple_of(16) && used > max && budget.is_some_and(|b| start.elapsed() > b) {
            s.evict.pending = true;
            s.latency_sample("eviction-cycle", start.elapsed().as_millis() as u64);
            return Outcome::Running;
        }
    }
    s.evict.pending = false;
    s.latency_sample("eviction-cycle", start.elapsed().as_millis() as u64);
    Outcome::Ok
}

/// The next key to evict by `policy`.
fn pick(s: &mut Server, policy: Policy, now: i64) -> Option<(usize, Vec<u8>)> {
    let ndb = s.ks.dbs.len();
    if policy.random() {
        for _ in 0..ndb {
            let i = s.evict.next_db % ndb;
            s.evict.next_db = s.evict.next_db.wrapping_add(1);
            let mut rng = s.ks.rng;
            let db = &s.ks.dbs[i];
            let key = if policy.volatile() {
                db.expires.random_entry(&mut rng).map(|(k, _)| k.to_vec())
            } else {
                db.main.random_entry(&mut rng).map(|(k, _)| k.to_vec())
            };
            s.ks.rng = rng;
            if let Some(k) = key {
                return Some((i, k));
            }
        }
        return None;
    }
    let access = Access::current();
    let samples = s.settings.maxmemory_samples;
    for _ in 0..64 {
        let mut rng = s.ks.rng;
        let mut any = false;
        for i in 0..ndb {
            let db = &s.ks.dbs[i];
            let dict_len = if policy.volatile() {
                db.expires.len()
            } else {
                db.main.len()
            };
            if dict_len == 0 {
                continue;
            }
            any = true;
            let mut found: Vec<(u64, Vec<u8>)> = Vec::with_capacity(samples);
            let score = |lru: u32| -> u64 {
                if policy.is_lfu() {
                    255 - access.lfu_counter(lru, now).min(255) as u64
                } else {
                    idle_seconds(lru, now)
                }
            };
            if policy.volatile() {
                db.expires.sample(samples, &mut rng, |k, when| {
                    let sc = if policy == Policy::VolatileTtl {
                        u64::MAX - (*when).max(0) as u64
                    } else {
                        match db.main.get(k.as_slice()) {
                            Some(o) => score(o.lru),
                            None => return,
                        }
                    };
                    found.push((sc, k.to_vec()));
                });
            } else {
                db.main.sample(samples, &mut rng, |k, o| {
                    found.push((score(o.lru), k.to_vec()));
                });
            }
            for (sc, k) in found {
                pool_insert(&mut s.evict.pool, sc, i, k);
            }
        }
        s.ks.rng = rng;
        if !any {
            s.evict.pool.clear();
            return None;
        }
        // The best candidate still present.
        while let Some((_, db, key)) = s.evict.pool.pop() {
            let d = &s.ks.dbs[db];
            let present = if policy.volatile() {
                d.expires.contains_key(key.as_slice())
            } else {
                d.main.contains_key(key.as_slice())
            };
            if present {
                return Some((db, key));
            }
        }
    }
    None
}

fn pool_insert(pool: &mut Vec<(u64, usize, Vec<u8>)>, score: u64, db: usize, key: Vec<u8>) {
    if pool.iter().any(|(_, d, k)| *d == db && *k == key) {
        return;
    }
    if pool.len() >= POOL_SIZE && pool.first().is_some_and(|(sc, _, _)| *sc >= score) {
        return;
    }
    let at = pool.partition_point(|(sc, _, _)| *sc < score);
    pool.insert(at, (score, db, key));
    if pool.len() > POOL_SIZE {
        pool.remove(0);
    }
}

/// INFO memory: `maxmemory_policy` as Redis names it.
pub fn policy_name(p: Policy) -> &'static str {
    match p {
        Policy::VolatileLru => "volatile-lru",
        Policy::VolatileLfu => "volatile-lfu",
        Policy::VolatileRandom => "volatile-random",
        Policy::VolatileTtl => "volatile-ttl",
        Policy::AllkeysLru => "allkeys-lru",
        Policy::AllkeysLfu => "allkeys-lfu",
        Policy::AllkeysRandom => "allkeys-random",
        Policy::NoEviction => "noeviction",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_keeps_the_best() {
        let mut pool = Vec::new();
        for i in 0..40u64 {
            pool_insert(&mut pool, (i * 7919) % 101, 0, i.to_be_bytes().to_vec());
        }
        assert_eq!(pool.len(), POOL_SIZE);
        assert!(pool.windows(2).all(|w| w[0].0 <= w[1].0));
        let best = pool.last().map(|x| x.0);
        assert_eq!(best, Some(100));
    }

    #[test]
    fn budgets() {
        assert_eq!(time_budget(0), Some(Duration::ZERO));
        assert_eq!(time_budget(10), Some(Duration::from_micros(500)));
        assert!(time_budget(100).is_none());
        assert_eq!(Policy::parse("ALLKEYS-LFU"), Policy::AllkeysLfu);
        assert!(Policy::parse("bogus") == Policy::NoEviction);
    }
}
