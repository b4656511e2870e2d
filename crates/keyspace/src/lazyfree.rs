//! Lazy freeing (UNLINK, `lazyfree-lazy-user-del`): a value whose freeing costs more than
//! [`THRESHOLD`] allocations is dropped by a background thread instead of the engine's, as
//! Redis hands such values to its lazyfree bio thread. Small values are dropped in place.
//!
//! INFO `lazyfree_pending_objects` and `lazyfreed_objects` read [`pending`] and [`freed`].

use crate::value::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};

/// Redis's LAZYFREE_THRESHOLD.
pub const THRESHOLD: usize = 64;

static PENDING: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);
static QUEUE: OnceLock<Mutex<Option<Sender<Value>>>> = OnceLock::new();

/// Roughly how many allocations freeing `v` takes (Redis's lazyfreeGetFreeEffort, counted
/// for Cinnabar's own representations: a packed form is one allocation).
pub fn free_effort(v: &Value) -> usize {
    match v {
        Value::Str(_) => 1,
        Value::List(l) => l.len(),
        Value::Set(s) => {
            if s.encoding_name() == "hashtable" {
                s.len()
            } else {
                1
            }
        }
        Value::Hash(h) => {
            if h.is_packed() {
                1
            } else {
                h.len()
            }
        }
        Value::ZSet(z) => {
            if z.encoding_name() == "skiplist" {
                z.len()
            } else {
                1
            }
        }
        Value::Stream(s) => {
            // Every node is an allocation; every group and the entries of its PEL too (the
            // first group's PEL stands for the others, as Redis estimates).
            let pel = s.groups.values().next().map_or(0, |g| g.pel.len());
            s.nodes.len() + s.groups.len() * (1 + pel)
        }
    }
}

fn sender() -> Option<Sender<Value>> {
    let q = QUEUE.get_or_init(|| {
        let (tx, rx) = channel::<Value>();
        let spawned = std::thread::Builder::new()
            .name("lazyfree".into())
            .spawn(move || {
                for v in rx {
                    drop(v);
                    PENDING.fetch_sub(1, Ordering::Relaxed);
                    FREED.fetch_add(1, Ordering::Relaxed);
                }
            });
        Mutex::new(spawned.ok().map(|_| tx))
    });
    q.lock().ok().and_then(|g| g.clone())
}

/// Frees `v`: in the background when it is costly, here otherwise.
pub fn free(v: Value) {
    if free_effort(&v) <= THRESHOLD {
        return;
    }
    let Some(tx) = sender() else {
        return;
    };
    PENDING.fetch_add(1, Ordering::Relaxed);
    if let Err(back) = tx.send(v) {
        PENDING.fetch_sub(1, Ordering::Relaxed);
        drop(back);
    }
}

/// Values queued for the background thread and not yet freed.
pub fn pending() -> u64 {
    PENDING.load(Ordering::Relaxed)
}

/// Values freed in the background since the start (or CONFIG RESETSTAT).
pub fn freed() -> u64 {
    FREED.load(Ordering::Relaxed)
}

/// CONFIG RESETSTAT.
pub fn reset_stats() {
    FREED.store(0, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::set::SetValue;

    #[test]
    fn big_values_are_freed_in_the_background() {
        let mut small = SetValue::new();
        for i in 0..10 {
            small.add(format!("m{i}").as_bytes(), 512);
        }
        let small = Value::Set(Box::new(small));
        assert!(free_effort(&small) <= THRESHOLD);
        let mut big = SetValue::new();
        for i in 0..1000 {
            big.add(format!("m{i}").as_bytes(), 512);
        }
        let big = Value::Set(Box::new(big));
        assert_eq!(free_effort(&big), 1000);
        let before = freed();
        free(small);
        free(big);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while freed() == before && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(freed(), before + 1);
    }
}
