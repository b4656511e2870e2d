//! The stream type, laid out as Redis 7.0 lays it out so that RDB output is byte-identical:
//! an ordered map of *nodes*, each keyed by its master ID and holding one listpack in
//! Redis's stream node format:
//!
//! ```text
//! master entry: count | deleted | num-fields | field_1 .. field_N | 0
//! each entry:   flags | ms-delta | seq-delta | [num-fields | field/value pairs] or values | lp-count
//! ```
//!
//! Entry IDs are delta-encoded against the node's master ID; an entry whose fields equal the
//! master fields stores only its values (SAMEFIELDS flag). Deleted entries stay in their node
//! with the DELETED flag until the node has no live entry left, then the node goes. New nodes
//! start when the tail node reaches `stream-node-max-bytes` / `stream-node-max-entries`.
//!
//! Consumer groups, their pending entries lists (PEL) and consumers are ordinary ordered maps
//! (byte-wise order, as Redis's radix trees iterate).

use crate::listpack::{self, Elem};
use crate::types::TypeLimits;
use cinnabar_util::num::string2ll;
use std::collections::{BTreeMap, BTreeSet};

/// Entry flag: deleted (a tombstone).
pub const FLAG_DELETED: i64 = 1;
/// Entry flag: the entry has the master entry's fields (only values stored).
pub const FLAG_SAMEFIELDS: i64 = 2;
/// The largest listpack a node may grow to, whatever `stream-node-max-bytes` says.
pub const LISTPACK_MAX_SIZE: usize = 1 << 30;

/// A 128-bit stream entry ID.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID, None past the maximum.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID, None below the minimum.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    pub fn is_zero(self) -> bool {
        self.ms == 0 && self.seq == 0
    }

    /// 16 bytes, big endian (the radix tree key / RDB form).
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    pub fn from_be_bytes(b: [u8; 16]) -> StreamId {
        let mut ms = [0u8; 8];
        let mut seq = [0u8; 8];
        ms.copy_from_slice(&b[..8]);
        seq.copy_from_slice(&b[8..]);
        StreamId::new(u64::from_be_bytes(ms), u64::from_be_bytes(seq))
    }

    /// "ms-seq".
    pub fn to_text(self) -> String {
        format!("{}-{}", self.ms, self.seq)
    }
}

/// A pending entry (delivered, not acknowledged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    pub delivery_time: i64,
    pub delivery_count: u64,
    /// The consumer it was last delivered to.
    pub consumer: Vec<u8>,
}

/// A consumer of a group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consumer {
    pub seen_time: i64,
    /// Its pending IDs (the NACKs live in the group's PEL).
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub last_id: StreamId,
    /// Logical reads counter; -1 when unknown.
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Removes a PEL entry from the group and its consumer.
    pub fn remove_nack(&mut self, id: StreamId) -> Option<Nack> {
        let n = self.pel.remove(&id)?;
        if let Some(c) = self.consumers.get_mut(&n.consumer) {
            c.pel.remove(&id);
        }
        Some(n)
    }
}

/// One entry as decoded from a node.
#[derive(Debug)]
pub struct Entry<'a> {
    pub id: StreamId,
    pub flags: i64,
    /// Offset of the flags element in the node's listpack.
    pub flags_at: usize,
    /// Field/value pairs.
    pub fields: Vec<(Elem<'a>, Elem<'a>)>,
}

impl Entry<'_> {
    pub fn deleted(&self) -> bool {
        self.flags & FLAG_DELETED != 0
    }
}

/// An element read as an integer (strings holding an integer count too, as Redis's
/// `lpGetIntegerIfValid`).
pub fn elem_int(e: Elem) -> Option<i64> {
    match e {
        Elem::Int(v) => Some(v),
        Elem::Str(s) => string2ll(s),
    }
}

/// True if an element's text equals `b`.
pub fn elem_eq(e: Elem, b: &[u8]) -> bool {
    match e {
        Elem::Str(s) => s == b,
        Elem::Int(v) => {
            string2ll(b) == Some(v) && {
                let mut t = Vec::with_capacity(20);
                cinnabar_util::num::ll2string(v, &mut t);
                t == b
            }
        }
    }
}

/// A cursor over a listpack's elements.
struct Cur<'a> {
    lp: &'a [u8],
    p: usize,
}

impl<'a> Cur<'a> {
    fn next(&mut self) -> Option<Elem<'a>> {
        let (e, n) = listpack::get(self.lp, self.p)?;
        self.p = n;
        Some(e)
    }
    fn int(&mut self) -> Option<i64> {
        self.next().and_then(elem_int)
    }
}

/// The master entry of a node: (live count, deleted count, master fields, offset of the first
/// entry).
pub fn node_header(lp: &[u8]) -> Option<(i64, i64, Vec<Elem<'_>>, usize)> {
    let mut c = Cur {
        lp,
        p: listpack::HDR,
    };
    let count = c.int()?;
    let deleted = c.int()?;
    let nf = c.int()?;
    if nf < 0 {
        return None;
    }
    let mut fields = Vec::with_capacity((nf as usize).min(lp.len()));
    for _ in 0..nf {
        fields.push(c.next()?);
    }
    if c.int()? != 0 {
        return None;
    }
    Some((count, deleted, fields, c.p))
}

/// Every entry of a node (tombstones included), in order. A damaged node yields what could
/// be read (nodes are validated when loaded, so this does not happen).
pub fn node_entries(master: StreamId, lp: &[u8]) -> Vec<Entry<'_>> {
    let mut out = Vec::new();
    let Some((_, _, mfields, start)) = node_header(lp) else {
        return out;
    };
    let mut c = Cur { lp, p: start };
    loop {
        let flags_at = c.p;
        let Some(flags) = c.int() else {
            break;
        };
        let (Some(msd), Some(seqd)) = (c.int(), c.int()) else {
            break;
        };
        let id = StreamId::new(
            master.ms.wrapping_add(msd as u64),
            master.seq.wrapping_add(seqd as u64),
        );
        let mut fields = Vec::new();
        if flags & FLAG_SAMEFIELDS != 0 {
            for f in &mfields {
                let Some(v) = c.next() else {
                    return out;
                };
                fields.push((*f, v));
            }
        } else {
            let Some(nf) = c.int() else {
                break;
            };
            for _ in 0..nf.max(0) {
                let (Some(f), Some(v)) = (c.next(), c.next()) else {
                    return out;
                };
                fields.push((f, v));
            }
        }
        if c.int().is_none() {
            break;
        }
        out.push(Entry {
            id,
            flags,
            flags_at,
            fields,
        });
    }
    out
}

/// Trimming strategy (XADD/XTRIM MAXLEN or MINID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// A stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamValue {
    /// Master ID → node listpack.
    pub nodes: BTreeMap<StreamId, Vec<u8>>,
    /// Live entries.
    pub length: u64,
    pub last_id: StreamId,
    /// The first live entry (0-0 when empty).
    pub first_id: StreamId,
    pub max_deleted_entry_id: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    pub groups: BTreeMap<Vec<u8>, Group>,
}

impl StreamValue {
    pub fn new() -> StreamValue {
        StreamValue::default()
    }

    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Approximate heap bytes.
    pub fn heap_size(&self) -> usize {
        let nodes: usize = self.nodes.values().map(|n| n.capacity() + 48).sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(n, g)| {
                n.len()
                    + 96
                    + g.pel.values().map(|x| 64 + x.consumer.len()).sum::<usize>()
                    + g.consumers
                        .iter()
                        .map(|(n, c)| n.len() + 64 + c.pel.len() * 32)
                        .sum::<usize>()
            })
            .sum();
        nodes + groups + 64
    }

    /// Calls `f` on every live entry with `start <= id <= end`, forward or reversed, until it
    /// returns false.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        f: &mut dyn FnMut(&Entry) -> bool,
    ) {
        if start > end {
            return;
        }
        if !rev {
            let from = self
                .nodes
                .range(..=start)
                .next_back()
                .map(|(k, _)| *k)
                .unwrap_or(start);
            for (k, lp) in self.nodes.range(from..=end) {
                for e in node_entries(*k, lp) {
                    if e.deleted() || e.id < start {
                        continue;
                    }
                    if e.id > end || !f(&e) {
                        return;
                    }
                }
            }
        } else {
            for (k, lp) in self.nodes.range(..=end).rev() {
                for e in node_entries(*k, lp).iter().rev() {
                    if e.deleted() || e.id > end {
                        continue;
                    }
                    if e.id < start || !f(e) {
                        return;
                    }
                }
            }
        }
    }

    /// The first (or last) entry's ID, tombstones included unless `skip_tombstones`; None
    /// when there is none.
    pub fn edge_id(&self, first: bool, skip_tombstones: bool) -> Option<StreamId> {
        let nodes: Box<dyn Iterator<Item = (&StreamId, &Vec<u8>)>> = if first {
            Box::new(self.nodes.iter())
        } else {
            Box::new(self.nodes.iter().rev())
        };
        for (k, lp) in nodes {
            let es = node_entries(*k, lp);
            let mut it: Box<dyn Iterator<Item = &Entry>> = if first {
                Box::new(es.iter())
            } else {
                Box::new(es.iter().rev())
            };
            if let Some(e) = it.find(|e| !skip_tombstones || !e.deleted()) {
                return Some(e.id);
            }
        }
        None
    }

    /// The last live entry's ID.
    pub fn last_valid_id(&self) -> Option<StreamId> {
        self.edge_id(false, true)
    }

    /// True if the live entry `id` exists.
    pub fn contains(&self, id: StreamId) -> bool {
        let mut found = false;
        self.range(id, id, false, &mut |_| {
            found = true;
            false
        });
        found
    }

    /// Appends an entry with ID `id` (the caller checked it is above `last_id`) and the
    /// field/value pairs `fv` (flattened), as Redis's `streamAppendItem` lays it out.
    pub fn append(&mut self, id: StreamId, fv: &[&[u8]], limits: &TypeLimits) {
        let numfields = fv.len() / 2;
        let totelelen: usize = fv.iter().map(|x| x.len()).sum();
        let mut node_max_bytes = limits.stream_node_max_bytes;
        if node_max_bytes == 0 || node_max_bytes > LISTPACK_MAX_SIZE {
            node_max_bytes = LISTPACK_MAX_SIZE;
        }
        let mut use_tail = false;
        if let Some((_, lp)) = self.nodes.iter().next_back() {
            use_tail = true;
            if lp.len() + totelelen >= node_max_bytes {
                use_tail = false;
            } else if limits.stream_node_max_entries > 0 {
                if let Some((count, deleted, _, _)) = node_header(lp) {
                    if count.saturating_add(deleted) >= limits.stream_node_max_entries {
                        use_tail = false;
                    }
                }
            }
        }
        let mut flags = 0i64;
        let master;
        if use_tail {
            let Some((k, lp)) = self.nodes.iter_mut().next_back() else {
                return;
            };
            master = *k;
            let Some((count, _, mfields, _)) = node_header(lp) else {
                return;
            };
            let same = mfields.len() == numfields
                && mfields
                    .iter()
                    .enumerate()
                    .all(|(i, f)| elem_eq(*f, fv[i * 2]));
            if same {
                flags |= FLAG_SAMEFIELDS;
            }
            listpack::replace_int(lp, listpack::HDR, count + 1);
            push_entry(lp, master, id, flags, fv);
        } else {
            master = id;
            let mut lp = listpack::new_listpack();
            listpack::append_int(&mut lp, 1);
            listpack::append_int(&mut lp, 0);
            listpack::append_int(&mut lp, numfields as i64);
            for i in 0..numfields {
                listpack::append_str(&mut lp, fv[i * 2]);
            }
            listpack::append_int(&mut lp, 0);
            flags |= FLAG_SAMEFIELDS;
            push_entry(&mut lp, master, id, flags, fv);
            self.nodes.insert(master, lp);
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
    }

    /// Marks the live entry `id` deleted (removing its node when it was the node's last live
    /// entry). False if there is no such entry. The caller updates first/max-deleted IDs.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((k, lp)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let k = *k;
        let at = node_entries(k, lp)
            .iter()
            .find(|e| e.id == id && !e.deleted())
            .map(|e| (e.flags_at, e.flags));
        let Some((flags_at, flags)) = at else {
            return false;
        };
        listpack::replace_int(lp, flags_at, flags | FLAG_DELETED);
        let (count, deleted) = match node_header(lp) {
            Some((c, d, _, _)) => (c, d),
            None => (1, 0),
        };
        if count <= 1 {
            self.nodes.remove(&k);
        } else {
            set_counts(lp, count - 1, deleted + 1);
        }
        self.length = self.length.saturating_sub(1);
        true
    }

    /// Redis's `streamTrim`: removes entries from the head; `approx` only removes whole
    /// nodes; `limit` (0 = none) caps the entries removed. Returns how many were removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: i64) -> i64 {
        let mut deleted: i64 = 0;
        let keys: Vec<StreamId> = self.nodes.keys().copied().collect();
        for k in keys {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let Some(lp) = self.nodes.get_mut(&k) else {
                continue;
            };
            let (entries, marked) = match node_header(lp) {
                Some((c, d, _, _)) => (c, d),
                None => break,
            };
            if limit != 0 && deleted.saturating_add(entries) > limit {
                break;
            }
            let remove_node = match how {
                Trim::MaxLen(max) => self.length.saturating_sub(entries.max(0) as u64) >= max,
                Trim::MinId(min) => {
                    let last = node_entries(k, lp).last().map(|e| e.id).unwrap_or(k);
                    last < min
                }
            };
            if remove_node {
                self.nodes.remove(&k);
                self.length = self.length.saturating_sub(entries.max(0) as u64);
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            let marks: Vec<(usize, i64, StreamId)> = node_entries(k, lp)
                .iter()
                .map(|e| (e.flags_at, e.flags, e.id))
                .collect();
            let mut from_lp = 0i64;
            // Offsets shift as flags are rewritten (their size never changes: 0..3 are
            // one-byte integers), so they stay valid.
            for (at, flags, id) in marks {
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => id >= min,
                };
                if stop {
                    break;
                }
                if flags & FLAG_DELETED == 0 {
                    listpack::replace_int(lp, at, flags | FLAG_DELETED);
                    from_lp += 1;
                    self.length = self.length.saturating_sub(1);
                }
            }
            deleted += from_lp;
            set_counts(lp, entries - from_lp, marked + from_lp);
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.edge_id(true, true).unwrap_or(StreamId::MAX);
        }
        deleted
    }

    /// True if the range may hold a tombstone (Redis's `streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: Option<StreamId>, end: Option<StreamId>) -> bool {
        if self.length == 0 || self.max_deleted_entry_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_entry_id {
            return false;
        }
        let s = start.unwrap_or(StreamId::MIN);
        let e = end.unwrap_or(StreamId::MAX);
        s <= self.max_deleted_entry_id && self.max_deleted_entry_id <= e
    }

    /// Redis's `streamEstimateDistanceFromFirstEverEntry`; -1 when unknown.
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        } else if id > self.last_id {
            return -1;
        }
        if self.max_deleted_entry_id.is_zero() || self.max_deleted_entry_id < self.first_id {
            if id < self.first_id {
                return (self.entries_added - self.length) as i64;
            } else if id == self.first_id {
                return (self.entries_added - self.length + 1) as i64;
            }
        }
        -1
    }

    /// A group's lag, None when it cannot be known.
    pub fn group_lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != -1 && !self.range_has_tombstones(Some(g.last_id), None) {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let er = self.estimate_distance(g.last_id);
        if er != -1 {
            Some(self.entries_added as i64 - er)
        } else {
            None
        }
    }
}

fn push_entry(lp: &mut Vec<u8>, master: StreamId, id: StreamId, flags: i64, fv: &[&[u8]]) {
    let numfields = fv.len() / 2;
    listpack::append_int(lp, flags);
    listpack::append_int(lp, id.ms.wrapping_sub(master.ms) as i64);
    listpack::append_int(lp, id.seq.wrapping_sub(master.seq) as i64);
    let same = flags & FLAG_SAMEFIELDS != 0;
    if !same {
        listpack::append_int(lp, numfields as i64);
    }
    for pair in fv.chunks_exact(2) {
        if !same {
            listpack::append_str(lp, pair[0]);
        }
        listpack::append_str(lp, pair[1]);
    }
    let mut lp_count = numfields as i64 + 3;
    if !same {
        lp_count += numfields as i64 + 1;
    }
    listpack::append_int(lp, lp_count);
}

/// Rewrites a node's live/deleted counters.
fn set_counts(lp: &mut Vec<u8>, count: i64, deleted: i64) {
    listpack::replace_int(lp, listpack::HDR, count);
    if let Some((_, next)) = listpack::get(lp, listpack::HDR) {
        listpack::replace_int(lp, next, deleted);
    }
}

/// Checks a node listpack as Redis's deep stream check does: valid listpack, master entry,
/// then exactly count+deleted well-formed entries and nothing after. Returns the entries'
/// IDs (for the caller's ordering checks).
pub fn validate_node(master: StreamId, lp: &[u8]) -> Option<Vec<StreamId>> {
    listpack::parse(lp)?;
    let mut c = Cur {
        lp,
        p: listpack::HDR,
    };
    let count = c.int()?;
    let deleted = c.int()?;
    let mfields = c.int()?;
    for _ in 0..mfields.max(0) {
        c.next()?;
    }
    if c.int()? != 0 {
        return None;
    }
    let mut total = count.checked_add(deleted)?;
    let mut ids = Vec::new();
    let mut live = 0i64;
    while total > 0 {
        total -= 1;
        let flags = c.int()?;
        let msd = c.int()?;
        let seqd = c.int()?;
        let mut fields = mfields;
        let mut extra = 3i64;
        if flags & FLAG_SAMEFIELDS == 0 {
            fields = c.int()?;
            for _ in 0..fields.max(0) {
                c.next()?;
            }
            extra = extra.checked_add(fields)?.checked_add(1)?;
        }
        for _ in 0..fields.max(0) {
            c.next()?;
        }
        let lp_count = c.int()?;
        if Some(lp_count) != fields.checked_add(extra) {
            return None;
        }
        if flags & FLAG_DELETED == 0 {
            live += 1;
        }
        ids.push(StreamId::new(
            master.ms.wrapping_add(msd as u64),
            master.seq.wrapping_add(seqd as u64),
        ));
    }
    if listpack::get(lp, c.p).is_some() {
        return None;
    }
    if live != count {
        return None;
    }
    Some(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> TypeLimits {
        TypeLimits::default()
    }

    #[test]
    fn append_range_delete_trim() {
        let mut s = StreamValue::new();
        let l = TypeLimits {
            stream_node_max_entries: 3,
            ..limits()
        };
        for i in 1..=10u64 {
            let v = i.to_string();
            let fv: Vec<&[u8]> = if i % 4 == 0 {
                vec![b"other", v.as_bytes()]
            } else {
                vec![b"f", v.as_bytes(), b"g", b"x"]
            };
            s.append(StreamId::new(i, 0), &fv, &l);
        }
        assert_eq!(s.len(), 10);
        assert_eq!(s.nodes.len(), 4);
        let mut got = Vec::new();
        s.range(StreamId::MIN, StreamId::MAX, false, &mut |e| {
            got.push(e.id.ms);
            true
        });
        assert_eq!(got, (1..=10).collect::<Vec<_>>());
        assert!(s.delete(StreamId::new(5, 0)));
        assert!(!s.delete(StreamId::new(5, 0)));
        assert!(!s.contains(StreamId::new(5, 0)));
        assert_eq!(s.len(), 9);
        let mut rev = Vec::new();
        s.range(StreamId::new(2, 0), StreamId::new(8, 0), true, &mut |e| {
            rev.push(e.id.ms);
            true
        });
        assert_eq!(rev, vec![8, 7, 6, 4, 3, 2]);
        assert_eq!(s.trim(Trim::MaxLen(5), false, 0), 4);
        assert_eq!(s.len(), 5);
        assert_eq!(s.first_id, StreamId::new(6, 0));
        for (k, lp) in &s.nodes {
            assert!(validate_node(*k, lp).is_some());
        }
        assert_eq!(s.trim(Trim::MinId(StreamId::new(9, 0)), false, 0), 3);
        assert_eq!(s.last_valid_id(), Some(StreamId::new(10, 0)));
    }
}
