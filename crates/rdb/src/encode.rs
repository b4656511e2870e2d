//! Writers: everything appends to a `Vec<u8>` exactly the bytes Redis 7.0.15 writes.

use crate::crc64::crc64;
use crate::listpack::Builder;
use crate::{lzf, opcodes, types, RDB_VERSION};
use cinnabar_keyspace::types::TypeLimits;
use cinnabar_keyspace::value::Value;
use cinnabar_util::num::{d2string_into, ll2string, string2ll};
use std::cell::RefCell;

/// An AUX field's value: a string, or an integer (written as its decimal text, which the
/// string writer then stores int-encoded when it fits, as Redis's `rdbSaveAuxFieldStrInt`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuxValue {
    Str(Vec<u8>),
    Int(i64),
}

/// Options of the value writers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOpts {
    /// `rdbcompression`: LZF-compress strings longer than 20 bytes when that saves at least
    /// 4 bytes... as Redis: when the compressed form fits in `len - 4` bytes.
    pub compress: bool,
}

impl Default for EncodeOpts {
    fn default() -> Self {
        EncodeOpts { compress: true }
    }
}

/// How the value writers store strings longer than 20 bytes.
#[derive(Clone, Copy)]
pub(crate) enum Comp<'a> {
    /// Length + bytes.
    Plain,
    /// LZF when it pays, as Redis's `rdbSaveRawString`.
    Lzf,
    /// Length + bytes now, and the string's offset in the output noted, so that
    /// [`compress_deferred`] can LZF it later on another thread.
    Later(&'a RefCell<Vec<usize>>),
}

impl Comp<'_> {
    fn of(compress: bool) -> Comp<'static> {
        if compress {
            Comp::Lzf
        } else {
            Comp::Plain
        }
    }
}

/// Redis's `rdbSaveLen`.
pub(crate) fn write_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Redis's `rdbEncodeInteger`: the special int encodings for values fitting 32 bits.
fn write_int_encoded(out: &mut Vec<u8>, v: i64) -> bool {
    if let Ok(b) = i8::try_from(v) {
        out.push(0xC0);
        out.push(b as u8);
    } else if let Ok(h) = i16::try_from(v) {
        out.push(0xC1);
        out.extend_from_slice(&h.to_le_bytes());
    } else if let Ok(w) = i32::try_from(v) {
        out.push(0xC2);
        out.extend_from_slice(&w.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// Redis's `rdbSaveRawString`: int encoding for short integer text, LZF for longer strings
/// when `compress` and it pays, else length + bytes.
pub(crate) fn write_raw_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    write_string(out, s, Comp::of(compress))
}

fn write_string(out: &mut Vec<u8>, s: &[u8], c: Comp) {
    if s.len() <= 11 {
        if let Some(v) = string2ll(s) {
            if write_int_encoded(out, v) {
                return;
            }
        }
    }
    if s.len() > 20 {
        match c {
            Comp::Plain => {}
            Comp::Lzf => {
                if write_lzf(out, s) {
                    return;
                }
            }
            Comp::Later(spans) => spans.borrow_mut().push(out.len()),
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// The LZF form of `s` (0xC3, compressed length, length, data) when it saves at least 4
/// bytes, as Redis stores it; false (nothing written) otherwise.
fn write_lzf(out: &mut Vec<u8>, s: &[u8]) -> bool {
    match lzf::compress(s, s.len() - 4) {
        Some(c) => {
            out.push(0xC3);
            write_len(out, c.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            true
        }
        None => false,
    }
}

/// A length written by [`write_len`] at the start of `b`: (value, header bytes).
fn read_len(b: &[u8]) -> Option<(usize, usize)> {
    let first = *b.first()?;
    match first >> 6 {
        0 => Some(((first & 0x3F) as usize, 1)),
        1 => Some(((((first & 0x3F) as usize) << 8) | *b.get(1)? as usize, 2)),
        _ if first == 0x80 => {
            let w: [u8; 4] = b.get(1..5)?.try_into().ok()?;
            Some((u32::from_be_bytes(w) as usize, 5))
        }
        _ if first == 0x81 => {
            let w: [u8; 8] = b.get(1..9)?.try_into().ok()?;
            Some((usize::try_from(u64::from_be_bytes(w)).ok()?, 9))
        }
        _ => None,
    }
}

/// Finishes a chunk written with deferred compression ([`write_key_deferred`]): each string
/// at one of `spans` (ascending offsets into `raw`) is LZF-compressed when that pays; the
/// result is exactly what [`write_key`] with compression would have written.
pub fn compress_deferred(raw: &[u8], spans: &[usize], out: &mut Vec<u8>) {
    let mut pos = 0;
    for &at in spans {
        let Some(head) = raw.get(at..) else {
            break;
        };
        let Some((len, hdr)) = read_len(head) else {
            continue;
        };
        let Some(s) = head.get(hdr..hdr + len) else {
            continue;
        };
        if at < pos {
            continue;
        }
        out.extend_from_slice(&raw[pos..at]);
        if !write_lzf(out, s) {
            out.extend_from_slice(&head[..hdr + len]);
        }
        pos = at + hdr + len;
    }
    out.extend_from_slice(&raw[pos..]);
}

/// The RDB header ("REDIS0010") and AUX fields.
pub fn write_header(out: &mut Vec<u8>, aux: &[(&[u8], AuxValue)]) {
    out.extend_from_slice(b"REDIS");
    out.extend_from_slice(format!("{RDB_VERSION:04}").as_bytes());
    for (k, v) in aux {
        out.push(opcodes::AUX);
        write_raw_string(out, k, true);
        match v {
            AuxValue::Str(s) => write_raw_string(out, s, true),
            AuxValue::Int(i) => {
                let mut t = Vec::with_capacity(20);
                ll2string(*i, &mut t);
                write_raw_string(out, &t, true);
            }
        }
    }
}

/// SELECTDB.
pub fn write_select_db(out: &mut Vec<u8>, db: u64) {
    out.push(opcodes::SELECTDB);
    write_len(out, db);
}

/// RESIZEDB.
pub fn write_resize_db(out: &mut Vec<u8>, db_size: u64, expires_size: u64) {
    out.push(opcodes::RESIZEDB);
    write_len(out, db_size);
    write_len(out, expires_size);
}

/// One key: EXPIRETIME_MS, IDLE (seconds) and FREQ opcodes when given, then the value type,
/// the key, the value.
#[allow(clippy::too_many_arguments)]
pub fn write_key(
    out: &mut Vec<u8>,
    key: &[u8],
    v: &Value,
    expire_ms: Option<i64>,
    idle: Option<u64>,
    freq: Option<u8>,
    limits: &TypeLimits,
    opts: &EncodeOpts,
) {
    write_entry(
        out,
        key,
        v,
        expire_ms,
        idle,
        freq,
        limits,
        Comp::of(opts.compress),
    );
}

/// [`write_key`] with compression deferred: strings are written plain and the offsets of
/// those LZF might shrink are appended to `spans`; [`compress_deferred`] then turns the
/// chunk into what `write_key` with compression writes. This moves LZF off the thread that
/// walks the keyspace.
pub fn write_key_deferred(
    out: &mut Vec<u8>,
    spans: &RefCell<Vec<usize>>,
    key: &[u8],
    v: &Value,
    expire_ms: Option<i64>,
    limits: &TypeLimits,
) {
    write_entry(
        out,
        key,
        v,
        expire_ms,
        None,
        None,
        limits,
        Comp::Later(spans),
    );
}

#[allow(clippy::too_many_arguments)]
fn write_entry(
    out: &mut Vec<u8>,
    key: &[u8],
    v: &Value,
    expire_ms: Option<i64>,
    idle: Option<u64>,
    freq: Option<u8>,
    limits: &TypeLimits,
    c: Comp,
) {
    if let Some(ms) = expire_ms {
        out.push(opcodes::EXPIRETIME_MS);
        out.extend_from_slice(&ms.to_le_bytes());
    }
    if let Some(idle) = idle {
        out.push(opcodes::IDLE);
        write_len(out, idle);
    }
    if let Some(f) = freq {
        out.push(opcodes::FREQ);
        out.push(f);
    }
    out.push(value_type(v));
    write_string(out, key, c);
    write_value(out, v, limits, c);
}

/// A function library (FUNCTION2 opcode, then its code).
pub fn write_function(out: &mut Vec<u8>, code: &[u8]) {
    out.push(opcodes::FUNCTION2);
    write_raw_string(out, code, true);
}

/// The EOF opcode (the caller appends the 8-byte little-endian CRC-64 of the whole file).
pub fn write_eof(out: &mut Vec<u8>) {
    out.push(opcodes::EOF);
}

/// DUMP's payload: value type, value, RDB version (2 bytes LE), CRC-64 of all that (8 LE).
pub fn dump_payload(v: &Value, limits: &TypeLimits, opts: &EncodeOpts) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(value_type(v));
    write_value(&mut out, v, limits, Comp::of(opts.compress));
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The type byte Redis writes for `v` in its current encoding.
pub(crate) fn value_type(v: &Value) -> u8 {
    match v {
        Value::Str(_) => types::STRING,
        Value::List(_) => types::LIST_QUICKLIST_2,
        Value::Set(s) => {
            if s.is_intset() {
                types::SET_INTSET
            } else {
                types::SET
            }
        }
        Value::ZSet(z) => {
            if z.is_big() {
                types::ZSET_2
            } else {
                types::ZSET_LISTPACK
            }
        }
        Value::Hash(h) => {
            if h.is_packed() {
                types::HASH_LISTPACK
            } else {
                types::HASH
            }
        }
        Value::Stream(_) => types::STREAM_LISTPACKS_2,
    }
}

/// Quicklist node byte limits for negative `list-max-listpack-size`.
const NODE_SIZE_LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// Elements at least this long get a node of their own (a "plain" node).
const PLAIN_THRESHOLD: usize = 1 << 30;

/// Redis's `_quicklistNodeAllowInsert` for a packed node of `node_bytes` bytes holding
/// `count` elements, and a new element of `sz` bytes.
fn node_allows(node_bytes: usize, count: usize, fill: i64, sz: usize) -> bool {
    if sz >= PLAIN_THRESHOLD {
        return false;
    }
    let new_sz = node_bytes + sz + 8;
    if fill < 0 {
        let off = (-fill - 1) as usize;
        if off < NODE_SIZE_LEVELS.len() && new_sz <= NODE_SIZE_LEVELS[off] {
            return true;
        }
    }
    if new_sz > 8192 {
        return false;
    }
    (count as i64) < fill
}

enum Node<'a> {
    Packed(Vec<u8>),
    Plain(&'a [u8]),
}

fn write_value(out: &mut Vec<u8>, v: &Value, limits: &TypeLimits, c: Comp) {
    match v {
        Value::Str(s) => write_string(out, s.as_slice(), c),
        Value::List(l) => {
            // Nodes as a tail-push-built quicklist would have them.
            let fill = limits.list_max_listpack_size.clamp(-5, (1 << 15) - 1);
            let mut nodes: Vec<Node> = Vec::new();
            let mut cur: Option<Builder> = None;
            for e in l.iter() {
                if let Some(b) = &cur {
                    if !node_allows(b.total_bytes(), b.len(), fill, e.len()) {
                        if let Some(b) = cur.take() {
                            nodes.push(Node::Packed(b.finish()));
                        }
                    }
                }
                if e.len() >= PLAIN_THRESHOLD {
                    if let Some(b) = cur.take() {
                        nodes.push(Node::Packed(b.finish()));
                    }
                    nodes.push(Node::Plain(e));
                    continue;
                }
                cur.get_or_insert_with(Builder::new).push(e);
            }
            if let Some(b) = cur.take() {
                nodes.push(Node::Packed(b.finish()));
            }
            write_len(out, nodes.len() as u64);
            for n in &nodes {
                match n {
                    Node::Packed(lp) => {
                        write_len(out, 2);
                        write_string(out, lp, c);
                    }
                    Node::Plain(e) => {
                        write_len(out, 1);
                        write_string(out, e, c);
                    }
                }
            }
        }
        Value::Set(s) => {
            if let Some(w) = s.intset_width() {
                let mut blob = Vec::with_capacity(8 + s.len() * w);
                blob.extend_from_slice(&(w as u32).to_le_bytes());
                blob.extend_from_slice(&(s.len() as u32).to_le_bytes());
                for m in s.iter() {
                    if let cinnabar_keyspace::types::set::Member::Int(i) = m {
                        match w {
                            2 => blob.extend_from_slice(&(i as i16).to_le_bytes()),
                            4 => blob.extend_from_slice(&(i as i32).to_le_bytes()),
                            _ => blob.extend_from_slice(&i.to_le_bytes()),
                        }
                    }
                }
                write_string(out, &blob, c);
            } else {
                write_len(out, s.len() as u64);
                for m in s.iter() {
                    m.with_bytes(|b| write_string(out, b, c));
                }
            }
        }
        Value::ZSet(z) => {
            if z.is_big() {
                write_len(out, z.len() as u64);
                z.range(0, z.len(), true, |m, score| {
                    write_string(out, m, c);
                    out.extend_from_slice(&score.to_le_bytes());
                });
            } else {
                let mut b = Builder::new();
                let mut t = Vec::with_capacity(32);
                z.for_each(|m, score| {
                    b.push(m);
                    t.clear();
                    d2string_into(score, &mut t);
                    b.push(&t);
                });
                write_string(out, &b.finish(), c);
            }
        }
        Value::Hash(h) => {
            if h.is_packed() {
                let mut b = Builder::new();
                for (f, val) in h.iter() {
                    b.push(f);
                    b.push(val);
                }
                write_string(out, &b.finish(), c);
            } else {
                write_len(out, h.len() as u64);
                for (f, val) in h.iter() {
                    write_string(out, f, c);
                    write_string(out, val, c);
                }
            }
        }
        Value::Stream(st) => {
            write_len(out, st.nodes.len() as u64);
            for (k, lp) in &st.nodes {
                write_string(out, &k.to_be_bytes(), c);
                write_string(out, lp, c);
            }
            write_len(out, st.length);
            for id in [st.last_id, st.first_id, st.max_deleted_entry_id] {
                write_len(out, id.ms);
                write_len(out, id.seq);
            }
            write_len(out, st.entries_added);
            write_len(out, st.groups.len() as u64);
            for (name, g) in &st.groups {
                write_string(out, name, c);
                write_len(out, g.last_id.ms);
                write_len(out, g.last_id.seq);
                write_len(out, g.entries_read as u64);
                write_len(out, g.pel.len() as u64);
                for (id, n) in &g.pel {
                    out.extend_from_slice(&id.to_be_bytes());
                    out.extend_from_slice(&n.delivery_time.to_le_bytes());
                    write_len(out, n.delivery_count);
                }
                write_len(out, g.consumers.len() as u64);
                for (cname, cons) in &g.consumers {
                    write_string(out, cname, c);
                    out.extend_from_slice(&cons.seen_time.to_le_bytes());
                    write_len(out, cons.pel.len() as u64);
                    for id in &cons.pel {
                        out.extend_from_slice(&id.to_be_bytes());
                    }
                }
            }
        }
    }
}
