//! The string family: SET and its variants (one generic function serves SET, SETNX, SETEX,
//! PSETEX, GETSET as in Redis), GET/GETEX/GETDEL, MGET/MSET/MSETNX, APPEND, STRLEN, GETRANGE,
//! SETRANGE, the INCR family, INCRBYFLOAT and LCS.

use crate::util::{eq_ic, int_arg, NOT_INT, SYNTAX};
use crate::Ctx;
use cinnabar_keyspace::compact::CompactBytes;
use cinnabar_keyspace::notify::{GENERIC, KEY_MISS, STRING};
use cinnabar_keyspace::value::{Value, WRONGTYPE};
use cinnabar_resp::Args;
use cinnabar_util::num;

/// Redis's limit error for strings that would grow past `proto-max-bulk-len`.
const TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Millis,
}

/// An expiry option parsed from a command (EX/PX/EXAT/PXAT), as absolute unix ms.
fn expire_time(ctx: &mut Ctx, arg: &[u8], unit: Unit, absolute: bool, cmd: &str) -> Option<i64> {
    let v = int_arg(ctx.reply, arg)?;
    let invalid = |ctx: &mut Ctx| {
        ctx.reply
            .error(&format!("ERR invalid expire time in '{cmd}' command"));
        None
    };
    if v <= 0 || (unit == Unit::Seconds && v > i64::MAX / 1000) {
        return invalid(ctx);
    }
    let mut ms = if unit == Unit::Seconds { v * 1000 } else { v };
    if !absolute {
        if ms > i64::MAX - ctx.now {
            return invalid(ctx);
        }
        ms += ctx.now;
    }
    Some(ms)
}

const SET_NX: u32 = 1;
const SET_XX: u32 = 2;
const SET_GET: u32 = 4;
const SET_KEEPTTL: u32 = 8;
const SET_EXPIRE: u32 = 16;

/// The shared body of SET and its variants.
fn set_generic(ctx: &mut Ctx, key: &[u8], val: &[u8], flags: u32, expire: Option<i64>, ok: Reply) {
    let now = ctx.now;
    let mut old: Option<Vec<u8>> = None;
    let exists = match ctx.db().peek(key, now) {
        Some(Value::Str(s)) => {
            if flags & SET_GET != 0 {
                old = Some(s.to_vec());
            }
            true
        }
        #[allow(unreachable_patterns)]
        Some(_) => {
            if flags & SET_GET != 0 {
                ctx.reply.error(WRONGTYPE);
                return;
            }
            true
        }
        None => false,
    };
    let hit = exists;
    if flags & SET_GET != 0 {
        if hit {
            ctx.ks.stats.hits += 1;
        } else {
            ctx.ks.stats.misses += 1;
            ctx.notify(KEY_MISS, "keymiss", key);
        }
    }
    if (flags & SET_NX != 0 && exists) || (flags & SET_XX != 0 && !exists) {
        if flags & SET_GET != 0 {
            match old {
                Some(o) => ctx.reply.bulk(&o),
                None => ctx.reply.null(),
            }
        } else {
            match ok {
                Reply::Int => ctx.reply.int(0),
                _ => ctx.reply.null(),
            }
        }
        return;
    }
    let keep_ttl = flags & SET_KEEPTTL != 0;
    ctx.db().set(key, Value::from_bytes(val), keep_ttl, now);
    ctx.notify(STRING, "set", key);
    if let Some(when) = expire {
        ctx.db().set_expire(key, when);
        ctx.notify(GENERIC, "expire", key);
        // Propagated with the absolute expiry (SET key value PXAT ms), as Redis does.
        let ms = when.to_string();
        ctx.rewrite(&[b"SET" as &[u8], key, val, b"PXAT", ms.as_bytes()]);
    } else if flags & SET_GET != 0 {
        // GETSET and SET ... GET propagate as a plain SET (the GET options dropped by `set`).
        if ctx.propagate.is_none() {
            ctx.rewrite(&[b"SET" as &[u8], key, val]);
        }
    }
    ctx.dirty += 1;
    if flags & SET_GET != 0 {
        match old {
            Some(o) => ctx.reply.bulk(&o),
            None => ctx.reply.null(),
        }
    } else {
        match ok {
            Reply::Ok => ctx.reply.ok(),
            Reply::Int => ctx.reply.int(1),
        }
    }
}

#[derive(Clone, Copy)]
enum Reply {
    Ok,
    Int,
}

/// Which expiry option `opt` is (EX=1, PX=2, EXAT=3, PXAT=4), if any.
fn expire_opt(opt: &[u8]) -> Option<u8> {
    ["ex", "px", "exat", "pxat"]
        .iter()
        .position(|o| eq_ic(opt, o))
        .map(|i| i as u8 + 1)
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ms|KEEPTTL]
pub fn set(ctx: &mut Ctx, a: Args) {
    let mut flags = 0u32;
    let mut expire = None;
    let mut j = 3;
    while j < a.len() {
        let opt = a.get(j);
        let next = if j + 1 < a.len() {
            Some(a.get(j + 1))
        } else {
            None
        };
        if eq_ic(opt, "nx") && flags & SET_XX == 0 {
            flags |= SET_NX;
        } else if eq_ic(opt, "xx") && flags & SET_NX == 0 {
            flags |= SET_XX;
        } else if eq_ic(opt, "get") {
            flags |= SET_GET;
        } else if eq_ic(opt, "keepttl") && flags & SET_EXPIRE == 0 {
            flags |= SET_KEEPTTL;
        } else if flags & SET_KEEPTTL == 0
            && next.is_some()
            && expire_opt(opt).is_some_and(|k| expire.is_none_or(|(_, _, _, e)| e == k))
        {
            flags |= SET_EXPIRE;
            j += 1;
            let unit = if eq_ic(opt, "ex") || eq_ic(opt, "exat") {
                Unit::Seconds
            } else {
                Unit::Millis
            };
            let absolute = eq_ic(opt, "exat") || eq_ic(opt, "pxat");
            // Options are validated before the expiry value, as Redis parses them in one pass;
            // a repeated option (EX 1 EX 2) is allowed and the last one counts.
            expire = Some((a.get(j), unit, absolute, expire_opt(opt).unwrap_or(0)));
        } else {
            ctx.reply.error(SYNTAX);
            return;
        }
        j += 1;
    }
    let when = match expire {
        Some((arg, unit, absolute, _)) => match expire_time(ctx, arg, unit, absolute, "set") {
            Some(w) => Some(w),
            None => return,
        },
        None => None,
    };
    if flags & SET_GET != 0 && when.is_none() {
        // Propagated without its GET arguments.
        let argv: Vec<&[u8]> = a
            .iter()
            .enumerate()
            .filter(|(i, x)| *i < 3 || !eq_ic(x, "get"))
            .map(|(_, x)| x)
            .collect();
        ctx.rewrite(&argv);
    }
    set_generic(ctx, a.get(1), a.get(2), flags, when, Reply::Ok);
}

/// SETNX key value
pub fn setnx(ctx: &mut Ctx, a: Args) {
    set_generic(ctx, a.get(1), a.get(2), SET_NX, None, Reply::Int);
}

/// SETEX key seconds value
pub fn setex(ctx: &mut Ctx, a: Args) {
    if let Some(w) = expire_time(ctx, a.get(2), Unit::Seconds, false, "setex") {
        set_generic(ctx, a.get(1), a.get(3), 0, Some(w), Reply::Ok);
    }
}

/// PSETEX key milliseconds value
pub fn psetex(ctx: &mut Ctx, a: Args) {
    if let Some(w) = expire_time(ctx, a.get(2), Unit::Millis, false, "psetex") {
        set_generic(ctx, a.get(1), a.get(3), 0, Some(w), Reply::Ok);
    }
}

/// GETSET key value
pub fn getset(ctx: &mut Ctx, a: Args) {
    set_generic(ctx, a.get(1), a.get(2), SET_GET, None, Reply::Ok);
}

/// Reads a string value for a read command: replies WRONGTYPE for another type.
/// Ok(None) = missing key.
fn read_str<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c [u8]>, ()> {
    let now = ctx.now;
    let i = ctx.db;
    let ks = &mut *ctx.ks;
    match ks.dbs[i].get(key, now, &mut ks.stats) {
        Some(Value::Str(s)) => Ok(Some(&s[..])),
        #[allow(unreachable_patterns)]
        Some(_) => {
            ctx.reply.error(WRONGTYPE);
            Err(())
        }
        None => Ok(None),
    }
}

/// GET key
pub fn get(ctx: &mut Ctx, a: Args) {
    let now = ctx.now;
    let i = ctx.db;
    let ks = &mut *ctx.ks;
    match ks.dbs[i].get(a.get(1), now, &mut ks.stats) {
        Some(Value::Str(s)) => ctx.reply.bulk(s),
        #[allow(unreachable_patterns)]
        Some(_) => ctx.reply.error(WRONGTYPE),
        None => ctx.reply.null(),
    }
}

/// GETDEL key
pub fn getdel(ctx: &mut Ctx, a: Args) {
    let key = a.get(1);
    let v = match read_str(ctx, key) {
        Ok(Some(v)) => v.to_vec(),
        Ok(None) => return ctx.reply.null(),
        Err(()) => return,
    };
    ctx.db().take(key);
    ctx.notify(GENERIC, "del", key);
    ctx.dirty += 1;
    ctx.rewrite(&[b"DEL" as &[u8], key]);
    ctx.reply.bulk(&v);
}

/// GETEX key [EX s|PX ms|EXAT ts|PXAT ms|PERSIST]
pub fn getex(ctx: &mut Ctx, a: Args) {
    let mut expire: Option<(&[u8], Unit, bool)> = None;
    let mut kind = None;
    let mut persist = false;
    let mut j = 2;
    while j < a.len() {
        let opt = a.get(j);
        let has_next = j + 1 < a.len();
        if eq_ic(opt, "persist") && expire.is_none() {
            persist = true;
        } else if !persist
            && has_next
            && expire_opt(opt).is_some_and(|k| kind.is_none_or(|e| e == k))
        {
            kind = expire_opt(opt);
            let unit = if eq_ic(opt, "ex") || eq_ic(opt, "exat") {
                Unit::Seconds
            } else {
                Unit::Millis
            };
            let absolute = eq_ic(opt, "exat") || eq_ic(opt, "pxat");
            j += 1;
            expire = Some((a.get(j), unit, absolute));
        } else {
            return ctx.reply.error(SYNTAX);
        }
        j += 1;
    }
    let when = match expire {
        Some((arg, unit, absolute)) => match expire_time(ctx, arg, unit, absolute, "getex") {
            Some(w) => Some(w),
            None => return,
        },
        None => None,
    };
    let key = a.get(1);
    let v = match read_str(ctx, key) {
        Ok(Some(v)) => v.to_vec(),
        Ok(None) => return ctx.reply.null(),
        Err(()) => return,
    };
    let now = ctx.now;
    if let Some(w) = when {
        if w <= now {
            ctx.db().take(key);
            ctx.notify(GENERIC, "del", key);
            ctx.rewrite(&[b"DEL" as &[u8], key]);
        } else {
            ctx.db().set_expire(key, w);
            ctx.notify(GENERIC, "expire", key);
            let ms = w.to_string();
            ctx.rewrite(&[b"PEXPIREAT" as &[u8], key, ms.as_bytes()]);
        }
        ctx.dirty += 1;
    } else if persist && ctx.db().persist(key) {
        ctx.notify(GENERIC, "persist", key);
        ctx.rewrite(&[b"PERSIST" as &[u8], key]);
        ctx.dirty += 1;
    }
    ctx.reply.bulk(&v);
}

/// MGET key [key ...]
pub fn mget(ctx: &mut Ctx, a: Args) {
    ctx.reply.array(a.len() - 1);
    let now = ctx.now;
    let i = ctx.db;
    for k in a.tail(1).iter() {
        let ks = &mut *ctx.ks;
        match ks.dbs[i].get(k, now, &mut ks.stats) {
            Some(Value::Str(s)) => ctx.reply.bulk(s),
            #[allow(unreachable_patterns)]
            _ => ctx.reply.null(),
        }
    }
}

fn mset_generic(ctx: &mut Ctx, a: Args, nx: bool) {
    if a.len().is_multiple_of(2) {
        let name = if nx { "msetnx" } else { "mset" };
        return ctx.reply.error(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ));
    }
    let now = ctx.now;
    if nx {
        let mut j = 1;
        while j < a.len() {
            if ctx.db().exists(a.get(j), now) {
                return ctx.reply.int(0);
            }
            j += 2;
        }
    }
    let mut j = 1;
    while j < a.len() {
        ctx.set_key(a.get(j), Value::from_bytes(a.get(j + 1)), false);
        ctx.notify(STRING, "set", a.get(j));
        j += 2;
    }
    ctx.dirty += ((a.len() - 1) / 2) as u64;
    if nx {
        ctx.reply.int(1);
    } else {
        ctx.reply.ok();
    }
}

/// MSET key value [key value ...]
pub fn mset(ctx: &mut Ctx, a: Args) {
    mset_generic(ctx, a, false);
}

/// MSETNX key value [key value ...]
pub fn msetnx(ctx: &mut Ctx, a: Args) {
    mset_generic(ctx, a, true);
}

/// Looks a key up for a write: Ok(None) = missing; Err = replied WRONGTYPE.
fn write_str<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c mut CompactBytes>, ()> {
    let now = ctx.now;
    let i = ctx.db;
    match ctx.ks.dbs[i].get_mut(key, now) {
        Some(Value::Str(s)) => Ok(Some(s)),
        Some(_) => {
            ctx.reply.error(WRONGTYPE);
            Err(())
        }
        None => Ok(None),
    }
}

fn check_len(ctx: &mut Ctx, total: u64) -> bool {
    if total > ctx.proto_max_bulk_len as u64 {
        ctx.reply.error(TOO_BIG);
        return false;
    }
    true
}

/// APPEND key value
pub fn append(ctx: &mut Ctx, a: Args) {
    let key = a.get(1);
    let add = a.get(2);
    let max = ctx.proto_max_bulk_len as u64;
    let cur_len = match write_str(ctx, key) {
        Err(()) => return,
        Ok(None) => None,
        Ok(Some(s)) => Some(s.len()),
    };
    match cur_len {
        None => {
            ctx.set_key(key, Value::from_bytes(add), true);
            ctx.notify(STRING, "append", key);
            ctx.dirty += 1;
            ctx.reply.int(add.len() as i64);
        }
        Some(len) => {
            if (len + add.len()) as u64 > max {
                return ctx.reply.error(TOO_BIG);
            }
            let mut newlen = 0;
            if let Ok(Some(s)) = write_str(ctx, key) {
                s.extend_from_slice(add);
                newlen = s.len();
            }
            ctx.db().mark_raw(key);
            ctx.notify(STRING, "append", key);
            ctx.dirty += 1;
            ctx.reply.int(newlen as i64);
        }
    }
}

/// STRLEN key
pub fn strlen(ctx: &mut Ctx, a: Args) {
    match read_str(ctx, a.get(1)) {
        Ok(Some(s)) => {
            let n = s.len() as i64;
            ctx.reply.int(n)
        }
        Ok(None) => ctx.reply.int(0),
        Err(()) => {}
    }
}

/// GETRANGE key start end (and SUBSTR)
pub fn getrange(ctx: &mut Ctx, a: Args) {
    let (Some(mut start), Some(mut end)) = (num::string2ll(a.get(2)), num::string2ll(a.get(3)))
    else {
        return ctx.reply.error(NOT_INT);
    };
    let s = match read_str(ctx, a.get(1)) {
        Ok(Some(s)) => s,
        Ok(None) => return ctx.reply.bulk(b""),
        Err(()) => return,
    };
    if start < 0 && end < 0 && start > end {
        return ctx.reply.bulk(b"");
    }
    let len = s.len() as i64;
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return ctx.reply.bulk(b"");
    }
    let sub = s[start as usize..=end as usize].to_vec();
    ctx.reply.bulk(&sub);
}

/// SETRANGE key offset value
pub fn setrange(ctx: &mut Ctx, a: Args) {
    let key = a.get(1);
    let val = a.get(3);
    let Some(offset) = int_arg(ctx.reply, a.get(2)) else {
        return;
    };
    if offset < 0 {
        return ctx.reply.error("ERR offset is out of range");
    }
    let offset = offset as u64;
    let cur = match write_str(ctx, key) {
        Err(()) => return,
        Ok(None) => None,
        Ok(Some(s)) => Some(s.len()),
    };
    match cur {
        None => {
            if val.is_empty() {
                return ctx.reply.int(0);
            }
            if !check_len(ctx, offset + val.len() as u64) {
                return;
            }
            let mut v = vec![0u8; offset as usize];
            v.extend_from_slice(val);
            let n = v.len();
            ctx.set_key(key, Value::Str(v.into()), true);
            ctx.db().mark_raw(key);
            ctx.notify(STRING, "setrange", key);
            ctx.dirty += 1;
            ctx.reply.int(n as i64);
        }
        Some(len) => {
            if val.is_empty() {
                return ctx.reply.int(len as i64);
            }
            if !check_len(ctx, offset + val.len() as u64) {
                return;
            }
            let mut n = 0;
            if let Ok(Some(s)) = write_str(ctx, key) {
                s.write_at(offset as usize, val);
                n = s.len();
            }
            ctx.db().mark_raw(key);
            ctx.notify(STRING, "setrange", key);
            ctx.dirty += 1;
            ctx.reply.int(n as i64);
        }
    }
}

fn incr_generic(ctx: &mut Ctx, key: &[u8], by: i64) {
    let cur = match write_str(ctx, key) {
        Err(()) => return,
        Ok(None) => 0,
        Ok(Some(s)) => match num::string2ll(s) {
            Some(v) => v,
            None => return ctx.reply.error(NOT_INT),
        },
    };
    let Some(new) = cur.checked_add(by) else {
        return ctx.reply.error("ERR increment or decrement would overflow");
    };
    let mut buf = [0u8; 20];
    let digits = cinnabar_resp::reply::fmt_i64(new, &mut buf);
    ctx.set_key(key, Value::from_bytes(digits), true);
    ctx.notify(STRING, "incrby", key);
    ctx.dirty += 1;
    ctx.reply.int(new);
}

/// INCR key
pub fn incr(ctx: &mut Ctx, a: Args) {
    incr_generic(ctx, a.get(1), 1);
}

/// DECR key
pub fn decr(ctx: &mut Ctx, a: Args) {
    incr_generic(ctx, a.get(1), -1);
}

/// INCRBY key increment
pub fn incrby(ctx: &mut Ctx, a: Args) {
    if let Some(by) = int_arg(ctx.reply, a.get(2)) {
        incr_generic(ctx, a.get(1), by);
    }
}

/// DECRBY key decrement
pub fn decrby(ctx: &mut Ctx, a: Args) {
    if let Some(by) = int_arg(ctx.reply, a.get(2)) {
        if by == i64::MIN {
            return ctx.reply.error("ERR decrement would overflow");
        }
        incr_generic(ctx, a.get(1), -by);
    }
}

/// INCRBYFLOAT key increment (computed in C long double, formatted as Redis does)
pub fn incrbyfloat(ctx: &mut Ctx, a: Args) {
    let key = a.get(1);
    let cur: Vec<u8> = match write_str(ctx, key) {
        Err(()) => return,
        Ok(None) => b"0".to_vec(),
        Ok(Some(s)) => s.to_vec(),
    };
    match num::incr_by_float(&cur, a.get(2)) {
        Ok(new) => {
            ctx.set_key(key, Value::from_bytes(&new), true);
            ctx.notify(STRING, "incrbyfloat", key);
            ctx.dirty += 1;
            // Propagated as the value it produced, so float formatting never diverges.
            ctx.rewrite(&[b"SET" as &[u8], key, &new, b"KEEPTTL"]);
            ctx.reply.bulk(&new);
        }
        Err(num::IncrFloatError::NotAFloat) => ctx.reply.error("ERR value is not a valid float"),
        Err(num::IncrFloatError::NanOrInfinity) => ctx
            .reply
            .error("ERR increment would produce NaN or Infinity"),
    }
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]
pub fn lcs(ctx: &mut Ctx, a: Args) {
    let now = ctx.now;
    let i = ctx.db;
    let fetch = |ctx: &mut Ctx, k: &[u8]| -> Result<Vec<u8>, ()> {
        let ks = &mut *ctx.ks;
        match ks.dbs[i].get(k, now, &mut ks.stats) {
            Some(Value::Str(s)) => Ok(s.to_vec()),
            #[allow(unreachable_patterns)]
            Some(_) => Err(()),
            None => Ok(Vec::new()),
        }
    };
    let (sa, sb) = match (fetch(ctx, a.get(1)), fetch(ctx, a.get(2))) {
        (Ok(x), Ok(y)) => (x, y),
        _ => {
            return ctx
                .reply
                .error("ERR The specified keys must contain string values")
        }
    };
    let (mut getlen, mut getidx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while j < a.len() {
        let opt = a.get(j);
        let more = a.len() - 1 - j;
        if eq_ic(opt, "idx") {
            getidx = true;
        } else if eq_ic(opt, "len") {
            getlen = true;
        } else if eq_ic(opt, "withmatchlen") {
            withmatchlen = true;
        } else if eq_ic(opt, "minmatchlen") && more > 0 {
            let Some(v) = int_arg(ctx.reply, a.get(j + 1)) else {
                return;
            };
            minmatchlen = v.max(0);
            j += 1;
        } else {
            return ctx.reply.error(SYNTAX);
        }
        j += 1;
    }
    if getlen && getidx {
        return ctx
            .reply
            .error("ERR If you want both the length and indexes, please just use IDX.");
    }
    let (alen, blen) = (sa.len(), sb.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells.saturating_mul(4) > ctx.proto_max_bulk_len as u64 {
        return ctx
            .reply
            .error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    let w = blen + 1;
    let mut t = vec![0u32; cells as usize];
    for x in 1..=alen {
        for y in 1..=blen {
            t[x * w + y] = if sa[x - 1] == sb[y - 1] {
                t[(x - 1) * w + y - 1] + 1
            } else {
                t[(x - 1) * w + y].max(t[x * w + y - 1])
            };
        }
    }
    let total = t[alen * w + blen];
    let compute = getidx || !getlen;
    let mut result = vec![0u8; if compute { total as usize } else { 0 }];
    let mut idx = total as usize;
    let mut ranges: Vec<(usize, usize, usize, usize)> = Vec::new();
    let (mut x, mut y) = (alen, blen);
    let unset = alen;
    let (mut as_, mut ae, mut bs, mut be) = (unset, 0usize, 0usize, 0usize);
    while compute && x > 0 && y > 0 {
        let mut emit = false;
        if sa[x - 1] == sb[y - 1] {
            result[idx - 1] = sa[x - 1];
            if as_ == unset {
                as_ = x - 1;
                ae = x - 1;
                bs = y - 1;
                be = y - 1;
            } else if as_ == x && bs == y {
                as_ -= 1;
                bs -= 1;
            } else {
                emit = true;
            }
            if as_ == 0 || bs == 0 {
                emit = true;
            }
            idx -= 1;
            x -= 1;
            y -= 1;
        } else {
            if t[(x - 1) * w + y] > t[x * w + y - 1] {
                x -= 1;
            } else {
                y -= 1;
            }
            if as_ != unset {
                emit = true;
            }
        }
        if emit {
            let mlen = ae.wrapping_sub(as_).wrapping_add(1);
            if minmatchlen == 0 || mlen as i64 >= minmatchlen {
                ranges.push((as_, ae, bs, be));
            }
            as_ = unset;
        }
    }
    if getidx {
        let r = &mut *ctx.reply;
        r.map(2);
        r.bulk(b"matches");
        r.array(ranges.len());
        for (as_, ae, bs, be) in ranges {
            r.array(if withmatchlen { 3 } else { 2 });
            r.array(2);
            r.int(as_ as i64);
            r.int(ae as i64);
            r.array(2);
            r.int(bs as i64);
            r.int(be as i64);
            if withmatchlen {
                r.int((ae - as_ + 1) as i64);
            }
        }
        r.bulk(b"len");
        r.int(total as i64);
    } else if getlen {
        ctx.reply.int(total as i64);
    } else {
        ctx.reply.bulk(&result);
    }
}
