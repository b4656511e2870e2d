//! Bit commands beyond SETBIT/GETBIT: BITCOUNT, BITPOS and BITOP, with Redis 7.0's argument
//! order and range rules (BYTE or BIT units, negative offsets, the `end`-given quirk of BITPOS
//! for clear bits), and BITFIELD / BITFIELD_RO (signed and unsigned fields up to 64/63 bits,
//! `#` offsets, OVERFLOW WRAP/SAT/FAIL).

use crate::table::{def, ks, Def, Extra, Handler::Data};
use crate::util::{eq_ic, int_arg, SYNTAX};
use crate::Ctx;
use cinnabar_keyspace::notify::{GENERIC, KEY_MISS, STRING};
use cinnabar_keyspace::value::{Value, WRONGTYPE};
use cinnabar_resp::Args;

pub static DEFS: &[Def] = &[
    def!(
        "bitcount",
        -2,
        "readonly",
        (1, 1, 1),
        "bitmap",
        "bitmap",
        "2.6.0",
        "Count the set bits in a string",
        Data(bitcount)
    ),
    def!(
        "bitpos",
        -3,
        "readonly",
        (1, 1, 1),
        "bitmap",
        "bitmap",
        "2.8.7",
        "Find the first set or clear bit in a string",
        Data(bitpos)
    ),
    def!(
        "bitop",
        -4,
        "write denyoom",
        (2, -1, 1),
        "bitmap",
        "bitmap",
        "2.6.0",
        "Bitwise AND, OR, XOR or NOT of strings into a key",
        Data(bitop)
    ),
    def!(
        "bitfield",
        -2,
        "write denyoom",
        (1, 1, 1),
        "bitmap",
        "bitmap",
        "3.2.0",
        "Read and write integer fields of arbitrary width in a string",
        Data(bitfield)
    ),
    def!(
        "bitfield_ro",
        -2,
        "readonly fast",
        (1, 1, 1),
        "bitmap",
        "bitmap",
        "6.0.0",
        "Read integer fields of arbitrary width in a string",
        Data(bitfield_ro)
    ),
];

pub static EXTRAS: &[Extra] = &[
    ("bitcount", "", &[ks("RO access", 1, 0, 1)]),
    ("bitpos", "", &[ks("RO access", 1, 0, 1)]),
    (
        "bitop",
        "",
        &[ks("OW update", 2, 0, 1), ks("RO access", 3, -1, 1)],
    ),
    (
        "bitfield",
        "",
        &[ks("RW access update variable_flags", 1, 0, 1)
            .notes("This command allows both access and modification of the key")],
    ),
    ("bitfield_ro", "", &[ks("RO access", 1, 0, 1)]),
];

/// The string at `key`: Ok(None) when missing, Err after replying WRONGTYPE.
fn read_string(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Vec<u8>>, ()> {
    let now = ctx.now;
    let i = ctx.db;
    let ks = &mut *ctx.ks;
    match ks.dbs[i].get(key, now, &mut ks.stats) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.to_vec())),
        Some(_) => {
            ctx.reply.error(WRONGTYPE);
            Err(())
        }
    }
}

/// Normalises a [start, end] range over `totlen` units as Redis does; in BIT units also returns
/// the masks of the bits outside the range in the first and last byte, and byte offsets.
struct Range {
    start: i64,
    end: i64,
    first_mask: u8,
    last_mask: u8,
}

fn normalize(mut start: i64, mut end: i64, strlen: i64, isbit: bool) -> Range {
    let totlen = if isbit { strlen << 3 } else { strlen };
    if start < 0 {
        start += totlen;
    }
    if end < 0 {
        end += totlen;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= totlen {
        end = totlen - 1;
    }
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    if isbit && start <= end {
        first_mask = (!((1u32 << (8 - (start & 7))) - 1) & 0xFF) as u8;
        last_mask = ((1u32 << (7 - (end & 7))) - 1) as u8;
        start >>= 3;
        end >>= 3;
    }
    Range {
        start,
        end,
        first_mask,
        last_mask,
    }
}

fn unit(ctx: &mut Ctx, arg: &[u8]) -> Option<bool> {
    if eq_ic(arg, "bit") {
        Some(true)
    } else if eq_ic(arg, "byte") {
        Some(false)
    } else {
        ctx.reply.error(SYNTAX);
        None
    }
}

/// BITCOUNT key [start end [BYTE|BIT]]
pub fn bitcount(ctx: &mut Ctx, a: Args) {
    let s = match read_string(ctx, a.get(1)) {
        Ok(Some(s)) => s,
        Ok(None) => return ctx.reply.int(0),
        Err(()) => return,
    };
    let strlen = s.len() as i64;
    let r = if a.len() == 4 || a.len() == 5 {
        let Some(start) = int_arg(ctx.reply, a.get(2)) else {
            return;
        };
        let Some(end) = int_arg(ctx.reply, a.get(3)) else {
            return;
        };
        if start < 0 && end < 0 && start > end {
            return ctx.reply.int(0);
        }
        let isbit = if a.len() == 5 {
            match unit(ctx, a.get(4)) {
                Some(b) => b,
                None => return,
            }
        } else {
            false
        };
        normalize(start, end, strlen, isbit)
    } else if a.len() == 2 {
        Range {
            start: 0,
            end: strlen - 1,
            first_mask: 0,
            last_mask: 0,
        }
    } else {
        return ctx.reply.error(SYNTAX);
    };
    if r.start > r.end {
        return ctx.reply.int(0);
    }
    let (st, en) = (r.start as usize, r.end as usize);
    let mut count: i64 = s[st..=en].iter().map(|b| b.count_ones() as i64).sum();
    if r.first_mask != 0 {
        count -= (s[st] & r.first_mask).count_ones() as i64;
    }
    if r.last_mask != 0 {
        count -= (s[en] & r.last_mask).count_ones() as i64;
    }
    ctx.reply.int(count);
}

/// Position of the first bit equal to `bit` in `bytes` (bit 0 = MSB of the first byte): -1 if
/// a set bit is wanted and there is none; `8 * len` if a clear bit is wanted and there is none.
fn first_bit(bytes: &[u8], bit: bool) -> i64 {
    let skip = if bit { 0u8 } else { 0xFF };
    for (i, &b) in bytes.iter().enumerate() {
        if b != skip {
            let v = if bit { b } else { !b };
            return (i as i64) * 8 + v.leading_zeros() as i64;
        }
    }
    if bit {
        -1
    } else {
        (bytes.len() as i64) * 8
    }
}

/// BITPOS key bit [start [end [BYTE|BIT]]]
pub fn bitpos(ctx: &mut Ctx, a: Args) {
    let Some(bit) = int_arg(ctx.reply, a.get(2)) else {
        return;
    };
    if bit != 0 && bit != 1 {
        return ctx.reply.error("ERR The bit argument must be 1 or 0.");
    }
    let bit = bit == 1;
    let now = ctx.now;
    let s = match ctx.db().peek(a.get(1), now) {
        None => {
            ctx.notify(KEY_MISS, "keymiss", a.get(1));
            return ctx.reply.int(if bit { -1 } else { 0 });
        }
        Some(Value::Str(s)) => s.to_vec(),
        Some(_) => return ctx.reply.error(WRONGTYPE),
    };
    let strlen = s.len() as i64;
    let mut end_given = false;
    let r = if (4..=6).contains(&a.len()) {
        let Some(start) = int_arg(ctx.reply, a.get(3)) else {
            return;
        };
        let isbit = if a.len() == 6 {
            match unit(ctx, a.get(5)) {
                Some(b) => b,
                None => return,
            }
        } else {
            false
        };
        let end = if a.len() >= 5 {
            let Some(e) = int_arg(ctx.reply, a.get(4)) else {
                return;
            };
            end_given = true;
            e
        } else if isbit {
            (strlen << 3) + 7
        } else {
            strlen - 1
        };
        normalize(start, end, strlen, isbit)
    } else if a.len() == 3 {
        Range {
            start: 0,
            end: strlen - 1,
            first_mask: 0,
            last_mask: 0,
        }
    } else {
        return ctx.reply.error(SYNTAX);
    };
    if r.start > r.end {
        return ctx.reply.int(-1);
    }
    let (mut start, end) = (r.start as usize, r.end as usize);
    let mut bytes = end - start + 1;
    // Mirrors Redis: the partial first byte, the whole bytes, then the partial last byte.
    let pos: i64 = 'result: {
        if r.first_mask != 0 {
            let mut t = if bit {
                s[start] & !r.first_mask
            } else {
                s[start] | r.first_mask
            };
            if r.last_mask != 0 && bytes == 1 {
                t = if bit {
                    t & !r.last_mask
                } else {
                    t | r.last_mask
                };
            }
            let p = first_bit(&[t], bit);
            if bytes == 1 || (p != -1 && p != 8) {
                break 'result p;
            }
            start += 1;
            bytes -= 1;
        }
        let cur = bytes - usize::from(r.last_mask != 0);
        if cur > 0 {
            let p = first_bit(&s[start..start + cur], bit);
            if bytes == cur || (p != -1 && p != (cur as i64) << 3) {
                break 'result p;
            }
            start += cur;
            bytes -= cur;
        }
        let t = if bit {
            s[end] & !r.last_mask
        } else {
            s[end] | r.last_mask
        };
        first_bit(&[t], bit)
    };
    if end_given && !bit && pos == (bytes as i64) << 3 {
        return ctx.reply.int(-1);
    }
    ctx.reply.int(if pos != -1 {
        pos + ((start as i64) << 3)
    } else {
        pos
    });
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]
pub fn bitop(ctx: &mut Ctx, a: Args) {
    let op = a.get(1);
    let kind = if eq_ic(op, "and") {
        0
    } else if eq_ic(op, "or") {
        1
    } else if eq_ic(op, "xor") {
        2
    } else if eq_ic(op, "not") {
        3
    } else {
        return ctx.reply.error(SYNTAX);
    };
    if kind == 3 && a.len() != 4 {
        return ctx
            .reply
            .error("ERR BITOP NOT must be called with a single source key.");
    }
    let mut srcs: Vec<Vec<u8>> = Vec::with_capacity(a.len() - 3);
    for k in a.tail(3).iter() {
        match read_string(ctx, k) {
            Ok(Some(s)) => srcs.push(s),
            Ok(None) => srcs.push(Vec::new()),
            Err(()) => return,
        }
    }
    let maxlen = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    let dst = a.get(2);
    if maxlen == 0 {
        // Redis's dbDelete: a key past its TTL is deleted too (and reported as `del`).
        if ctx.db().take(dst).is_some() {
            ctx.notify(GENERIC, "del", dst);
            ctx.dirty += 1;
        }
        return ctx.reply.int(0);
    }
    let at = |s: &Vec<u8>, i: usize| s.get(i).copied().unwrap_or(0);
    let res: Vec<u8> = (0..maxlen)
        .map(|i| {
            let first = at(&srcs[0], i);
            match kind {
                3 => !first,
                _ => srcs[1..].iter().fold(first, |acc, s| match kind {
                    0 => acc & at(s, i),
                    1 => acc | at(s, i),
                    _ => acc ^ at(s, i),
                }),
            }
        })
        .collect();
    ctx.set_key(dst, Value::Str(res.into()), false);
    ctx.db().mark_raw(dst);
    ctx.notify(STRING, "set", dst);
    ctx.dirty += 1;
    ctx.reply.int(maxlen as i64);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set,
    Incr,
}

struct Field {
    op: FieldOp,
    offset: u64,
    bits: u32,
    signed: bool,
    value: i64,
    overflow: Overflow,
}

fn get_bits(buf: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v: u64 = 0;
    for i in 0..bits as u64 {
        let o = offset + i;
        let byte = buf.get((o >> 3) as usize).copied().unwrap_or(0);
        let bit = (byte >> (7 - (o & 7))) & 1;
        v = (v << 1) | bit as u64;
    }
    v
}

fn set_bits(buf: &mut [u8], offset: u64, bits: u32, v: u64) {
    for i in 0..bits as u64 {
        let bit = (v >> (bits as u64 - 1 - i)) & 1;
        let o = offset + i;
        if let Some(b) = buf.get_mut((o >> 3) as usize) {
            let shift = 7 - (o & 7);
            *b = (*b & !(1 << shift)) | ((bit as u8) << shift);
        }
    }
}

fn signed_of(raw: u64, bits: u32) -> i64 {
    if bits == 64 {
        raw as i64
    } else if raw & (1 << (bits - 1)) != 0 {
        (raw | (u64::MAX << bits)) as i64
    } else {
        raw as i64
    }
}

/// Unsigned overflow check as Redis's `checkUnsignedBitfieldOverflow`: Some(limit) on
/// overflow (the wrapped or saturated value), None if the result fits.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max: u64 = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = (value as i64).wrapping_neg();
    let wrap = || {
        let res = value.wrapping_add(incr as u64);
        if bits == 64 {
            res
        } else {
            res & !(u64::MAX << bits)
        }
    };
    if value > max || (incr > 0 && incr > maxincr) {
        Some(if ow == Overflow::Wrap { wrap() } else { max })
    } else if incr < 0 && incr < minincr {
        Some(if ow == Overflow::Wrap { wrap() } else { 0 })
    } else {
        None
    }
}

/// Signed overflow check as Redis's `checkSignedBitfieldOverflow`.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let msb = 1u64 << (bits - 1);
            let mask = u64::MAX << bits;
            if c & msb != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        Some(if ow == Overflow::Wrap { wrap() } else { max })
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        Some(if ow == Overflow::Wrap { wrap() } else { min })
    } else {
        None
    }
}

const BAD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";

/// BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset increment]
/// [OVERFLOW WRAP|SAT|FAIL] ...
pub fn bitfield(ctx: &mut Ctx, a: Args) {
    bitfield_generic(ctx, a, false);
}

/// BITFIELD_RO key [GET type offset ...]
pub fn bitfield_ro(ctx: &mut Ctx, a: Args) {
    bitfield_generic(ctx, a, true);
}

fn bitfield_generic(ctx: &mut Ctx, a: Args, ro_cmd: bool) {
    let mut ops: Vec<Field> = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut readonly = true;
    let mut highest: u64 = 0;
    let mut j = 2;
    while j < a.len() {
        let rem = a.len() - j - 1;
        let sub = a.get(j);
        let op = if eq_ic(sub, "get") && rem >= 2 {
            FieldOp::Get
        } else if eq_ic(sub, "set") && rem >= 3 {
            FieldOp::Set
        } else if eq_ic(sub, "incrby") && rem >= 3 {
            FieldOp::Incr
        } else if eq_ic(sub, "overflow") && rem >= 1 {
            let t = a.get(j + 1);
            overflow = if eq_ic(t, "wrap") {
                Overflow::Wrap
            } else if eq_ic(t, "sat") {
                Overflow::Sat
            } else if eq_ic(t, "fail") {
                Overflow::Fail
            } else {
                return ctx.reply.error("ERR Invalid OVERFLOW type specified");
            };
            j += 2;
            continue;
        } else {
            return ctx.reply.error(SYNTAX);
        };
        // Type: i1..i64 or u1..u63 (the digits end at a NUL, as C reads them).
        let t = a.get(j + 1);
        let t = &t[..t.iter().position(|&b| b == 0).unwrap_or(t.len())];
        let signed = match t.first() {
            Some(b'i') => true,
            Some(b'u') => false,
            _ => return ctx.reply.error(BAD_TYPE),
        };
        let bits = match cinnabar_util::num::string2ll(&t[1..]) {
            Some(b) if b >= 1 && ((signed && b <= 64) || (!signed && b <= 63)) => b as u32,
            _ => return ctx.reply.error(BAD_TYPE),
        };
        let off = a.get(j + 2);
        let hash = off.first() == Some(&b'#');
        let Some(mut loff) = cinnabar_util::num::string2ll(if hash { &off[1..] } else { off })
        else {
            return ctx.reply.error(BAD_OFFSET);
        };
        if hash {
            loff = loff.wrapping_mul(bits as i64);
        }
        if loff < 0 || (loff >> 3) >= ctx.proto_max_bulk_len {
            return ctx.reply.error(BAD_OFFSET);
        }
        let offset = loff as u64;
        let mut value = 0;
        if op != FieldOp::Get {
            readonly = false;
            highest = highest.max(offset + bits as u64 - 1);
            let Some(v) = int_arg(ctx.reply, a.get(j + 3)) else {
                return;
            };
            value = v;
        }
        ops.push(Field {
            op,
            offset,
            bits,
            signed,
            value,
            overflow,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    let key = a.get(1);
    let now = ctx.now;
    let mut buf: Vec<u8>;
    let mut created = false;
    if readonly {
        buf = match ctx.db().peek(key, now) {
            None => {
                // A read-only BITFIELD is a read lookup in Redis.
                ctx.notify(KEY_MISS, "keymiss", key);
                Vec::new()
            }
            Some(Value::Str(s)) => s.to_vec(),
            Some(_) => return ctx.reply.error(WRONGTYPE),
        };
    } else {
        if ro_cmd {
            return ctx
                .reply
                .error("ERR BITFIELD_RO only supports the GET subcommand");
        }
        buf = match ctx.db().peek(key, now) {
            None => {
                created = true;
                Vec::new()
            }
            Some(Value::Str(s)) => s.to_vec(),
            Some(_) => return ctx.reply.error(WRONGTYPE),
        };
        let need = (highest >> 3) as usize + 1;
        if buf.len() < need {
            if !created {
                created = true;
            }
            buf.resize(need, 0);
        }
    }
    let mut changes = 0u64;
    ctx.reply.array(ops.len());
    for f in &ops {
        match f.op {
            FieldOp::Get => {
                let raw = get_bits(&buf, f.offset, f.bits);
                if f.signed {
                    ctx.reply.int(signed_of(raw, f.bits));
                } else {
                    ctx.reply.int(raw as i64);
                }
            }
            FieldOp::Set | FieldOp::Incr => {
                let raw = get_bits(&buf, f.offset, f.bits);
                let (ok, newraw, ret, old_eq) = if f.signed {
                    let old = signed_of(raw, f.bits);
                    let (over, newv, ret) = if f.op == FieldOp::Incr {
                        match signed_overflow(old, f.value, f.bits, f.overflow) {
                            Some(l) => (true, l, l),
                            None => {
                                let n = old.wrapping_add(f.value);
                                (false, n, n)
                            }
                        }
                    } else {
                        match signed_overflow(f.value, 0, f.bits, f.overflow) {
                            Some(l) => (true, l, old),
                            None => (false, f.value, old),
                        }
                    };
                    (
                        !(over && f.overflow == Overflow::Fail),
                        newv as u64,
                        ret,
                        old == newv,
                    )
                } else {
                    let old = raw;
                    let (over, newv, ret) = if f.op == FieldOp::Incr {
                        match unsigned_overflow(old, f.value, f.bits, f.overflow) {
                            Some(l) => (true, l, l),
                            None => {
                                let n = old.wrapping_add(f.value as u64);
                                (false, n, n)
                            }
                        }
                    } else {
                        match unsigned_overflow(f.value as u64, 0, f.bits, f.overflow) {
                            Some(l) => (true, l, old),
                            None => (false, f.value as u64, old),
                        }
                    };
                    (
                        !(over && f.overflow == Overflow::Fail),
                        newv,
                        ret as i64,
                        old == newv,
                    )
                };
                if ok {
                    ctx.reply.int(ret);
                    let masked = if f.bits == 64 {
                        newraw
                    } else {
                        newraw & !(u64::MAX << f.bits)
                    };
                    set_bits(&mut buf, f.offset, f.bits, masked);
                    if created || !old_eq {
                        changes += 1;
                    }
                } else {
                    ctx.reply.null();
                }
            }
        }
    }
    if !readonly {
        ctx.set_key(key, Value::Str(buf.into()), true);
        ctx.db().mark_raw(key);
        ctx.dirty += changes;
        if changes > 0 {
            ctx.notify(STRING, "setbit", key);
        }
    }
}
