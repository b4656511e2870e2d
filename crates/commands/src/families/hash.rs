//! Hash commands: HSET, HSETNX, HGET, HMGET, HMSET, HDEL, HLEN, HSTRLEN, HEXISTS, HKEYS, HVALS,
//! HGETALL, HINCRBY, HINCRBYFLOAT, HRANDFIELD and HSCAN. They reach the encodings only through
//! [`HashValue`]'s API.

use crate::table::{def, ks, Def, Extra, Handler::Data};
use crate::util::{eq_ic, int_arg, NOT_INT, SYNTAX};
use crate::Ctx;
use cinnabar_keyspace::db::Keyspace;
use cinnabar_keyspace::dict::next_rand;
use cinnabar_keyspace::notify::{GENERIC, HASH};
use cinnabar_keyspace::types::hash::HashValue;
use cinnabar_keyspace::value::{Value, WRONGTYPE};
use cinnabar_resp::{Args, ReplyBuf};
use cinnabar_util::glob::glob_match;
use cinnabar_util::num;

const K1: (i32, i32, i32) = (1, 1, 1);

/// This family's command definitions (listed in `table::FAMILIES`).
pub static DEFS: &[Def] = &[
    def!(
        "hdel",
        -3,
        "write fast",
        K1,
        "hash",
        "hash",
        "2.0.0",
        "Remove one or more fields from a hash",
        Data(hdel)
    ),
    def!(
        "hexists",
        3,
        "readonly fast",
        K1,
        "hash",
        "hash",
        "2.0.0",
        "Tell whether a field exists in a hash",
        Data(hexists)
    ),
    def!(
        "hget",
        3,
        "readonly fast",
        K1,
        "hash",
        "hash",
        "2.0.0",
        "Read the value of one hash field",
        Data(hget)
    ),
    def!(
        "hgetall",
        2,
        "readonly",
        K1,
        "hash",
        "hash",
        "2.0.0",
        "Read every field and value of a hash",
        Data(hgetall)
    ),
    def!(
        "hincrby",
        4,
        "write denyoom fast",
        K1,
        "hash",
        "hash",
        "2.0.0",
        "Add an integer to the number held in a hash field",
        Data(hincrby)
    ),
    def!(
        "hincrbyfloat",
        4,
        "write denyoom fast",
        K1,
        "hash",
        "hash",
        "2.6.0",
        "Add a floating point number to the number held in a hash field",
        Data(hincrbyfloat)
    ),
    def!(
        "hkeys",
        2,
        "readonly",
        K1,
        "hash",
        "hash",
        "2.0.0",
        "List the fields of a hash",
        Data(hkeys)
    ),
    def!(
        "hlen",
        2,
        "readonly fast",
        K1,
        "hash",
        "hash",
        "2.0.0",
        "Count the fields of a hash",
        Data(hlen)
    ),
    def!(
        "hmget",
        -3,
        "readonly fast",
        K1,
        "hash",
        "hash",
        "2.0.0",
        "Read the values of several hash fields",
        Data(hmget)
    ),
    def!(
        "hmset",
        -4,
        "write denyoom fast",
        K1,
        "hash",
        "hash",
        "2.0.0",
        "Write several hash fields (replies OK)",
        Data(hset)
    ),
    def!(
        "hrandfield",
        -2,
        "readonly",
        K1,
        "hash",
        "hash",
        "6.2.0",
        "Pick one or more random fields of a hash",
        Data(hrandfield)
    ),
    def!(
        "hscan",
        -3,
        "readonly",
        K1,
        "hash",
        "hash",
        "2.8.0",
        "Walk the fields and values of a hash a slice at a time",
        Data(hscan)
    ),
    def!(
        "hset",
        -4,
        "write denyoom fast",
        K1,
        "hash",
        "hash",
        "2.0.0",
        "Write one or more hash fields",
        Data(hset)
    ),
    def!(
        "hsetnx",
        4,
        "write denyoom fast",
        K1,
        "hash",
        "hash",
        "2.0.0",
        "Write a hash field only if it is absent",
        Data(hsetnx)
    ),
    def!(
        "hstrlen",
        3,
        "readonly fast",
        K1,
        "hash",
        "hash",
        "3.2.0",
        "Length of the value held in a hash field",
        Data(hstrlen)
    ),
    def!(
        "hvals",
        2,
        "readonly",
        K1,
        "hash",
        "hash",
        "2.0.0",
        "List the values of a hash",
        Data(hvals)
    ),
];

/// Tips and key specs of this family's commands.
pub static EXTRAS: &[Extra] = &[
    ("hdel", "", &[ks("RW delete", 1, 0, 1)]),
    ("hexists", "", &[ks("RO", 1, 0, 1)]),
    ("hget", "", &[ks("RO access", 1, 0, 1)]),
    (
        "hgetall",
        "nondeterministic_output_order",
        &[ks("RO access", 1, 0, 1)],
    ),
    ("hincrby", "", &[ks("RW access update", 1, 0, 1)]),
    ("hincrbyfloat", "", &[ks("RW access update", 1, 0, 1)]),
    (
        "hkeys",
        "nondeterministic_output_order",
        &[ks("RO access", 1, 0, 1)],
    ),
    ("hlen", "", &[ks("RO", 1, 0, 1)]),
    ("hmget", "", &[ks("RO access", 1, 0, 1)]),
    ("hmset", "", &[ks("RW update", 1, 0, 1)]),
    (
        "hrandfield",
        "nondeterministic_output",
        &[ks("RO access", 1, 0, 1)],
    ),
    (
        "hscan",
        "nondeterministic_output",
        &[ks("RO access", 1, 0, 1)],
    ),
    ("hset", "", &[ks("RW update", 1, 0, 1)]),
    ("hsetnx", "", &[ks("RW insert", 1, 0, 1)]),
    ("hstrlen", "", &[ks("RO", 1, 0, 1)]),
    (
        "hvals",
        "nondeterministic_output_order",
        &[ks("RO access", 1, 0, 1)],
    ),
];

/// A hash for reading (counts keyspace hits/misses): `Err` after replying WRONGTYPE.
fn read<'a>(
    ks: &'a mut Keyspace,
    db: usize,
    key: &[u8],
    now: i64,
    r: &mut ReplyBuf,
) -> Result<Option<&'a HashValue>, ()> {
    let Keyspace { dbs, stats, .. } = ks;
    match dbs[db].get(key, now, stats) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => {
            r.error(WRONGTYPE);
            Err(())
        }
    }
}

/// Runs `f` on the hash at `key` for writing, creating it when missing (kept only if `f` left
/// it non-empty). Replies WRONGTYPE and returns `None` for another type.
fn write<R>(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(&mut HashValue) -> R) -> Option<R> {
    let now = ctx.now;
    let i = ctx.db;
    let db = &mut ctx.ks.dbs[i];
    match db.get_mut(key, now) {
        Some(Value::Hash(h)) => Some(f(h)),
        Some(_) => {
            ctx.reply.error(WRONGTYPE);
            None
        }
        None => {
            let mut h = Box::new(HashValue::new());
            let r = f(&mut h);
            if !h.is_empty() {
                db.add(key, Value::Hash(h), now);
            }
            Some(r)
        }
    }
}

/// HSET key field value [field value ...] / HMSET (the same, replying OK)
pub fn hset(ctx: &mut Ctx, a: Args) {
    let hmset = a
        .get(0)
        .get(1)
        .is_some_and(|c| c.eq_ignore_ascii_case(&b'm'));
    if a.len() % 2 == 1 {
        let name = if hmset { "hmset" } else { "hset" };
        return ctx.reply.error(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ));
    }
    let limits = ctx.limits;
    let Some(created) = write(ctx, a.get(1), |h| {
        let mut created = 0i64;
        // Like Redis, a too-long argument converts before anything is written.
        if h.is_packed() {
            let longest = a.iter().skip(2).map(|s| s.len()).max().unwrap_or(0);
            h.fit_len(longest, &limits);
        }
        let mut j = 2;
        while j + 1 < a.len() {
            if h.set(a.get(j), a.get(j + 1), &limits) {
                created += 1;
            }
            j += 2;
        }
        created
    }) else {
        return;
    };
    ctx.dirty += (a.len() as u64 - 2) / 2;
    ctx.notify(HASH, "hset", a.get(1));
    if hmset {
        ctx.reply.ok();
    } else {
        ctx.reply.int(created);
    }
}

/// HSETNX key field value
pub fn hsetnx(ctx: &mut Ctx, a: Args) {
    let limits = ctx.limits;
    let Some(set) = write(ctx, a.get(1), |h| {
        if h.contains(a.get(2)) {
            false
        } else {
            h.set(a.get(2), a.get(3), &limits);
            true
        }
    }) else {
        return;
    };
    if set {
        ctx.dirty += 1;
        ctx.notify(HASH, "hset", a.get(1));
    }
    ctx.reply.int(set as i64);
}

/// HGET key field
pub fn hget(ctx: &mut Ctx, a: Args) {
    let Ok(h) = read(ctx.ks, ctx.db, a.get(1), ctx.now, ctx.reply) else {
        return;
    };
    match h.and_then(|h| h.get(a.get(2))) {
        Some(v) => ctx.reply.bulk(v),
        None => ctx.reply.null(),
    }
}

/// HMGET key field [field ...]
pub fn hmget(ctx: &mut Ctx, a: Args) {
    let Ok(h) = read(ctx.ks, ctx.db, a.get(1), ctx.now, ctx.reply) else {
        return;
    };
    ctx.reply.array(a.len() - 2);
    for f in a.iter().skip(2) {
        match h.and_then(|h| h.get(f)) {
            Some(v) => ctx.reply.bulk(v),
            None => ctx.reply.null(),
        }
    }
}

/// HDEL key field [field ...]
pub fn hdel(ctx: &mut Ctx, a: Args) {
    let now = ctx.now;
    let i = ctx.db;
    let key = a.get(1);
    let db = &mut ctx.ks.dbs[i];
    let (deleted, empty) = match db.get_mut(key, now) {
        None => (0, false),
        Some(Value::Hash(h)) => {
            let mut n = 0i64;
            for f in a.iter().skip(2) {
                if h.remove(f) {
                    n += 1;
                    if h.is_empty() {
                        break;
                    }
                }
            }
            (n, h.is_empty())
        }
        Some(_) => return ctx.reply.error(WRONGTYPE),
    };
    if empty {
        db.remove(key, now);
    }
    if deleted > 0 {
        ctx.dirty += deleted as u64;
        ctx.notify(HASH, "hdel", key);
        if empty {
            ctx.notify(GENERIC, "del", key);
        }
    }
    ctx.reply.int(deleted);
}

/// HLEN key
pub fn hlen(ctx: &mut Ctx, a: Args) {
    let Ok(h) = read(ctx.ks, ctx.db, a.get(1), ctx.now, ctx.reply) else {
        return;
    };
    let n = h.map_or(0, |h| h.len());
    ctx.reply.int(n as i64);
}

/// HSTRLEN key field
pub fn hstrlen(ctx: &mut Ctx, a: Args) {
    let Ok(h) = read(ctx.ks, ctx.db, a.get(1), ctx.now, ctx.reply) else {
        return;
    };
    let n = h.and_then(|h| h.get(a.get(2))).map_or(0, |v| v.len());
    ctx.reply.int(n as i64);
}

/// HEXISTS key field
pub fn hexists(ctx: &mut Ctx, a: Args) {
    let Ok(h) = read(ctx.ks, ctx.db, a.get(1), ctx.now, ctx.reply) else {
        return;
    };
    let e = h.is_some_and(|h| h.contains(a.get(2)));
    ctx.reply.int(e as i64);
}

/// What HKEYS/HVALS/HGETALL reply with.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Keys,
    Vals,
    Both,
}

fn getall(ctx: &mut Ctx, a: Args, part: Part) {
    let Ok(h) = read(ctx.ks, ctx.db, a.get(1), ctx.now, ctx.reply) else {
        return;
    };
    let r = &mut *ctx.reply;
    let Some(h) = h else {
        if part == Part::Both {
            r.map(0);
        } else {
            r.array(0);
        }
        return;
    };
    match part {
        Part::Both => r.map(h.len()),
        _ => r.array(h.len()),
    }
    for (f, v) in h.iter() {
        if part != Part::Vals {
            r.bulk(f);
        }
        if part != Part::Keys {
            r.bulk(v);
        }
    }
}

/// HKEYS key
pub fn hkeys(ctx: &mut Ctx, a: Args) {
    getall(ctx, a, Part::Keys)
}

/// HVALS key
pub fn hvals(ctx: &mut Ctx, a: Args) {
    getall(ctx, a, Part::Vals)
}

/// HGETALL key
pub fn hgetall(ctx: &mut Ctx, a: Args) {
    getall(ctx, a, Part::Both)
}

/// HINCRBY key field increment
pub fn hincrby(ctx: &mut Ctx, a: Args) {
    let Some(incr) = int_arg(ctx.reply, a.get(3)) else {
        return;
    };
    let limits = ctx.limits;
    let field = a.get(2);
    let res = write(ctx, a.get(1), |h| {
        let old = match h.get(field) {
            Some(v) => match num::string2ll(v) {
                Some(n) => n,
                None => return Err("ERR hash value is not an integer"),
            },
            None => 0,
        };
        let Some(new) = old.checked_add(incr) else {
            return Err("ERR increment or decrement would overflow");
        };
        let mut buf = Vec::with_capacity(20);
        num::ll2string(new, &mut buf);
        h.set(field, &buf, &limits);
        Ok(new)
    });
    match res {
        None => {}
        Some(Err(e)) => ctx.reply.error(e),
        Some(Ok(n)) => {
            ctx.dirty += 1;
            ctx.notify(HASH, "hincrby", a.get(1));
            ctx.reply.int(n);
        }
    }
}

/// HINCRBYFLOAT key field increment
pub fn hincrbyfloat(ctx: &mut Ctx, a: Args) {
    let incr = match num::hincr_parse_increment(a.get(3)) {
        Ok(v) => v,
        Err(e) => return ctx.reply.error(e.message()),
    };
    let limits = ctx.limits;
    let field = a.get(2);
    let res = write(
        ctx,
        a.get(1),
        |h| -> Result<Vec<u8>, num::HincrFloatError> {
            let new = num::hincr_apply(h.get(field), incr)?;
            h.set(field, &new, &limits);
            Ok(new)
        },
    );
    match res {
        None => {}
        Some(Err(e)) => ctx.reply.error(e.message()),
        Some(Ok(v)) => {
            ctx.dirty += 1;
            ctx.notify(HASH, "hincrbyfloat", a.get(1));
            // Propagated as the value it produced (HSET key field value), as Redis does.
            ctx.rewrite(&[b"HSET" as &[u8], a.get(1), field, &v]);
            ctx.reply.bulk(&v);
        }
    }
}

/// Beyond this many elements a negative-count HRANDFIELD reply is refused rather than built
/// (Redis would stream it until the client's output limit; here the reply is built in memory).
const HRANDFIELD_MAX_REPLY: u64 = 1 << 26;

/// HRANDFIELD key [count [WITHVALUES]]
pub fn hrandfield(ctx: &mut Ctx, a: Args) {
    if a.len() < 3 {
        let ks = &mut *ctx.ks;
        let Ok(h) = read_rng(ks, ctx.db, a.get(1), ctx.now, ctx.reply) else {
            return;
        };
        match h {
            Some((h, rng)) => match h.random_pair(rng) {
                Some((f, _)) => ctx.reply.bulk(f),
                None => ctx.reply.null(),
            },
            None => ctx.reply.null(),
        }
        return;
    }
    let Some(l) = int_arg(ctx.reply, a.get(2)) else {
        return;
    };
    if l == i64::MIN {
        return ctx.reply.error(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        );
    }
    let withvalues = if a.len() > 4 || (a.len() == 4 && !eq_ic(a.get(3), "withvalues")) {
        return ctx.reply.error(SYNTAX);
    } else if a.len() == 4 {
        if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
            return ctx.reply.error("ERR value is out of range");
        }
        true
    } else {
        false
    };
    let ks = &mut *ctx.ks;
    let Ok(h) = read_rng(ks, ctx.db, a.get(1), ctx.now, ctx.reply) else {
        return;
    };
    let r = &mut *ctx.reply;
    let Some((h, rng)) = h else {
        return r.array(0);
    };
    let count = l.unsigned_abs();
    if count == 0 {
        return r.array(0);
    }
    let pair_reply = |r: &mut ReplyBuf, f: &[u8], v: &[u8]| {
        if withvalues && r.resp3 {
            r.array(2);
        }
        r.bulk(f);
        if withvalues {
            r.bulk(v);
        }
    };
    let header = |r: &mut ReplyBuf, n: usize| {
        if withvalues && !r.resp3 {
            r.array(n * 2);
        } else {
            r.array(n);
        }
    };
    let size = h.len() as u64;
    if size == 0 {
        return r.array(0);
    }
    if l < 0 || count == 1 {
        // Repeats allowed: independent picks.
        // With no output buffer limit to stop it, a reply this long is refused rather than
        // built (Redis would build it and run out of memory).
        if count > HRANDFIELD_MAX_REPLY && r.limit == 0 {
            return r.error("ERR value is out of range");
        }
        header(r, count as usize);
        if h.is_packed() {
            // Index the pairs once instead of walking the buffer per pick.
            let pairs: Vec<(&[u8], &[u8])> = h.iter().collect();
            if pairs.is_empty() {
                return;
            }
            for _ in 0..count {
                if r.over_limit() {
                    break;
                }
                let (f, v) = pairs[(next_rand(rng) % pairs.len() as u64) as usize];
                pair_reply(r, f, v);
            }
        } else {
            for _ in 0..count {
                if r.over_limit() {
                    break;
                }
                if let Some((f, v)) = h.random_pair(rng) {
                    pair_reply(r, f, v);
                }
            }
        }
        return;
    }
    if count >= size {
        header(r, size as usize);
        for (f, v) in h.iter() {
            pair_reply(r, f, v);
        }
        return;
    }
    header(r, count as usize);
    if h.is_packed() || count * 3 > size {
        // Selection sampling over the whole hash: each pair is kept with probability
        // (still needed) / (still unseen), giving a uniform subset of exactly `count`.
        let mut need = count;
        let mut left = size;
        for (f, v) in h.iter() {
            if need == 0 {
                break;
            }
            if next_rand(rng) % left < need {
                pair_reply(r, f, v);
                need -= 1;
            }
            left -= 1;
        }
    } else {
        // Few wanted from many: random picks until enough distinct fields.
        let mut seen: std::collections::HashSet<&[u8]> =
            std::collections::HashSet::with_capacity(count as usize);
        while (seen.len() as u64) < count {
            let Some((f, v)) = h.random_pair(rng) else {
                break;
            };
            if seen.insert(f) {
                pair_reply(r, f, v);
            }
        }
    }
}

/// A hash for reading plus the keyspace's random generator.
#[allow(clippy::type_complexity)]
fn read_rng<'a>(
    ks: &'a mut Keyspace,
    db: usize,
    key: &[u8],
    now: i64,
    r: &mut ReplyBuf,
) -> Result<Option<(&'a HashValue, &'a mut u64)>, ()> {
    let Keyspace {
        dbs, stats, rng, ..
    } = ks;
    match dbs[db].get(key, now, stats) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some((h, rng))),
        Some(_) => {
            r.error(WRONGTYPE);
            Err(())
        }
    }
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]
pub fn hscan(ctx: &mut Ctx, a: Args) {
    let Some(cursor) = num::parse_scan_cursor(a.get(2)) else {
        return ctx.reply.error("ERR invalid cursor");
    };
    let Ok(h) = read(ctx.ks, ctx.db, a.get(1), ctx.now, ctx.reply) else {
        return;
    };
    let r = &mut *ctx.reply;
    let Some(h) = h else {
        r.array(2);
        r.bulk(b"0");
        r.array(0);
        return;
    };
    let mut count: i64 = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut j = 3;
    while j < a.len() {
        let opt = a.get(j);
        let more = j + 1 < a.len();
        if eq_ic(opt, "count") && more {
            let Some(c) = num::string2ll(a.get(j + 1)) else {
                return r.error(NOT_INT);
            };
            if c < 1 {
                return r.error(SYNTAX);
            }
            count = c;
        } else if eq_ic(opt, "match") && more {
            let p = a.get(j + 1);
            pattern = if p == b"*" { None } else { Some(p) };
        } else {
            return r.error(SYNTAX);
        }
        j += 2;
    }
    let mut out: Vec<(&[u8], &[u8])> = Vec::new();
    let mut cur = cursor;
    if h.is_packed() {
        cur = h.scan(0, |f, v| out.push((f, v)));
    } else {
        // Redis counts fields and values alike against COUNT.
        let want = count.saturating_mul(2) as u64;
        let mut iters = want.saturating_mul(10);
        loop {
            cur = h.scan(cur, |f, v| out.push((f, v)));
            if cur == 0 || iters == 0 || (out.len() as u64).saturating_mul(2) >= want {
                break;
            }
            iters -= 1;
        }
    }
    if let Some(p) = pattern {
        out.retain(|(f, _)| glob_match(p, f, false));
    }
    r.array(2);
    let mut buf = Vec::with_capacity(20);
    num::ull2string(cur, &mut buf);
    r.bulk(&buf);
    r.array(out.len() * 2);
    for (f, v) in out {
        r.bulk(f);
        r.bulk(v);
    }
}
