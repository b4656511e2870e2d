//! The fork-less point-in-time snapshot (DESIGN.md): instead of `fork()`ing and letting the
//! kernel copy pages on write, the engine walks the keyspace in small slices between commands,
//! and a write that is about to change or delete a key the walk has not reached yet first hands
//! the key's old version to the snapshot. Extra memory is therefore O(keys written while the
//! snapshot runs), never O(dataset).
//!
//! **Which keys are pending.** Every slot ([`crate::db::Obj`]) carries the 16-bit `epoch` of
//! the last snapshot that saw it; a snapshot runs under a new epoch, one higher than any slot
//! holds. A slot whose epoch differs from the running snapshot's is *pending*: it existed when
//! the snapshot started and has not been saved yet. Saving a slot (by the walk, or by a write
//! that keeps its old version) sets its epoch, so it is saved exactly once; slots created while
//! the snapshot runs get the running epoch at once and are never saved. An aborted snapshot
//! needs no clean-up pass: the next one simply uses a newer epoch. When the 16-bit counter
//! would wrap, every slot is reset to 0 first (once per 65535 snapshots).
//!
//! **The walk** uses the dictionary's SCAN cursor ([`crate::dict::Dict::scan_mut`]), which
//! visits every entry present for the whole walk at least once whatever resizes and rehash
//! steps happen in between; entries it visits twice are skipped by their epoch. Keys deleted
//! before the walk reached them were kept by the deletion; a FLUSHDB/FLUSHALL while the walk
//! is unfinished detaches the whole table into the snapshot (O(1)) and the walk drains it.
//!
//! **SWAPDB** swaps whole `Db`s, and each `Db` carries its snapshot state, including the
//! number it had when the snapshot started (`index`), so the snapshot stays the picture of
//! the moment it started.

use crate::compact::CompactBytes;
use crate::db::Obj;
use crate::dict::{Dict, IntoIter};
use crate::value::Value;

/// What a snapshot slice hands each saved key to: (key, value, expire ms, lru clock).
pub type SaveFn<'a> = dyn FnMut(&[u8], &Value, Option<i64>, u32) + 'a;

/// A key's version as it was when the snapshot started, kept by a write that changed it.
pub struct Kept {
    pub key: CompactBytes,
    pub value: Value,
    pub expire: Option<i64>,
    pub lru: u32,
}

/// A table emptied by FLUSHDB/FLUSHALL while the walk had not finished it.
pub struct Detached {
    pub entries: IntoIter<CompactBytes, Obj>,
    pub expires: Dict<CompactBytes, i64>,
}

/// One database's part of the snapshot in progress (or of the last one).
#[derive(Default)]
pub struct SnapState {
    /// A snapshot is running and this database's part is not complete.
    pub active: bool,
    /// Epoch of the running (or last) snapshot; new slots get it.
    pub epoch: u16,
    /// The database's number when the snapshot started.
    pub index: usize,
    /// Walk cursor over the main table.
    pub cursor: u64,
    /// The walk over the main table is complete.
    pub walked: bool,
    /// Old versions kept by writes, waiting to be saved.
    pub kept: Vec<Kept>,
    /// Approximate bytes held by `kept` (INFO `current_cow_size`).
    pub kept_bytes: usize,
    /// Tables detached by a flush.
    pub detached: Vec<Detached>,
    /// Keys handed out so far by this database's part.
    pub saved: u64,
}

impl SnapState {
    pub(crate) fn begin(&mut self, index: usize, epoch: u16) {
        self.clear();
        self.active = true;
        self.epoch = epoch;
        self.index = index;
        self.cursor = 0;
        self.walked = false;
        self.saved = 0;
    }

    /// Drops whatever an unfinished snapshot still held.
    pub(crate) fn clear(&mut self) {
        self.active = false;
        self.kept = Vec::new();
        self.kept_bytes = 0;
        self.detached = Vec::new();
    }

    pub(crate) fn keep(&mut self, key: CompactBytes, value: Value, expire: Option<i64>, lru: u32) {
        self.kept_bytes += approx_size(&key, &value);
        self.kept.push(Kept {
            key,
            value,
            expire,
            lru,
        });
    }
}

/// Approximate heap bytes of a key and its value.
pub fn approx_size(key: &CompactBytes, v: &Value) -> usize {
    let vb = match v {
        Value::Str(s) => s.heap_size(),
        Value::Hash(h) => h.heap_size(),
        Value::List(l) => l.heap_size(),
        Value::Set(x) => x.heap_size(),
        Value::ZSet(z) => z.heap_size(),
        Value::Stream(x) => x.heap_size(),
    };
    key.heap_size() + vb + 64
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::db::{Keyspace, Obj};
    use crate::dict::next_rand;
    use crate::types::hash::HashValue;
    use crate::types::TypeLimits;
    use crate::value::Value;
    use std::collections::BTreeMap;

    type Picture = BTreeMap<(usize, Vec<u8>), (Vec<u8>, Option<i64>)>;

    fn render(v: &Value) -> Vec<u8> {
        match v {
            Value::Str(s) => s.to_vec(),
            Value::Hash(h) => {
                let mut pairs: Vec<_> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
                pairs.sort();
                format!("{pairs:?}").into_bytes()
            }
            other => format!("{other:?}").into_bytes(),
        }
    }

    fn picture(ks: &Keyspace) -> Picture {
        let mut p = Picture::new();
        for (i, db) in ks.dbs.iter().enumerate() {
            for (k, o) in db.main.iter() {
                p.insert(
                    (i, k.to_vec()),
                    (render(&o.value), db.expires.get(k.as_ref()).copied()),
                );
            }
        }
        p
    }

    fn step_all(ks: &mut Keyspace, max: usize, out: &mut Picture) -> bool {
        let mut order: Vec<usize> = (0..ks.dbs.len()).collect();
        order.sort_by_key(|&i| ks.dbs[i].snap.index);
        for i in order {
            let idx = ks.dbs[i].snap.index;
            let mut dup = false;
            let done = ks.dbs[i].snap_step(max, &mut |k, v, e, _| {
                if out.insert((idx, k.to_vec()), (render(v), e)).is_some() {
                    dup = true;
                }
            });
            assert!(!dup, "a key was saved twice");
            if !done {
                return false;
            }
        }
        true
    }

    #[test]
    fn obj_stays_32_bytes() {
        assert_eq!(std::mem::size_of::<Obj>(), 32);
    }

    /// Random writes interleaved with small snapshot slices: the snapshot must be exactly the
    /// keyspace as it was when it started, every key once.
    #[test]
    fn snapshot_is_point_in_time_under_writes() {
        let limits = TypeLimits::default();
        for seed in 1..=20u64 {
            let mut rng = seed * 0x9e37_79b9;
            let mut ks = Keyspace::new(3);
            let now = 1_000_000;
            for i in 0..(200 + seed * 50) {
                let db = (i % 3) as usize;
                let key = format!("k{i}");
                if i % 7 == 0 {
                    let mut h = HashValue::new();
                    h.set(b"f", format!("{i}").as_bytes(), &limits);
                    ks.dbs[db].set(key.as_bytes(), Value::Hash(Box::new(h)), false, now);
                } else {
                    ks.dbs[db].set(
                        key.as_bytes(),
                        Value::from_bytes(key.as_bytes()),
                        false,
                        now,
                    );
                }
                if i % 5 == 0 {
                    ks.dbs[db].set_expire(key.as_bytes(), now + 1_000_000 + i as i64);
                }
            }
            let before = picture(&ks);
            ks.snapshot_begin();
            let mut out = Picture::new();
            let mut rounds = 0;
            loop {
                // A few random writes between slices.
                for _ in 0..(next_rand(&mut rng) % 8) {
                    let r = next_rand(&mut rng);
                    let db = (r % 3) as usize;
                    let key = format!("k{}", (r >> 8) % 600);
                    let d = &mut ks.dbs[db];
                    match (r >> 32) % 12 {
                        0..=2 => d.set(key.as_bytes(), Value::from_bytes(b"new"), false, now),
                        3 => {
                            d.remove(key.as_bytes(), now);
                        }
                        4 => {
                            d.set_expire(key.as_bytes(), now + 5);
                        }
                        5 => {
                            d.persist(key.as_bytes());
                        }
                        6 => {
                            if let Some(Value::Hash(h)) = d.get_mut(key.as_bytes(), now) {
                                h.set(b"g", b"changed", &limits);
                            }
                        }
                        7 => {
                            if let Some(v) = d.take(key.as_bytes()) {
                                let to = ((r >> 40) % 3) as usize;
                                let nk = format!("{key}-moved");
                                ks.dbs[to].set(nk.as_bytes(), v, false, now);
                            }
                        }
                        8 if r.is_multiple_of(97) => d.clear(),
                        9 if r.is_multiple_of(89) => ks.dbs.swap(0, 2),
                        10 => {
                            // Lazy expiry of keys that just got a short TTL.
                            d.peek(key.as_bytes(), now + 10);
                        }
                        _ => {
                            d.add(key.as_bytes(), Value::from_bytes(b"added"), now);
                        }
                    }
                }
                if step_all(&mut ks, 1 + (next_rand(&mut rng) % 10) as usize, &mut out) {
                    break;
                }
                rounds += 1;
                assert!(rounds < 100_000);
            }
            assert!(!ks.snapshot_active());
            assert_eq!(out, before, "seed {seed}");
        }
    }

    #[test]
    fn aborted_snapshot_leaves_the_next_one_whole() {
        let mut ks = Keyspace::new(1);
        for i in 0..1000 {
            ks.dbs[0].set(
                format!("k{i}").as_bytes(),
                Value::from_bytes(b"v"),
                false,
                0,
            );
        }
        ks.snapshot_begin();
        let mut out = Picture::new();
        step_all(&mut ks, 100, &mut out);
        ks.snapshot_abort();
        let before = picture(&ks);
        ks.snapshot_begin();
        let mut out = Picture::new();
        while !step_all(&mut ks, 50, &mut out) {}
        assert_eq!(out, before);
    }

    #[test]
    fn epoch_wraps_without_losing_keys() {
        let mut ks = Keyspace::new(1);
        for i in 0..10 {
            ks.dbs[0].set(
                format!("k{i}").as_bytes(),
                Value::from_bytes(b"v"),
                false,
                0,
            );
        }
        ks.dbs[0].snap.epoch = u16::MAX - 1;
        for _ in 0..3 {
            let before = picture(&ks);
            ks.snapshot_begin();
            let mut out = Picture::new();
            while !step_all(&mut ks, 3, &mut out) {}
            assert_eq!(out, before);
        }
    }
}
