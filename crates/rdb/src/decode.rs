//! The loader: RDB files ([`Loader`]) and DUMP payloads ([`restore_payload`]). Strict: this is
//! Redis's `sanitize-dump-payload yes`, always on.

use crate::crc64::{crc64, Crc64};
use crate::listpack::{self, Elem};
use crate::{legacy, lzf, opcodes, types, RdbError, RDB_VERSION};
use cinnabar_keyspace::types::hash::HashValue;
use cinnabar_keyspace::types::list::{End, ListValue};
use cinnabar_keyspace::types::set::{Member, SetValue};
use cinnabar_keyspace::types::stream::{self, Consumer, Group, Nack, StreamId, StreamValue};
use cinnabar_keyspace::types::zset::ZSetValue;
use cinnabar_keyspace::types::TypeLimits;
use cinnabar_keyspace::value::Value;
use std::io::{BufReader, Read};

type Result<T> = std::result::Result<T, RdbError>;

/// Pre-allocation never exceeds this many elements, whatever a length field says: the real
/// size is only trusted as data arrives.
const PREALLOC_CAP: u64 = 4096;
/// Strings are read in chunks of at most this many bytes, so a huge length field costs no
/// more memory than the data actually present...
const READ_CHUNK: usize = 1 << 20;
/// ...and the first chunk is this small (each next one doubles), so a length field that lies
/// costs at most this much (found by the fuzz targets: 1 MB zeroed for a 19-byte file).
const FIRST_CHUNK: usize = 64 << 10;
/// An LZF stream cannot expand more than this (a 3-byte back reference yields 264 bytes).
const LZF_MAX_RATIO: u64 = 90;

fn cap(n: u64) -> usize {
    n.min(PREALLOC_CAP) as usize
}

/// One thing read from an RDB file.
#[derive(Debug)]
pub enum Item {
    /// An AUX field (strings; integer-encoded values come back as their decimal text).
    Aux { key: Vec<u8>, value: Vec<u8> },
    /// SELECTDB: the following keys belong to this database.
    SelectDb(u64),
    /// RESIZEDB: size hints for the current database.
    ResizeDb { db_size: u64, expires_size: u64 },
    /// A key with its value and the attributes set by the opcodes before it.
    Key {
        key: Vec<u8>,
        value: Value,
        expire_ms: Option<i64>,
        idle: Option<u64>,
        freq: Option<u8>,
    },
    /// A function library's code (FUNCTION2; the pre-GA FUNCTION form is converted to it).
    Function(Vec<u8>),
    /// Module AUX data, skipped (this server has no modules).
    ModuleAux,
    /// A key whose collection is empty: skipped (Redis logs and skips it too).
    EmptyKey(Vec<u8>),
    /// The EOF opcode (the checksum after it has been verified).
    Eof,
}

/// A reader that keeps the running CRC-64 of what it consumed.
struct Input<R> {
    r: R,
    crc: Crc64,
    /// Bytes consumed so far.
    consumed: u64,
}

impl<R: Read> Input<R> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<()> {
        self.r.read_exact(buf)?;
        self.crc.update(buf);
        self.consumed += buf.len() as u64;
        Ok(())
    }

    fn u8(&mut self) -> Result<u8> {
        let mut b = [0u8; 1];
        self.fill(&mut b)?;
        Ok(b[0])
    }

    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        self.fill(&mut b)?;
        Ok(b)
    }

    /// `n` bytes, allocated as they arrive.
    fn bytes(&mut self, n: u64) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity((n as usize).min(FIRST_CHUNK));
        let mut left = n;
        let mut chunk = FIRST_CHUNK;
        while left > 0 {
            let step = (left as usize).min(chunk);
            let at = out.len();
            out.resize(at + step, 0);
            self.fill(&mut out[at..])?;
            left -= step as u64;
            chunk = (chunk * 2).min(READ_CHUNK);
        }
        Ok(out)
    }

    /// A length field: (value, true) for the special string encodings (11xxxxxx).
    fn len_enc(&mut self) -> Result<(u64, bool)> {
        let b = self.u8()?;
        match b >> 6 {
            0 => Ok((u64::from(b & 0x3f), false)),
            1 => {
                let b1 = self.u8()?;
                Ok(((u64::from(b & 0x3f) << 8) | u64::from(b1), false))
            }
            2 => match b {
                0x80 => Ok((u64::from(u32::from_be_bytes(self.arr()?)), false)),
                0x81 => Ok((u64::from_be_bytes(self.arr()?), false)),
                _ => Err(RdbError::BadLength(b)),
            },
            _ => Ok((u64::from(b & 0x3f), true)),
        }
    }

    /// A plain length (Redis reads a special encoding here as its 6-bit value).
    fn len(&mut self) -> Result<u64> {
        Ok(self.len_enc()?.0)
    }

    /// A string in any of its encodings (int-encoded ones as decimal text).
    fn string(&mut self) -> Result<Vec<u8>> {
        let (n, enc) = self.len_enc()?;
        if !enc {
            return self.bytes(n);
        }
        let mut text = Vec::with_capacity(12);
        match n {
            0 => {
                let v = i64::from(self.u8()? as i8);
                cinnabar_util::num::ll2string(v, &mut text);
            }
            1 => {
                let v = i64::from(i16::from_le_bytes(self.arr()?));
                cinnabar_util::num::ll2string(v, &mut text);
            }
            2 => {
                let v = i64::from(i32::from_le_bytes(self.arr()?));
                cinnabar_util::num::ll2string(v, &mut text);
            }
            3 => {
                let clen = self.len()?;
                let len = self.len()?;
                if len == 0 || clen == 0 || len > clen.saturating_mul(LZF_MAX_RATIO) {
                    return Err(RdbError::Lzf);
                }
                let c = self.bytes(clen)?;
                let len = usize::try_from(len).map_err(|_| RdbError::Lzf)?;
                return lzf::decompress(&c, len).ok_or(RdbError::Lzf);
            }
            other => return Err(RdbError::BadStringEncoding(other as u8)),
        }
        Ok(text)
    }

    fn binary_double(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.arr()?))
    }

    /// The text double of the old ZSET type: a length byte (253 nan, 254 inf, 255 -inf).
    fn text_double(&mut self) -> Result<f64> {
        let n = self.u8()?;
        match n {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            _ => {
                let b = self.bytes(u64::from(n))?;
                parse_score_text(&b).ok_or(RdbError::Corrupt("Invalid double value"))
            }
        }
    }
}

/// A score stored as text (C `strtod` on the longest valid prefix, as Redis).
fn parse_score_text(b: &[u8]) -> Option<f64> {
    cinnabar_util::num::strtod(b).map(|(v, _, _)| v)
}

fn elem_text(e: Elem) -> Vec<u8> {
    e.to_vec()
}

fn elem_score(e: Elem) -> Option<f64> {
    match e {
        Elem::Int(i) => Some(i as f64),
        Elem::Str(s) => parse_score_text(s),
    }
}

/// True if `keys` holds the same string twice.
fn has_dup(mut keys: Vec<&[u8]>) -> bool {
    keys.sort_unstable();
    keys.windows(2).any(|w| w[0] == w[1])
}

/// Sorts (member, score) pairs by score then member and builds the set; errors on NaN or
/// duplicate members.
fn zset_from_pairs(
    mut items: Vec<(Vec<u8>, f64)>,
    limits: &TypeLimits,
    dup_msg: &'static str,
) -> Result<ZSetValue> {
    if items.iter().any(|(_, s)| s.is_nan()) {
        return Err(RdbError::Corrupt("Zset with NAN score detected"));
    }
    if has_dup(items.iter().map(|(m, _)| m.as_slice()).collect()) {
        return Err(RdbError::Corrupt(dup_msg));
    }
    items.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    for it in &mut items {
        if it.1 == 0.0 {
            it.1 = 0.0; // -0 as 0, like a listpack does
        }
    }
    Ok(ZSetValue::from_sorted(&items, limits))
}

/// A hash from (field, value) pairs of a compact blob: listpack form unless there are more
/// than `hash-max-listpack-entries` pairs (value lengths are not checked, as Redis).
fn hash_from_pairs(
    elems: &[Elem],
    limits: &TypeLimits,
    msg: &'static str,
    dup_msg: &'static str,
) -> Result<Value> {
    if !elems.len().is_multiple_of(2) {
        return Err(RdbError::Corrupt(msg));
    }
    if elems.is_empty() {
        return Err(RdbError::EmptyKey);
    }
    let relaxed = TypeLimits {
        hash_max_listpack_value: usize::MAX,
        ..*limits
    };
    let mut h = HashValue::new();
    if elems.len() / 2 > limits.hash_max_listpack_entries {
        h.convert_to_table();
    }
    for pair in elems.chunks_exact(2) {
        let f = elem_text(pair[0]);
        let v = elem_text(pair[1]);
        if !h.set(&f, &v, &relaxed) {
            return Err(RdbError::Corrupt(dup_msg));
        }
    }
    Ok(Value::Hash(Box::new(h)))
}

fn zset_from_elems(elems: &[Elem], limits: &TypeLimits, msg: &'static str) -> Result<Value> {
    if !elems.len().is_multiple_of(2) {
        return Err(RdbError::Corrupt(msg));
    }
    if elems.is_empty() {
        return Err(RdbError::EmptyKey);
    }
    let mut items = Vec::with_capacity(elems.len() / 2);
    for pair in elems.chunks_exact(2) {
        let score = elem_score(pair[1]).ok_or(RdbError::Corrupt(msg))?;
        if score.is_nan() {
            return Err(RdbError::Corrupt(msg));
        }
        items.push((elem_text(pair[0]), score));
    }
    let relaxed = TypeLimits {
        zset_max_listpack_value: usize::MAX,
        ..*limits
    };
    Ok(Value::ZSet(Box::new(zset_from_pairs(
        items, &relaxed, msg,
    )?)))
}

fn is_object_type(t: u8) -> bool {
    matches!(t, 0..=7 | 9..=19)
}

/// Reads one value of RDB type `t`, building it in the encoding Redis's loader would pick
/// under `limits`.
fn load_object<R: Read>(inp: &mut Input<R>, t: u8, limits: &TypeLimits) -> Result<Value> {
    match t {
        types::STRING => Ok(Value::from_bytes(&inp.string()?)),
        types::LIST => {
            let n = inp.len()?;
            if n == 0 {
                return Err(RdbError::EmptyKey);
            }
            let mut l = ListValue::new();
            for _ in 0..n {
                l.push(End::Tail, &inp.string()?);
            }
            Ok(Value::List(Box::new(l)))
        }
        types::SET => {
            let n = inp.len()?;
            if n == 0 {
                return Err(RdbError::EmptyKey);
            }
            let max = limits.set_max_intset_entries.min(1 << 30);
            let mut s = if n > max as u64 {
                SetValue::new_table(cap(n))
            } else {
                SetValue::new()
            };
            for _ in 0..n {
                let m = inp.string()?;
                if !s.add(&m, max) {
                    return Err(RdbError::Corrupt("Duplicate set members detected"));
                }
            }
            Ok(Value::Set(Box::new(s)))
        }
        types::ZSET | types::ZSET_2 => {
            let n = inp.len()?;
            if n == 0 {
                return Err(RdbError::EmptyKey);
            }
            let mut items = Vec::with_capacity(cap(n));
            for _ in 0..n {
                let m = inp.string()?;
                let s = if t == types::ZSET_2 {
                    inp.binary_double()?
                } else {
                    inp.text_double()?
                };
                if s.is_nan() {
                    return Err(RdbError::Corrupt("Zset with NAN score detected"));
                }
                items.push((m, s));
            }
            let z = zset_from_pairs(items, limits, "Duplicate zset fields detected")?;
            Ok(Value::ZSet(Box::new(z)))
        }
        types::HASH => {
            let n = inp.len()?;
            if n == 0 {
                return Err(RdbError::EmptyKey);
            }
            let mut h = HashValue::new();
            if n > limits.hash_max_listpack_entries as u64 {
                h.convert_to_table();
            }
            for _ in 0..n {
                let f = inp.string()?;
                let v = inp.string()?;
                if !h.set(&f, &v, limits) {
                    return Err(RdbError::Corrupt("Duplicate hash fields detected"));
                }
            }
            Ok(Value::Hash(Box::new(h)))
        }
        types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => {
            let n = inp.len()?;
            if n == 0 {
                return Err(RdbError::EmptyKey);
            }
            let mut l = ListValue::new();
            for _ in 0..n {
                let container = if t == types::LIST_QUICKLIST_2 {
                    inp.len()?
                } else {
                    2
                };
                if container != 1 && container != 2 {
                    return Err(RdbError::Corrupt("Quicklist integrity check failed."));
                }
                let data = inp.string()?;
                if data.is_empty() {
                    return Err(RdbError::Corrupt("Quicklist integrity check failed."));
                }
                if container == 1 {
                    l.push(End::Tail, &data);
                    continue;
                }
                let elems = if t == types::LIST_QUICKLIST_2 {
                    listpack::parse(&data)
                        .ok_or(RdbError::Corrupt("Listpack integrity check failed."))?
                } else {
                    legacy::ziplist(&data)
                        .ok_or(RdbError::Corrupt("Ziplist integrity check failed."))?
                };
                for e in elems {
                    match e {
                        Elem::Str(s) => l.push(End::Tail, s),
                        Elem::Int(_) => l.push(End::Tail, &e.to_vec()),
                    }
                }
            }
            if l.is_empty() {
                return Err(RdbError::EmptyKey);
            }
            Ok(Value::List(Box::new(l)))
        }
        types::HASH_ZIPMAP => {
            let blob = inp.string()?;
            let pairs =
                legacy::zipmap(&blob).ok_or(RdbError::Corrupt("Zipmap integrity check failed."))?;
            let mut h = HashValue::new();
            for (f, v) in pairs {
                if !h.set(f, v, limits) {
                    return Err(RdbError::Corrupt(
                        "Hash zipmap with dup elements, or big length",
                    ));
                }
            }
            Ok(Value::Hash(Box::new(h)))
        }
        types::LIST_ZIPLIST => {
            let blob = inp.string()?;
            let elems = legacy::ziplist(&blob)
                .ok_or(RdbError::Corrupt("List ziplist integrity check failed."))?;
            if elems.is_empty() {
                return Err(RdbError::EmptyKey);
            }
            let mut l = ListValue::new();
            for e in elems {
                l.push(End::Tail, &e.to_vec());
            }
            Ok(Value::List(Box::new(l)))
        }
        types::SET_INTSET => {
            let blob = inp.string()?;
            let (_, vals) =
                legacy::intset(&blob).ok_or(RdbError::Corrupt("Intset integrity check failed."))?;
            let max = limits.set_max_intset_entries;
            let mut s = if vals.len() > max {
                SetValue::new_table(vals.len())
            } else {
                SetValue::new()
            };
            for v in vals {
                s.add_member(Member::Int(v), usize::MAX);
            }
            Ok(Value::Set(Box::new(s)))
        }
        types::ZSET_ZIPLIST => {
            let blob = inp.string()?;
            let msg = "Zset ziplist integrity check failed.";
            let elems = legacy::ziplist(&blob).ok_or(RdbError::Corrupt(msg))?;
            zset_from_elems(&elems, limits, msg)
        }
        types::ZSET_LISTPACK => {
            let blob = inp.string()?;
            let msg = "Zset listpack integrity check failed.";
            let elems = listpack::parse(&blob).ok_or(RdbError::Corrupt(msg))?;
            zset_from_elems(&elems, limits, msg)
        }
        types::HASH_ZIPLIST => {
            let blob = inp.string()?;
            let msg = "Hash ziplist integrity check failed.";
            let elems = legacy::ziplist(&blob).ok_or(RdbError::Corrupt(msg))?;
            hash_from_pairs(&elems, limits, msg, "Hash ziplist with dup elements.")
        }
        types::HASH_LISTPACK => {
            let blob = inp.string()?;
            let msg = "Hash listpack integrity check failed.";
            let elems = listpack::parse(&blob).ok_or(RdbError::Corrupt(msg))?;
            hash_from_pairs(&elems, limits, msg, "Hash listpack with dup elements.")
        }
        types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 => {
            load_stream(inp, t == types::STREAM_LISTPACKS_2)
        }
        types::MODULE | types::MODULE_2 => Err(RdbError::Unsupported("Module type not supported")),
        other => Err(RdbError::BadType(other)),
    }
}

fn read_id<R: Read>(inp: &mut Input<R>) -> Result<StreamId> {
    let ms = inp.len()?;
    let seq = inp.len()?;
    Ok(StreamId::new(ms, seq))
}

/// A stream (RDB types 15 and 19), checked as Redis's deep sanitization does (listpack
/// integrity, entry structure and counts, IDs in order, PEL/consumer consistency,
/// duplicates), and a little more: nothing loaded here can make a later command misbehave.
fn load_stream<R: Read>(inp: &mut Input<R>, v2: bool) -> Result<Value> {
    const LP_BAD: &str = "Stream listpack integrity check failed.";
    let mut s = StreamValue::new();
    let nodes = inp.len()?;
    let mut prev: Option<StreamId> = None;
    let mut live_total: u64 = 0;
    for _ in 0..nodes {
        let key = inp.string()?;
        let key: [u8; 16] = key.as_slice().try_into().map_err(|_| {
            RdbError::Corrupt("Stream node key entry is not the size of a stream ID")
        })?;
        let master = StreamId::from_be_bytes(key);
        let lp = inp.string()?;
        let ids = stream::validate_node(master, &lp).ok_or(RdbError::Corrupt(LP_BAD))?;
        if ids.is_empty() || ids[0] != master {
            return Err(RdbError::Corrupt(LP_BAD));
        }
        for id in ids {
            if prev.is_some_and(|p| p >= id) {
                return Err(RdbError::Corrupt(LP_BAD));
            }
            prev = Some(id);
        }
        let live = stream::node_header(&lp)
            .map(|(c, _, _, _)| c)
            .ok_or(RdbError::Corrupt(LP_BAD))?;
        live_total = live_total.saturating_add(live.max(0) as u64);
        if s.nodes.insert(master, lp).is_some() {
            return Err(RdbError::Corrupt("Listpack re-added with existing key"));
        }
    }
    s.length = inp.len()?;
    s.last_id = read_id(inp)?;
    if v2 {
        s.first_id = read_id(inp)?;
        s.max_deleted_entry_id = read_id(inp)?;
        s.entries_added = inp.len()?;
    } else {
        s.entries_added = s.length;
        s.first_id = s.edge_id(true, true).unwrap_or(StreamId::MIN);
    }
    if s.length != live_total {
        return Err(RdbError::Corrupt(
            "Stream length inconsistent with rax entries",
        ));
    }
    if prev.is_some_and(|p| p > s.last_id) {
        return Err(RdbError::Corrupt("Stream last ID below its entries"));
    }
    let groups = inp.len()?;
    for _ in 0..groups {
        let name = inp.string()?;
        let last = read_id(inp)?;
        let entries_read = if v2 {
            inp.len()? as i64
        } else {
            s.estimate_distance(last)
        };
        if s.groups.contains_key(&name) {
            return Err(RdbError::Corrupt("Duplicated consumer group name"));
        }
        let mut g = Group::new(last, entries_read);
        let pel = inp.len()?;
        for _ in 0..pel {
            let id = StreamId::from_be_bytes(inp.arr()?);
            let delivery_time = i64::from_le_bytes(inp.arr()?);
            let delivery_count = inp.len()?;
            let n = Nack {
                delivery_time,
                delivery_count,
                consumer: Vec::new(),
            };
            if g.pel.insert(id, n).is_some() {
                return Err(RdbError::Corrupt(
                    "Duplicated global PEL entry loading stream consumer group",
                ));
            }
        }
        let consumers = inp.len()?;
        for _ in 0..consumers {
            let cname = inp.string()?;
            if g.consumers.contains_key(&cname) {
                return Err(RdbError::Corrupt("Duplicate stream consumer detected."));
            }
            let seen_time = i64::from_le_bytes(inp.arr()?);
            let mut c = Consumer {
                seen_time,
                pel: Default::default(),
            };
            let n = inp.len()?;
            for _ in 0..n {
                let id = StreamId::from_be_bytes(inp.arr()?);
                let Some(nack) = g.pel.get_mut(&id) else {
                    return Err(RdbError::Corrupt(
                        "Consumer entry not found in group global PEL",
                    ));
                };
                if !nack.consumer.is_empty() || !c.pel.insert(id) {
                    return Err(RdbError::Corrupt(
                        "Duplicated consumer PEL entry  loading a stream consumer group",
                    ));
                }
                nack.consumer = cname.clone();
            }
            g.consumers.insert(cname, c);
        }
        if g.pel
            .values()
            .any(|n| !g.consumers.contains_key(&n.consumer))
        {
            return Err(RdbError::Corrupt("Stream CG PEL entry without consumer"));
        }
        s.groups.insert(name, g);
    }
    Ok(Value::Stream(Box::new(s)))
}

/// Skips a module value serialized with the generic opcodes (what `redis-check-rdb` does).
fn skip_module_value<R: Read>(inp: &mut Input<R>) -> Result<()> {
    loop {
        match inp.len()? {
            0 => return Ok(()),
            1 | 2 => {
                inp.len()?;
            }
            3 => {
                inp.arr::<4>()?;
            }
            4 => {
                inp.arr::<8>()?;
            }
            5 => {
                inp.string()?;
            }
            _ => return Err(RdbError::Corrupt("Unknown module value opcode")),
        }
    }
}

/// DUMP payload → value. `Err(Footer)` when the payload is too short, its RDB version is
/// above 10 or its CRC-64 is wrong (checked whatever its value, as Redis's
/// `verifyDumpPayload`); any other damage gives another variant. Empty collections are
/// refused (`EmptyKey`).
pub fn restore_payload(p: &[u8], limits: &TypeLimits) -> Result<Value> {
    restore_payload_checked(p, limits, true)
}

/// [`restore_payload`], with the CRC-64 check optional (DEBUG SET-SKIP-CHECKSUM-VALIDATION 1:
/// the version is still checked and the content still fully validated).
pub fn restore_payload_checked(p: &[u8], limits: &TypeLimits, verify_crc: bool) -> Result<Value> {
    if p.len() < 10 {
        return Err(RdbError::Footer);
    }
    let body_end = p.len() - 10;
    let ver = u16::from_le_bytes([p[body_end], p[body_end + 1]]);
    if ver > RDB_VERSION {
        return Err(RdbError::Footer);
    }
    let mut c = [0u8; 8];
    c.copy_from_slice(&p[p.len() - 8..]);
    if verify_crc && crc64(&p[..p.len() - 8]) != u64::from_le_bytes(c) {
        return Err(RdbError::Footer);
    }
    let mut inp = Input {
        r: &p[..body_end],
        crc: Crc64::new(),
        consumed: 0,
    };
    let t = inp.u8()?;
    if !is_object_type(t) {
        return Err(RdbError::BadType(t));
    }
    load_object(&mut inp, t, limits)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Body,
    Done,
}

/// Reads an RDB file item by item.
pub struct Loader<R> {
    inp: Input<BufReader<R>>,
    state: State,
    version: u32,
    expire_ms: Option<i64>,
    idle: Option<u64>,
    freq: Option<u8>,
    empty_keys_skipped: u64,
}

impl<R: Read> Loader<R> {
    /// A loader over `r` (buffered internally). The header is read by the first `next()`.
    pub fn new(r: R) -> Self {
        Loader {
            inp: Input {
                r: BufReader::with_capacity(64 * 1024, r),
                crc: Crc64::new(),
                consumed: 0,
            },
            state: State::Header,
            version: 0,
            expire_ms: None,
            idle: None,
            freq: None,
            empty_keys_skipped: 0,
        }
    }

    /// The file's RDB version (0 before the header was read).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Bytes of the RDB consumed so far (after the Eof item: the RDB's whole length, so what
    /// follows it, such as an AOF tail after an RDB preamble, starts there). The reader itself
    /// may have been read further (the loader buffers).
    pub fn consumed(&self) -> u64 {
        self.inp.consumed
    }

    /// Empty collections met and skipped so far (Redis skips them too, with a warning).
    pub fn empty_keys_skipped(&self) -> u64 {
        self.empty_keys_skipped
    }

    fn header(&mut self) -> Result<()> {
        let h: [u8; 9] = self.inp.arr()?;
        if &h[..5] != b"REDIS" {
            return Err(RdbError::Signature);
        }
        // atoi: leading digits.
        let mut v: u32 = 0;
        for &c in h[5..].iter().take_while(|c| c.is_ascii_digit()) {
            v = v * 10 + u32::from(c - b'0');
        }
        if !(1..=u32::from(RDB_VERSION)).contains(&v) {
            return Err(RdbError::WrongVersion(v));
        }
        self.version = v;
        Ok(())
    }

    /// The next item; `Ok(None)` after `Eof` (and after an error). An empty collection comes
    /// back as [`Item::EmptyKey`] (and is counted in [`Loader::empty_keys_skipped`]).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self, limits: &TypeLimits) -> Result<Option<Item>> {
        let r = self.step(limits);
        if r.is_err() {
            self.state = State::Done;
        }
        r
    }

    fn step(&mut self, limits: &TypeLimits) -> Result<Option<Item>> {
        match self.state {
            State::Done => return Ok(None),
            State::Header => {
                self.header()?;
                self.state = State::Body;
            }
            State::Body => {}
        }
        loop {
            let t = self.inp.u8()?;
            match t {
                opcodes::EXPIRETIME => {
                    let s = i32::from_le_bytes(self.inp.arr()?);
                    self.expire_ms = Some(i64::from(s) * 1000);
                }
                opcodes::EXPIRETIME_MS => {
                    self.expire_ms = Some(i64::from_le_bytes(self.inp.arr()?));
                }
                opcodes::FREQ => self.freq = Some(self.inp.u8()?),
                opcodes::IDLE => self.idle = Some(self.inp.len()?),
                opcodes::EOF => {
                    if self.version >= 5 {
                        let expected = self.inp.crc.finish();
                        let mut b = [0u8; 8];
                        self.inp.r.read_exact(&mut b)?;
                        self.inp.consumed += 8;
                        let found = u64::from_le_bytes(b);
                        if found != 0 && found != expected {
                            return Err(RdbError::Checksum { expected, found });
                        }
                    }
                    self.state = State::Done;
                    return Ok(Some(Item::Eof));
                }
                opcodes::SELECTDB => return Ok(Some(Item::SelectDb(self.inp.len()?))),
                opcodes::RESIZEDB => {
                    let db_size = self.inp.len()?;
                    let expires_size = self.inp.len()?;
                    return Ok(Some(Item::ResizeDb {
                        db_size,
                        expires_size,
                    }));
                }
                opcodes::AUX => {
                    let key = self.inp.string()?;
                    let value = self.inp.string()?;
                    return Ok(Some(Item::Aux { key, value }));
                }
                opcodes::MODULE_AUX => {
                    let _module_id = self.inp.len()?;
                    let when_opcode = self.inp.len()?;
                    let _when = self.inp.len()?;
                    if when_opcode != 2 {
                        return Err(RdbError::Corrupt("bad when_opcode"));
                    }
                    skip_module_value(&mut self.inp)?;
                    return Ok(Some(Item::ModuleAux));
                }
                opcodes::FUNCTION => {
                    // 7.0 release candidates: name, engine, optional description, code.
                    let name = self.inp.string()?;
                    let engine = self.inp.string()?;
                    if self.inp.len()? != 0 {
                        self.inp.string()?;
                    }
                    let blob = self.inp.string()?;
                    let mut code = Vec::with_capacity(blob.len() + name.len() + 16);
                    code.extend_from_slice(b"#!");
                    code.extend_from_slice(&engine);
                    code.extend_from_slice(b" name=");
                    code.extend_from_slice(&name);
                    code.push(b'\n');
                    code.extend_from_slice(&blob);
                    return Ok(Some(Item::Function(code)));
                }
                opcodes::FUNCTION2 => return Ok(Some(Item::Function(self.inp.string()?))),
                t if is_object_type(t) => {
                    let key = self.inp.string()?;
                    let value = load_object(&mut self.inp, t, limits);
                    let expire_ms = self.expire_ms.take();
                    let idle = self.idle.take();
                    let freq = self.freq.take();
                    match value {
                        Ok(value) => {
                            return Ok(Some(Item::Key {
                                key,
                                value,
                                expire_ms,
                                idle,
                                freq,
                            }))
                        }
                        Err(RdbError::EmptyKey) => {
                            self.empty_keys_skipped += 1;
                            return Ok(Some(Item::EmptyKey(key)));
                        }
                        Err(e) => return Err(e),
                    }
                }
                other => return Err(RdbError::BadType(other)),
            }
        }
    }
}

/// Loads a whole file held in memory: every item up to and including `Eof`.
pub fn load_all(bytes: &[u8], limits: &TypeLimits) -> Result<Vec<Item>> {
    let mut l = Loader::new(bytes);
    let mut out = Vec::new();
    while let Some(it) = l.next(limits)? {
        out.push(it);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod chunk_tests {
    use super::*;

    /// A reader that remembers the largest buffer it was asked to fill.
    struct Probe<'a> {
        data: &'a [u8],
        largest: usize,
    }

    impl Read for Probe<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.largest = self.largest.max(buf.len());
            self.data.read(buf)
        }
    }

    #[test]
    fn a_lying_string_length_costs_at_most_the_first_chunk() {
        // A 1 GB string length followed by 3 bytes: found by the rdb_file fuzz target, which
        // saw 1 MB allocated (and zeroed) for a 19-byte file.
        let data = [0x80, 0x40, 0, 0, 0, b'a', b'b', b'c'];
        let mut inp = Input {
            r: Probe {
                data: &data,
                largest: 0,
            },
            crc: Crc64::new(),
            consumed: 0,
        };
        assert!(matches!(inp.string(), Err(RdbError::UnexpectedEof)));
        assert!(inp.r.largest <= FIRST_CHUNK);
        // A real long string still reads whole, in growing chunks.
        let mut big = vec![0x80];
        big.extend_from_slice(&3_000_000u32.to_be_bytes());
        big.extend((0..3_000_000u32).map(|i| i as u8));
        let mut inp = Input {
            r: &big[..],
            crc: Crc64::new(),
            consumed: 0,
        };
        assert_eq!(inp.string().unwrap(), big[5..]);
    }
}
