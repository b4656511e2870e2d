//! List commands, blocking ones included: LPUSH/RPUSH(X), LPOP/RPOP, LLEN, LINDEX, LSET,
//! LRANGE, LTRIM, LREM, LINSERT, LPOS, LMOVE, RPOPLPUSH, LMPOP, BLPOP, BRPOP, BLMOVE,
//! BRPOPLPUSH, BLMPOP. Checks happen in Redis's order (argument parsing before or after the key
//! lookup exactly where Redis does it), so errors match.

use crate::blocking::{parse_timeout, BlockType, TimeoutReply};
use crate::table::{def, ks, ks_keynum, Def, Extra, Handler::Data, K1, NOKEY};
use crate::util::{eq_ic, int_arg, SYNTAX};
use crate::Ctx;
use cinnabar_keyspace::db::Keyspace;
use cinnabar_keyspace::notify::{GENERIC, LIST};
use cinnabar_keyspace::types::list::{End, ListValue};
use cinnabar_keyspace::value::{Value, WRONGTYPE};
use cinnabar_resp::Args;
use cinnabar_util::num;

const K12: (i32, i32, i32) = (1, 2, 1);

pub static DEFS: &[Def] = &[
    def!(
        "lpush",
        -3,
        "write denyoom fast",
        K1,
        "list",
        "list",
        "1.0.0",
        "Prepend elements to a list",
        Data(lpush)
    ),
    def!(
        "rpush",
        -3,
        "write denyoom fast",
        K1,
        "list",
        "list",
        "1.0.0",
        "Append elements to a list",
        Data(rpush)
    ),
    def!(
        "lpushx",
        -3,
        "write denyoom fast",
        K1,
        "list",
        "list",
        "2.2.0",
        "Prepend elements to an existing list",
        Data(lpushx)
    ),
    def!(
        "rpushx",
        -3,
        "write denyoom fast",
        K1,
        "list",
        "list",
        "2.2.0",
        "Append elements to an existing list",
        Data(rpushx)
    ),
    def!(
        "lpop",
        -2,
        "write fast",
        K1,
        "list",
        "list",
        "1.0.0",
        "Remove and return the first elements of a list",
        Data(lpop)
    ),
    def!(
        "rpop",
        -2,
        "write fast",
        K1,
        "list",
        "list",
        "1.0.0",
        "Remove and return the last elements of a list",
        Data(rpop)
    ),
    def!(
        "llen",
        2,
        "readonly fast",
        K1,
        "list",
        "list",
        "1.0.0",
        "Get the length of a list",
        Data(llen)
    ),
    def!(
        "lindex",
        3,
        "readonly",
        K1,
        "list",
        "list",
        "1.0.0",
        "Get an element of a list by its index",
        Data(lindex)
    ),
    def!(
        "lset",
        4,
        "write denyoom",
        K1,
        "list",
        "list",
        "1.0.0",
        "Set the element at an index of a list",
        Data(lset)
    ),
    def!(
        "lrange",
        4,
        "readonly",
        K1,
        "list",
        "list",
        "1.0.0",
        "Get a range of elements of a list",
        Data(lrange)
    ),
    def!(
        "ltrim",
        4,
        "write",
        K1,
        "list",
        "list",
        "1.0.0",
        "Trim a list to a range",
        Data(ltrim)
    ),
    def!(
        "lrem",
        4,
        "write",
        K1,
        "list",
        "list",
        "1.0.0",
        "Remove elements equal to a value from a list",
        Data(lrem)
    ),
    def!(
        "linsert",
        5,
        "write denyoom",
        K1,
        "list",
        "list",
        "2.2.0",
        "Insert an element before or after another one",
        Data(linsert)
    ),
    def!(
        "lpos",
        -3,
        "readonly",
        K1,
        "list",
        "list",
        "6.0.6",
        "Find the positions of matching elements in a list",
        Data(lpos)
    ),
    def!(
        "lmove",
        5,
        "write denyoom",
        K12,
        "list",
        "list",
        "6.2.0",
        "Pop an element from one list and push it to another",
        Data(lmove)
    ),
    def!(
        "rpoplpush",
        3,
        "write denyoom",
        K12,
        "list",
        "list",
        "1.2.0",
        "Pop the last element of a list and push it to the head of another",
        Data(rpoplpush)
    ),
    def!(
        "lmpop",
        -4,
        "write",
        NOKEY,
        "list",
        "list",
        "7.0.0",
        "Pop elements from the first non-empty list of several",
        Data(lmpop)
    ),
    def!(
        "blpop",
        -3,
        "write noscript blocking",
        (1, -2, 1),
        "list",
        "list",
        "2.0.0",
        "Pop the first element of the first non-empty list, or block",
        Data(blpop)
    ),
    def!(
        "brpop",
        -3,
        "write noscript blocking",
        (1, -2, 1),
        "list",
        "list",
        "2.0.0",
        "Pop the last element of the first non-empty list, or block",
        Data(brpop)
    ),
    def!(
        "blmove",
        6,
        "write denyoom noscript blocking",
        K12,
        "list",
        "list",
        "6.2.0",
        "LMOVE, or block until the source has an element",
        Data(blmove)
    ),
    def!(
        "brpoplpush",
        4,
        "write denyoom noscript blocking",
        K12,
        "list",
        "list",
        "2.2.0",
        "RPOPLPUSH, or block until the source has an element",
        Data(brpoplpush)
    ),
    def!(
        "blmpop",
        -5,
        "write blocking",
        NOKEY,
        "list",
        "list",
        "7.0.0",
        "LMPOP, or block until one of the lists has elements",
        Data(blmpop)
    ),
];

const POP: &[crate::table::KeySpec] = &[ks("RW access delete", 1, 0, 1)];
const PUSH: &[crate::table::KeySpec] = &[ks("RW insert", 1, 0, 1)];
const MOVE: &[crate::table::KeySpec] = &[ks("RW access delete", 1, 0, 1), ks("RW insert", 2, 0, 1)];

pub static EXTRAS: &[Extra] = &[
    ("lpush", "", PUSH),
    ("rpush", "", PUSH),
    ("lpushx", "", PUSH),
    ("rpushx", "", PUSH),
    ("lpop", "", POP),
    ("rpop", "", POP),
    ("llen", "", &[ks("RO", 1, 0, 1)]),
    ("lindex", "", &[ks("RO access", 1, 0, 1)]),
    ("lset", "", &[ks("RW update", 1, 0, 1)]),
    ("lrange", "", &[ks("RO access", 1, 0, 1)]),
    ("ltrim", "", &[ks("RW delete", 1, 0, 1)]),
    ("lrem", "", &[ks("RW delete", 1, 0, 1)]),
    ("linsert", "", PUSH),
    ("lpos", "", &[ks("RO access", 1, 0, 1)]),
    ("lmove", "", MOVE),
    ("rpoplpush", "", MOVE),
    ("lmpop", "", &[ks_keynum("RW access delete", 1, 0, 1, 1)]),
    ("blpop", "", &[ks("RW access delete", 1, -2, 1)]),
    ("brpop", "", &[ks("RW access delete", 1, -2, 1)]),
    ("blmove", "", MOVE),
    ("brpoplpush", "", MOVE),
    ("blmpop", "", &[ks_keynum("RW access delete", 2, 0, 1, 1)]),
];

const NO_KEY: &str = "ERR no such key";
const OUT_OF_RANGE: &str = "ERR index out of range";
const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";

/// What a lookup found.
enum Found {
    Missing,
    List,
    WrongType,
}

fn probe(ctx: &mut Ctx, key: &[u8]) -> Found {
    let now = ctx.now;
    match ctx.db().peek(key, now) {
        None => Found::Missing,
        Some(Value::List(_)) => Found::List,
        Some(_) => Found::WrongType,
    }
}

/// The list at `key` for reading (counts a hit or miss); Err after replying WRONGTYPE.
fn read_list<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c ListValue>, ()> {
    let now = ctx.now;
    let i = ctx.db;
    let ks = &mut *ctx.ks;
    match ks.dbs[i].get(key, now, &mut ks.stats) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => {
            ctx.reply.error(WRONGTYPE);
            Err(())
        }
    }
}

fn list_mut<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Option<&'c mut ListValue> {
    list_in(ctx.ks, ctx.db, key, ctx.now)
}

/// The list at `key`, borrowing only the keyspace (so the reply buffer stays usable).
fn list_in<'k>(ks: &'k mut Keyspace, db: usize, key: &[u8], now: i64) -> Option<&'k mut ListValue> {
    match ks.dbs[db].get_mut(key, now) {
        Some(Value::List(l)) => Some(l),
        _ => None,
    }
}

/// Deletes `key` if its list became empty.
fn drop_if_empty(ctx: &mut Ctx, key: &[u8]) {
    if list_mut(ctx, key).is_some_and(|l| l.is_empty()) {
        let now = ctx.now;
        ctx.db().remove(key, now);
        ctx.notify(GENERIC, "del", key);
    }
}

/// The keyspace event of pushing at / popping from `end`.
fn push_event(end: End) -> &'static str {
    match end {
        End::Head => "lpush",
        End::Tail => "rpush",
    }
}

fn pop_event(end: End) -> &'static str {
    match end {
        End::Head => "lpop",
        End::Tail => "rpop",
    }
}

fn push_generic(ctx: &mut Ctx, a: Args, end: End, only_existing: bool) {
    let key = a.get(1);
    match probe(ctx, key) {
        Found::WrongType => return ctx.reply.error(WRONGTYPE),
        Found::Missing if only_existing => return ctx.reply.int(0),
        Found::Missing => {
            let now = ctx.now;
            ctx.db()
                .set(key, Value::List(Box::new(ListValue::new())), false, now);
        }
        Found::List => {}
    }
    let Some(l) = list_mut(ctx, key) else {
        return ctx.reply.int(0);
    };
    for v in a.tail(2).iter() {
        l.push(end, v);
    }
    let n = l.len();
    ctx.dirty += (a.len() - 2) as u64;
    ctx.reply.int(n as i64);
    ctx.notify(LIST, push_event(end), key);
}

/// LPUSH key element [element ...]
pub fn lpush(ctx: &mut Ctx, a: Args) {
    push_generic(ctx, a, End::Head, false);
}

/// RPUSH key element [element ...]
pub fn rpush(ctx: &mut Ctx, a: Args) {
    push_generic(ctx, a, End::Tail, false);
}

/// LPUSHX key element [element ...]
pub fn lpushx(ctx: &mut Ctx, a: Args) {
    push_generic(ctx, a, End::Head, true);
}

/// RPUSHX key element [element ...]
pub fn rpushx(ctx: &mut Ctx, a: Args) {
    push_generic(ctx, a, End::Tail, true);
}

/// Replies up to `count` elements popped from `end` as an array (no key).
fn pop_range_reply(ctx: &mut Ctx, key: &[u8], end: End, count: usize) -> usize {
    let Some(l) = list_in(ctx.ks, ctx.db, key, ctx.now) else {
        ctx.reply.array(0);
        return 0;
    };
    let n = count.min(l.len());
    ctx.reply.array(n);
    for _ in 0..n {
        if let Some(v) = l.pop(end) {
            ctx.reply.bulk(&v);
        }
    }
    ctx.dirty += n as u64;
    ctx.notify(LIST, pop_event(end), key);
    drop_if_empty(ctx, key);
    n
}

fn pop_one(ctx: &mut Ctx, key: &[u8], end: End) -> Option<Vec<u8>> {
    let v = list_mut(ctx, key)?.pop(end)?.to_vec();
    ctx.dirty += 1;
    ctx.notify(LIST, pop_event(end), key);
    drop_if_empty(ctx, key);
    Some(v)
}

/// A positive count argument (`getPositiveLongFromObjectOrReply`).
fn positive(ctx: &mut Ctx, arg: &[u8], msg: Option<&str>) -> Option<i64> {
    match num::string2ll(arg) {
        Some(v) if v >= 0 => Some(v),
        Some(_) => {
            ctx.reply.error(msg.unwrap_or(NOT_POSITIVE));
            None
        }
        None => {
            ctx.reply.error(msg.unwrap_or(NOT_POSITIVE));
            None
        }
    }
}

fn pop_generic(ctx: &mut Ctx, a: Args, end: End) {
    if a.len() > 3 {
        let name = if end == End::Head { "lpop" } else { "rpop" };
        return ctx.reply.error(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ));
    }
    let has_count = a.len() == 3;
    let count = if has_count {
        match positive(ctx, a.get(2), None) {
            Some(c) => c,
            None => return,
        }
    } else {
        0
    };
    let key = a.get(1);
    match probe(ctx, key) {
        Found::WrongType => return ctx.reply.error(WRONGTYPE),
        Found::Missing if has_count => return ctx.reply.null_array(),
        Found::Missing => return ctx.reply.null(),
        Found::List => {}
    }
    if has_count && count == 0 {
        return ctx.reply.array(0);
    }
    if !has_count {
        match pop_one(ctx, key, end) {
            Some(v) => ctx.reply.bulk(&v),
            None => ctx.reply.null(),
        }
        return;
    }
    pop_range_reply(ctx, key, end, count as usize);
}

/// LPOP key [count]
pub fn lpop(ctx: &mut Ctx, a: Args) {
    pop_generic(ctx, a, End::Head);
}

/// RPOP key [count]
pub fn rpop(ctx: &mut Ctx, a: Args) {
    pop_generic(ctx, a, End::Tail);
}

/// LLEN key
pub fn llen(ctx: &mut Ctx, a: Args) {
    match read_list(ctx, a.get(1)) {
        Ok(Some(l)) => {
            let n = l.len();
            ctx.reply.int(n as i64)
        }
        Ok(None) => ctx.reply.int(0),
        Err(()) => {}
    }
}

/// LINDEX key index
pub fn lindex(ctx: &mut Ctx, a: Args) {
    let key = a.get(1);
    match read_list(ctx, key) {
        Ok(Some(_)) => {}
        Ok(None) => return ctx.reply.null(),
        Err(()) => return,
    }
    let Some(idx) = int_arg(ctx.reply, a.get(2)) else {
        return;
    };
    let now = ctx.now;
    let v = match ctx.db().peek(key, now) {
        Some(Value::List(l)) => l.position(idx).and_then(|p| l.get(p)).map(|v| v.to_vec()),
        _ => None,
    };
    match v {
        Some(v) => ctx.reply.bulk(&v),
        None => ctx.reply.null(),
    }
}

/// LSET key index element
pub fn lset(ctx: &mut Ctx, a: Args) {
    let key = a.get(1);
    match probe(ctx, key) {
        Found::WrongType => return ctx.reply.error(WRONGTYPE),
        Found::Missing => return ctx.reply.error(NO_KEY),
        Found::List => {}
    }
    let Some(idx) = int_arg(ctx.reply, a.get(2)) else {
        return;
    };
    let Some(l) = list_mut(ctx, key) else {
        return ctx.reply.error(NO_KEY);
    };
    match l.position(idx) {
        Some(p) => {
            l.set(p, a.get(3));
            ctx.dirty += 1;
            ctx.notify(LIST, "lset", key);
            ctx.reply.ok();
        }
        None => ctx.reply.error(OUT_OF_RANGE),
    }
}

/// Resolves a Redis [start, end] range over `len` elements to (start, count).
fn resolve_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 {
        len.saturating_add(start)
    } else {
        start
    };
    let mut e = if end < 0 {
        len.saturating_add(end)
    } else {
        end
    };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return None;
    }
    if e >= len {
        e = len - 1;
    }
    Some((s as usize, (e - s + 1) as usize))
}

/// LRANGE key start stop
pub fn lrange(ctx: &mut Ctx, a: Args) {
    let Some(start) = int_arg(ctx.reply, a.get(2)) else {
        return;
    };
    let Some(end) = int_arg(ctx.reply, a.get(3)) else {
        return;
    };
    let now = ctx.now;
    let i = ctx.db;
    let ks = &mut *ctx.ks;
    match ks.dbs[i].get(a.get(1), now, &mut ks.stats) {
        None => ctx.reply.array(0),
        Some(Value::List(l)) => match resolve_range(start, end, l.len()) {
            None => ctx.reply.array(0),
            Some((s, n)) => {
                ctx.reply.array(n);
                for v in l.range(s, n) {
                    ctx.reply.bulk(v);
                }
            }
        },
        Some(_) => ctx.reply.error(WRONGTYPE),
    }
}

/// LTRIM key start stop
pub fn ltrim(ctx: &mut Ctx, a: Args) {
    let Some(start) = int_arg(ctx.reply, a.get(2)) else {
        return;
    };
    let Some(end) = int_arg(ctx.reply, a.get(3)) else {
        return;
    };
    let key = a.get(1);
    match probe(ctx, key) {
        Found::WrongType => return ctx.reply.error(WRONGTYPE),
        Found::Missing => return ctx.reply.ok(),
        Found::List => {}
    }
    if let Some(l) = list_mut(ctx, key) {
        let len = l.len();
        let (ltrim, rtrim) = match resolve_range(start, end, len) {
            None => (len, 0),
            Some((s, n)) => (s, len - s - n),
        };
        l.trim(ltrim, rtrim);
        ctx.dirty += (ltrim + rtrim) as u64;
    }
    ctx.notify(LIST, "ltrim", key);
    drop_if_empty(ctx, key);
    ctx.reply.ok();
}

/// LREM key count element
pub fn lrem(ctx: &mut Ctx, a: Args) {
    let Some(count) = int_arg(ctx.reply, a.get(2)) else {
        return;
    };
    let key = a.get(1);
    match probe(ctx, key) {
        Found::WrongType => return ctx.reply.error(WRONGTYPE),
        Found::Missing => return ctx.reply.int(0),
        Found::List => {}
    }
    let limit = count.unsigned_abs().min(usize::MAX as u64) as usize;
    let removed = list_mut(ctx, key).map_or(0, |l| l.remove_matching(a.get(3), limit, count < 0));
    ctx.dirty += removed as u64;
    if removed > 0 {
        ctx.notify(LIST, "lrem", key);
        drop_if_empty(ctx, key);
    }
    ctx.reply.int(removed as i64);
}

/// LINSERT key BEFORE|AFTER pivot element
pub fn linsert(ctx: &mut Ctx, a: Args) {
    let after = if eq_ic(a.get(2), "after") {
        true
    } else if eq_ic(a.get(2), "before") {
        false
    } else {
        return ctx.reply.error(SYNTAX);
    };
    let key = a.get(1);
    match probe(ctx, key) {
        Found::WrongType => return ctx.reply.error(WRONGTYPE),
        Found::Missing => return ctx.reply.int(0),
        Found::List => {}
    }
    let Some(l) = list_in(ctx.ks, ctx.db, key, ctx.now) else {
        return ctx.reply.int(0);
    };
    let pivot = a.get(3);
    let pos = l.iter().position(|v| v == pivot);
    match pos {
        Some(p) => {
            l.insert(if after { p + 1 } else { p }, a.get(4));
            let n = l.len();
            ctx.dirty += 1;
            ctx.reply.int(n as i64);
            ctx.notify(LIST, "linsert", key);
        }
        None => ctx.reply.int(-1),
    }
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
pub fn lpos(ctx: &mut Ctx, a: Args) {
    let (mut rank, mut count, mut maxlen) = (1i64, -1i64, 0i64);
    let mut j = 3;
    while j < a.len() {
        let opt = a.get(j);
        let more = j + 1 < a.len();
        if eq_ic(opt, "rank") && more {
            j += 1;
            let Some(r) = int_arg(ctx.reply, a.get(j)) else {
                return;
            };
            if r == 0 {
                return ctx.reply.error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
            }
            rank = r;
        } else if eq_ic(opt, "count") && more {
            j += 1;
            let Some(c) = positive(ctx, a.get(j), Some("ERR COUNT can't be negative")) else {
                return;
            };
            count = c;
        } else if eq_ic(opt, "maxlen") && more {
            j += 1;
            let Some(m) = positive(ctx, a.get(j), Some("ERR MAXLEN can't be negative")) else {
                return;
            };
            maxlen = m;
        } else {
            return ctx.reply.error(SYNTAX);
        }
        j += 1;
    }
    let from_tail = rank < 0;
    let rank = rank.unsigned_abs();
    let key = a.get(1);
    let elem = a.get(2);
    let now = ctx.now;
    let i = ctx.db;
    let ks = &mut *ctx.ks;
    let l = match ks.dbs[i].get(key, now, &mut ks.stats) {
        None => {
            return if count != -1 {
                ctx.reply.array(0)
            } else {
                ctx.reply.null()
            }
        }
        Some(Value::List(l)) => l,
        Some(_) => return ctx.reply.error(WRONGTYPE),
    };
    let len = l.len();
    let limit = if maxlen == 0 {
        len
    } else {
        (maxlen as usize).min(len)
    };
    let mut found: Vec<i64> = Vec::new();
    let mut matches = 0u64;
    let want = if count == -1 { 1 } else { count as u64 };
    let mut scan = |idx: usize, v: &[u8]| -> bool {
        if v == elem {
            matches += 1;
            if matches >= rank {
                found.push(idx as i64);
                if want != 0 && found.len() as u64 >= want {
                    return false;
                }
            }
        }
        true
    };
    if from_tail {
        for (k, v) in l.iter().rev().take(limit).enumerate() {
            if !scan(len - 1 - k, v) {
                break;
            }
        }
    } else {
        for (k, v) in l.iter().take(limit).enumerate() {
            if !scan(k, v) {
                break;
            }
        }
    }
    if count != -1 {
        ctx.reply.array(found.len());
        for f in found {
            ctx.reply.int(f);
        }
    } else {
        match found.first() {
            Some(&f) => ctx.reply.int(f),
            None => ctx.reply.null(),
        }
    }
}

fn side(ctx: &mut Ctx, arg: &[u8]) -> Option<End> {
    if eq_ic(arg, "left") {
        Some(End::Head)
    } else if eq_ic(arg, "right") {
        Some(End::Tail)
    } else {
        ctx.reply.error(SYNTAX);
        None
    }
}

/// The shared part of LMOVE/RPOPLPUSH (and their blocking forms once data is there): the
/// source exists and is a list. Replies the moved element, or WRONGTYPE for the destination.
fn move_generic(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) {
    match probe(ctx, dst) {
        Found::WrongType => return ctx.reply.error(WRONGTYPE),
        Found::Missing | Found::List => {}
    }
    let Some(v) = list_mut(ctx, src).and_then(|l| l.pop(from)) else {
        return ctx.reply.null();
    };
    let now = ctx.now;
    if matches!(probe(ctx, dst), Found::Missing) {
        ctx.db()
            .set(dst, Value::List(Box::new(ListValue::new())), false, now);
    }
    if let Some(d) = list_mut(ctx, dst) {
        d.push(to, &v);
    }
    ctx.notify(LIST, push_event(to), dst);
    ctx.dirty += 1;
    ctx.notify(LIST, pop_event(from), src);
    drop_if_empty(ctx, src);
    ctx.reply.bulk(&v);
}

fn lmove_checked(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) {
    match probe(ctx, src) {
        Found::WrongType => ctx.reply.error(WRONGTYPE),
        Found::Missing => ctx.reply.null(),
        Found::List => move_generic(ctx, src, dst, from, to),
    }
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
pub fn lmove(ctx: &mut Ctx, a: Args) {
    let Some(from) = side(ctx, a.get(3)) else {
        return;
    };
    let Some(to) = side(ctx, a.get(4)) else {
        return;
    };
    lmove_checked(ctx, a.get(1), a.get(2), from, to);
}

/// RPOPLPUSH source destination
pub fn rpoplpush(ctx: &mut Ctx, a: Args) {
    lmove_checked(ctx, a.get(1), a.get(2), End::Tail, End::Head);
}

/// Parses `numkeys key... LEFT|RIGHT [COUNT n]` starting at `at`; None after replying.
fn parse_mpop(ctx: &mut Ctx, a: Args, at: usize) -> Option<(Vec<Vec<u8>>, End, usize)> {
    const NUMKEYS: &str = "ERR numkeys should be greater than 0";
    let numkeys = match num::string2ll(a.get(at)) {
        Some(n) if n >= 1 => n as usize,
        _ => {
            ctx.reply.error(NUMKEYS);
            return None;
        }
    };
    let where_idx = at.saturating_add(numkeys).saturating_add(1);
    if where_idx >= a.len() {
        ctx.reply.error(SYNTAX);
        return None;
    }
    let end = side(ctx, a.get(where_idx))?;
    let mut count: Option<usize> = None;
    let mut j = where_idx + 1;
    while j < a.len() {
        if count.is_none() && eq_ic(a.get(j), "count") && j + 1 < a.len() {
            j += 1;
            match num::string2ll(a.get(j)) {
                Some(c) if c >= 1 => count = Some(c as usize),
                _ => {
                    ctx.reply.error("ERR count should be greater than 0");
                    return None;
                }
            }
        } else {
            ctx.reply.error(SYNTAX);
            return None;
        }
        j += 1;
    }
    let keys = (at + 1..at + 1 + numkeys)
        .map(|i| a.get(i).to_vec())
        .collect();
    Some((keys, end, count.unwrap_or(1)))
}

/// Pops from the first non-empty list of `keys`: [key, [elements]] (with a count) or
/// [key, element]. None if every key is missing; Err after replying WRONGTYPE.
fn pop_first(ctx: &mut Ctx, keys: &[Vec<u8>], end: End, count: Option<usize>) -> Result<bool, ()> {
    for k in keys {
        match probe(ctx, k) {
            Found::Missing => continue,
            Found::WrongType => {
                ctx.reply.error(WRONGTYPE);
                return Err(());
            }
            Found::List => {}
        }
        ctx.reply.array(2);
        ctx.reply.bulk(k);
        // Propagated as the plain pop it amounts to ([LR]POP key [count]), as Redis does.
        let pop: &[u8] = match end {
            End::Head => b"LPOP",
            End::Tail => b"RPOP",
        };
        match count {
            Some(n) => {
                let popped = pop_range_reply(ctx, k, end, n).to_string();
                ctx.rewrite(&[pop, k, popped.as_bytes()]);
            }
            None => {
                match pop_one(ctx, k, end) {
                    Some(v) => ctx.reply.bulk(&v),
                    None => ctx.reply.null(),
                }
                ctx.rewrite(&[pop, k]);
            }
        }
        return Ok(true);
    }
    Ok(false)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub fn lmpop(ctx: &mut Ctx, a: Args) {
    let Some((keys, end, count)) = parse_mpop(ctx, a, 1) else {
        return;
    };
    if let Ok(false) = pop_first(ctx, &keys, end, Some(count)) {
        ctx.reply.null_array();
    }
}

fn blocking_pop(ctx: &mut Ctx, a: Args, end: End) {
    let Some(deadline) = parse_timeout(ctx, a.get(a.len() - 1)) else {
        return;
    };
    let keys: Vec<Vec<u8>> = (1..a.len() - 1).map(|i| a.get(i).to_vec()).collect();
    if let Ok(false) = pop_first(ctx, &keys, end, None) {
        ctx.block_on(keys, deadline, TimeoutReply::NullArray, BlockType::List);
    }
}

/// BLPOP key [key ...] timeout
pub fn blpop(ctx: &mut Ctx, a: Args) {
    blocking_pop(ctx, a, End::Head);
}

/// BRPOP key [key ...] timeout
pub fn brpop(ctx: &mut Ctx, a: Args) {
    blocking_pop(ctx, a, End::Tail);
}

/// `words`: BLMOVE's LEFT|RIGHT arguments as given (propagated as they came, as Redis does);
/// None for BRPOPLPUSH.
fn blocking_move(
    ctx: &mut Ctx,
    src: &[u8],
    dst: &[u8],
    ends: (End, End),
    deadline: i64,
    words: Option<(&[u8], &[u8])>,
) {
    let (from, to) = ends;
    match probe(ctx, src) {
        Found::WrongType => ctx.reply.error(WRONGTYPE),
        // Inside MULTI the answer is a null bulk, but a real timeout answers a null array
        // (Redis 7.0 times out every list block the same way).
        Found::Missing if !ctx.may_block => ctx.reply.null(),
        Found::Missing => ctx.block_on(
            vec![src.to_vec()],
            deadline,
            TimeoutReply::NullArray,
            BlockType::List,
        ),
        Found::List => {
            move_generic(ctx, src, dst, from, to);
            // Propagated as its non-blocking form.
            match words {
                None => ctx.rewrite(&[b"RPOPLPUSH" as &[u8], src, dst]),
                Some((wf, wt)) => ctx.rewrite(&[b"LMOVE" as &[u8], src, dst, wf, wt]),
            }
        }
    }
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
pub fn blmove(ctx: &mut Ctx, a: Args) {
    let Some(from) = side(ctx, a.get(3)) else {
        return;
    };
    let Some(to) = side(ctx, a.get(4)) else {
        return;
    };
    let Some(deadline) = parse_timeout(ctx, a.get(5)) else {
        return;
    };
    blocking_move(
        ctx,
        a.get(1),
        a.get(2),
        (from, to),
        deadline,
        Some((a.get(3), a.get(4))),
    );
}

/// BRPOPLPUSH source destination timeout
pub fn brpoplpush(ctx: &mut Ctx, a: Args) {
    let Some(deadline) = parse_timeout(ctx, a.get(3)) else {
        return;
    };
    blocking_move(
        ctx,
        a.get(1),
        a.get(2),
        (End::Tail, End::Head),
        deadline,
        None,
    );
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub fn blmpop(ctx: &mut Ctx, a: Args) {
    let Some((keys, end, count)) = parse_mpop(ctx, a, 2) else {
        return;
    };
    let Some(deadline) = parse_timeout(ctx, a.get(1)) else {
        return;
    };
    if let Ok(false) = pop_first(ctx, &keys, end, Some(count)) {
        ctx.block_on(keys, deadline, TimeoutReply::NullArray, BlockType::List);
    }
}
