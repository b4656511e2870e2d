//! Set commands: SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SPOP, SRANDMEMBER, SMOVE,
//! SINTER/SINTERCARD/SINTERSTORE, SUNION/SUNIONSTORE, SDIFF/SDIFFSTORE and SSCAN, with Redis
//! 7.0's replies, errors and order of checks. The set itself (intset / hashtable encodings)
//! is `cinnabar_keyspace::types::set`.
//!
//! Results built from several sets (SUNION, SDIFF, the STORE variants) are assembled in a new
//! set that starts as an intset, as Redis does, so an all-integer result comes out in ascending
//! order and is stored with the encoding Redis would pick.

use crate::table::{def, ks, ks_keynum, Def, Extra, Handler::Data, K1};
use crate::util::{eq_ic, int_arg, NOT_INT, SYNTAX};
use crate::Ctx;
use cinnabar_keyspace::db::Keyspace;
use cinnabar_keyspace::notify::{GENERIC, SET};
use cinnabar_keyspace::types::set::{Member, SetValue};
use cinnabar_keyspace::value::{Value, WRONGTYPE};
use cinnabar_resp::{Args, ReplyBuf};
use cinnabar_util::glob::glob_match;
use cinnabar_util::num;

/// This family's command definitions (listed in `table::FAMILIES`).
#[rustfmt::skip]
pub static DEFS: &[Def] = &[
    def!("sadd", -3, "write denyoom fast", K1, "set", "set", "1.0.0", "Add members to a set", Data(sadd)),
    def!("scard", 2, "readonly fast", K1, "set", "set", "1.0.0", "Count the members of a set", Data(scard)),
    def!("sdiff", -2, "readonly", (1, -1, 1), "set", "set", "1.0.0", "Members of the first set missing from all the others", Data(sdiff)),
    def!("sdiffstore", -3, "write denyoom", (1, -1, 1), "set", "set", "1.0.0", "Store the difference of sets in a key", Data(sdiffstore)),
    def!("sinter", -2, "readonly", (1, -1, 1), "set", "set", "1.0.0", "Members common to all the given sets", Data(sinter)),
    def!("sintercard", -3, "readonly movablekeys", (0, 0, 0), "set", "set", "7.0.0", "Count the members common to all the given sets", Data(sintercard)),
    def!("sinterstore", -3, "write denyoom", (1, -1, 1), "set", "set", "1.0.0", "Store the intersection of sets in a key", Data(sinterstore)),
    def!("sismember", 3, "readonly fast", K1, "set", "set", "1.0.0", "Tell whether a value is a member of a set", Data(sismember)),
    def!("smembers", 2, "readonly", K1, "set", "set", "1.0.0", "All the members of a set", Data(smembers)),
    def!("smismember", -3, "readonly fast", K1, "set", "set", "6.2.0", "Tell for each of several values whether it is a member of a set", Data(smismember)),
    def!("smove", 4, "write fast", (1, 2, 1), "set", "set", "1.0.0", "Move a member from one set to another", Data(smove)),
    def!("spop", -2, "write fast", K1, "set", "set", "1.0.0", "Remove and return random members of a set", Data(spop)),
    def!("srandmember", -2, "readonly", K1, "set", "set", "1.0.0", "Return random members of a set without removing them", Data(srandmember)),
    def!("srem", -3, "write fast", K1, "set", "set", "1.0.0", "Remove members from a set", Data(srem)),
    def!("sscan", -3, "readonly", K1, "set", "set", "2.8.0", "Iterate over the members of a set incrementally", Data(sscan)),
    def!("sunion", -2, "readonly", (1, -1, 1), "set", "set", "1.0.0", "Members of any of the given sets", Data(sunion)),
    def!("sunionstore", -3, "write denyoom", (1, -1, 1), "set", "set", "1.0.0", "Store the union of sets in a key", Data(sunionstore)),
];

/// Tips and key specs of this family's commands.
pub static EXTRAS: &[Extra] = &[
    ("sadd", "", &[ks("RW insert", 1, 0, 1)]),
    ("scard", "", &[ks("RO", 1, 0, 1)]),
    (
        "sdiff",
        "nondeterministic_output_order",
        &[ks("RO access", 1, -1, 1)],
    ),
    (
        "sdiffstore",
        "",
        &[ks("OW update", 1, 0, 1), ks("RO access", 2, -1, 1)],
    ),
    (
        "sinter",
        "nondeterministic_output_order",
        &[ks("RO access", 1, -1, 1)],
    ),
    ("sintercard", "", &[ks_keynum("RO access", 1, 0, 1, 1)]),
    (
        "sinterstore",
        "",
        &[ks("RW update", 1, 0, 1), ks("RO access", 2, -1, 1)],
    ),
    ("sismember", "", &[ks("RO", 1, 0, 1)]),
    (
        "smembers",
        "nondeterministic_output_order",
        &[ks("RO access", 1, 0, 1)],
    ),
    ("smismember", "", &[ks("RO access", 1, 0, 1)]),
    (
        "smove",
        "",
        &[ks("RW access delete", 1, 0, 1), ks("RW insert", 2, 0, 1)],
    ),
    (
        "spop",
        "nondeterministic_output",
        &[ks("RW access delete", 1, 0, 1)],
    ),
    (
        "srandmember",
        "nondeterministic_output",
        &[ks("RO access", 1, 0, 1)],
    ),
    ("srem", "", &[ks("RW delete", 1, 0, 1)]),
    (
        "sscan",
        "nondeterministic_output",
        &[ks("RO access", 1, 0, 1)],
    ),
    (
        "sunion",
        "nondeterministic_output_order",
        &[ks("RO access", 1, -1, 1)],
    ),
    (
        "sunionstore",
        "",
        &[ks("OW update", 1, 0, 1), ks("RO access", 2, -1, 1)],
    ),
];

/// SPOP with a count switches to "build the remainder" when fewer than count/5 stay.
const SPOP_MOVE_STRATEGY_MUL: u64 = 5;
/// SRANDMEMBER with a count shuffles the whole set when it is less than 3 times the count.
const SRANDMEMBER_SUB_STRATEGY_MUL: u64 = 3;

/// Replies one member as a bulk string.
fn reply_member(r: &mut ReplyBuf, m: Member) {
    match m {
        Member::Int(v) => r.bulk_int(v),
        Member::Bytes(b) => r.bulk(b),
    }
}

/// Redis's `getLongFromObjectOrReply` + range check: an integer in `min..=max`, else the
/// error (`msg` for both failures when given, as Redis does).
fn range_arg(r: &mut ReplyBuf, a: &[u8], min: i64, max: i64, msg: Option<&str>) -> Option<i64> {
    let v = match num::string2ll(a) {
        Some(v) => v,
        None => {
            r.error(msg.unwrap_or(NOT_INT));
            return None;
        }
    };
    if v < min || v > max {
        match msg {
            Some(m) => r.error(m),
            None => r.error(&format!(
                "ERR value is out of range, value must between {min} and {max}"
            )),
        }
        return None;
    }
    Some(v)
}

/// Redis's `getPositiveLongFromObjectOrReply`.
fn positive_arg(r: &mut ReplyBuf, a: &[u8], msg: Option<&str>) -> Option<i64> {
    range_arg(
        r,
        a,
        0,
        i64::MAX,
        Some(msg.unwrap_or("ERR value is out of range, must be positive")),
    )
}

/// Looks `key` up for reading (hit/miss counted): `Ok(None)` when missing, `Err(())` after
/// replying WRONGTYPE.
fn read_set<'a>(
    ks: &'a mut Keyspace,
    db: usize,
    key: &[u8],
    now: i64,
    r: &mut ReplyBuf,
) -> Result<Option<&'a SetValue>, ()> {
    match ks.dbs[db].get(key, now, &mut ks.stats) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => {
            r.error(WRONGTYPE);
            Err(())
        }
    }
}

/// Looks up every key for reading, in order, stopping at the first one of another type
/// (WRONGTYPE replied, `Err`). Missing keys are `None`.
fn read_sets<'a>(
    ks: &'a mut Keyspace,
    db: usize,
    keys: &[&[u8]],
    now: i64,
    r: &mut ReplyBuf,
) -> Result<Vec<Option<&'a SetValue>>, ()> {
    for k in keys {
        read_set(ks, db, k, now, r)?;
    }
    // Every key has been expired if needed and checked: take shared references now.
    let d = &ks.dbs[db];
    Ok(keys
        .iter()
        .map(|k| match d.main.get(*k).map(|o| &o.value) {
            Some(Value::Set(s)) => Some(&**s),
            _ => None,
        })
        .collect())
}

/// Stores `res` at `dst` (replacing any value and TTL) or deletes `dst` when `res` is empty;
/// replies the stored cardinality.
fn store_result(ctx: &mut Ctx, dst: &[u8], res: SetValue, event: &'static str) {
    let n = res.len();
    if n > 0 {
        ctx.set_key(dst, Value::Set(Box::new(res)), false);
        ctx.notify(SET, event, dst);
        ctx.dirty += 1;
    } else {
        // Redis's dbDelete: a key past its TTL is deleted too (and reported as `del`).
        if ctx.db().take(dst).is_some() {
            ctx.notify(GENERIC, "del", dst);
            ctx.dirty += 1;
        }
    }
    ctx.reply.int(n as i64);
}

/// SADD key member [member ...]
pub fn sadd(ctx: &mut Ctx, a: Args) {
    let (key, now, max) = (a.get(1), ctx.now, ctx.limits.set_max_intset_entries);
    let db = ctx.db;
    let added = match ctx.ks.dbs[db].get_mut(key, now) {
        Some(Value::Set(s)) => a.tail(2).iter().filter(|m| s.add(m, max)).count(),
        Some(_) => return ctx.reply.error(WRONGTYPE),
        None => {
            let mut s = SetValue::for_member(a.get(2));
            let n = a.tail(2).iter().filter(|m| s.add(m, max)).count();
            ctx.ks.dbs[db].add(key, Value::Set(Box::new(s)), now);
            n
        }
    };
    ctx.dirty += added as u64;
    if added > 0 {
        ctx.notify(SET, "sadd", key);
    }
    ctx.reply.int(added as i64);
}

/// SREM key member [member ...]
pub fn srem(ctx: &mut Ctx, a: Args) {
    let (key, now) = (a.get(1), ctx.now);
    let db = ctx.db;
    let (deleted, emptied) = match ctx.ks.dbs[db].get_mut(key, now) {
        None => return ctx.reply.int(0),
        Some(Value::Set(s)) => {
            let mut n = 0;
            for m in a.tail(2).iter() {
                if s.remove(m) {
                    n += 1;
                    if s.is_empty() {
                        break;
                    }
                }
            }
            (n, s.is_empty())
        }
        Some(_) => return ctx.reply.error(WRONGTYPE),
    };
    if emptied {
        ctx.ks.dbs[db].remove(key, now);
    }
    if deleted > 0 {
        ctx.notify(SET, "srem", key);
        if emptied {
            ctx.notify(GENERIC, "del", key);
        }
    }
    ctx.dirty += deleted;
    ctx.reply.int(deleted as i64);
}

/// SISMEMBER key member
pub fn sismember(ctx: &mut Ctx, a: Args) {
    match read_set(ctx.ks, ctx.db, a.get(1), ctx.now, ctx.reply) {
        Ok(Some(s)) => {
            let v = s.contains(a.get(2));
            ctx.reply.int(v as i64)
        }
        Ok(None) => ctx.reply.int(0),
        Err(()) => {}
    }
}

/// SMISMEMBER key member [member ...]
pub fn smismember(ctx: &mut Ctx, a: Args) {
    let Ok(s) = read_set(ctx.ks, ctx.db, a.get(1), ctx.now, ctx.reply) else {
        return;
    };
    ctx.reply.array(a.len() - 2);
    for m in a.tail(2).iter() {
        let v = s.is_some_and(|s| s.contains(m));
        ctx.reply.int(v as i64);
    }
}

/// SCARD key
pub fn scard(ctx: &mut Ctx, a: Args) {
    match read_set(ctx.ks, ctx.db, a.get(1), ctx.now, ctx.reply) {
        Ok(Some(s)) => {
            let n = s.len() as i64;
            ctx.reply.int(n)
        }
        Ok(None) => ctx.reply.int(0),
        Err(()) => {}
    }
}

/// SMEMBERS key (Redis serves it as a one-key SINTER).
pub fn smembers(ctx: &mut Ctx, a: Args) {
    sinter_generic(ctx, &a.tail(1).iter().collect::<Vec<_>>(), None, false, 0);
}

/// SINTER key [key ...]
pub fn sinter(ctx: &mut Ctx, a: Args) {
    sinter_generic(ctx, &a.tail(1).iter().collect::<Vec<_>>(), None, false, 0);
}

/// SINTERSTORE destination key [key ...]
pub fn sinterstore(ctx: &mut Ctx, a: Args) {
    sinter_generic(
        ctx,
        &a.tail(2).iter().collect::<Vec<_>>(),
        Some(a.get(1)),
        false,
        0,
    );
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn sintercard(ctx: &mut Ctx, a: Args) {
    let Some(numkeys) = range_arg(
        ctx.reply,
        a.get(1),
        1,
        i64::MAX,
        Some("ERR numkeys should be greater than 0"),
    ) else {
        return;
    };
    if numkeys > (a.len() - 2) as i64 {
        return ctx
            .reply
            .error("ERR Number of keys can't be greater than number of args");
    }
    let numkeys = numkeys as usize;
    let mut limit = 0;
    let mut j = 2 + numkeys;
    while j < a.len() {
        if eq_ic(a.get(j), "limit") && j + 1 < a.len() {
            j += 1;
            match positive_arg(ctx.reply, a.get(j), Some("ERR LIMIT can't be negative")) {
                Some(v) => limit = v as usize,
                None => return,
            }
        } else {
            return ctx.reply.error(SYNTAX);
        }
        j += 1;
    }
    let keys: Vec<&[u8]> = a.tail(2).iter().take(numkeys).collect();
    sinter_generic(ctx, &keys, None, true, limit);
}

/// The intersection behind SMEMBERS, SINTER, SINTERSTORE (`dst`) and SINTERCARD
/// (`card_only`, stopping at `limit` when non-zero).
fn sinter_generic(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    dst: Option<&[u8]>,
    card_only: bool,
    limit: usize,
) {
    let max = ctx.limits.set_max_intset_entries;
    let Ok(found) = read_sets(ctx.ks, ctx.db, keys, ctx.now, ctx.reply) else {
        return;
    };
    let Some(mut sets) = found.into_iter().collect::<Option<Vec<&SetValue>>>() else {
        // A missing key is an empty set: the intersection is empty.
        return match dst {
            Some(d) => store_result(ctx, d, SetValue::new(), "sinterstore"),
            None if card_only => ctx.reply.int(0),
            None => ctx.reply.set(0),
        };
    };
    // Smallest first: fewer candidates to test against the others.
    sets.sort_by_key(|s| s.len());
    let first = sets[0];
    let others: Vec<&SetValue> = sets[1..]
        .iter()
        .copied()
        .filter(|s| !std::ptr::eq(*s, first))
        .collect();
    if others.is_empty() && dst.is_none() && !card_only {
        // SMEMBERS, or SINTER of one set (possibly named several times): stream it.
        ctx.reply.set(first.len());
        for m in first.iter() {
            reply_member(ctx.reply, m);
        }
        return;
    }
    let common = first
        .iter()
        .filter(|m| others.iter().all(|s| s.contains_member(*m)));
    if card_only {
        let mut n = 0;
        for _ in common {
            n += 1;
            if limit != 0 && n >= limit {
                break;
            }
        }
        return ctx.reply.int(n as i64);
    }
    if let Some(d) = dst {
        let mut res = SetValue::new();
        for m in common {
            res.add_member(m, max);
        }
        return store_result(ctx, d, res, "sinterstore");
    }
    let out: Vec<Member> = common.collect();
    ctx.reply.set(out.len());
    for m in out {
        reply_member(ctx.reply, m);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Diff,
}

/// SUNION key [key ...]
pub fn sunion(ctx: &mut Ctx, a: Args) {
    sunion_diff(
        ctx,
        &a.tail(1).iter().collect::<Vec<_>>(),
        None,
        SetOp::Union,
    );
}

/// SUNIONSTORE destination key [key ...]
pub fn sunionstore(ctx: &mut Ctx, a: Args) {
    sunion_diff(
        ctx,
        &a.tail(2).iter().collect::<Vec<_>>(),
        Some(a.get(1)),
        SetOp::Union,
    );
}

/// SDIFF key [key ...]
pub fn sdiff(ctx: &mut Ctx, a: Args) {
    sunion_diff(
        ctx,
        &a.tail(1).iter().collect::<Vec<_>>(),
        None,
        SetOp::Diff,
    );
}

/// SDIFFSTORE destination key [key ...]
pub fn sdiffstore(ctx: &mut Ctx, a: Args) {
    sunion_diff(
        ctx,
        &a.tail(2).iter().collect::<Vec<_>>(),
        Some(a.get(1)),
        SetOp::Diff,
    );
}

/// The union / difference behind SUNION, SDIFF and their STORE variants.
fn sunion_diff(ctx: &mut Ctx, keys: &[&[u8]], dst: Option<&[u8]>, op: SetOp) {
    let max = ctx.limits.set_max_intset_entries;
    let Ok(mut sets) = read_sets(ctx.ks, ctx.db, keys, ctx.now, ctx.reply) else {
        return;
    };
    let res = match op {
        SetOp::Union => union_of(&sets, max),
        SetOp::Diff => diff_of(&mut sets, max),
    };
    match dst {
        Some(d) => {
            let event = match op {
                SetOp::Union => "sunionstore",
                SetOp::Diff => "sdiffstore",
            };
            store_result(ctx, d, res, event)
        }
        None => {
            ctx.reply.set(res.len());
            for m in res.iter() {
                reply_member(ctx.reply, m);
            }
        }
    }
}

fn union_of(sets: &[Option<&SetValue>], max: usize) -> SetValue {
    let mut res = SetValue::new();
    for s in sets.iter().flatten() {
        for m in s.iter() {
            res.add_member(m, max);
        }
    }
    res
}

fn diff_of(sets: &mut [Option<&SetValue>], max: usize) -> SetValue {
    let mut res = SetValue::new();
    let Some(first) = sets.first().copied().flatten() else {
        return res;
    };
    if sets[1..]
        .iter()
        .any(|s| s.is_some_and(|s| std::ptr::eq(s, first)))
    {
        // The first set is subtracted from itself.
        return res;
    }
    // Walk the first set testing each member against the others (work ~ |first| * sets), or
    // copy it and remove every member of the others (work ~ total size): pick the cheaper,
    // favouring the first a little as it finds common members early.
    let walk = (first.len() as u64 * sets.iter().flatten().count() as u64) / 2;
    let copy: u64 = sets.iter().flatten().map(|s| s.len() as u64).sum();
    if walk <= copy {
        // Biggest sets first: a member found in one is rejected sooner.
        sets[1..].sort_by_key(|s| std::cmp::Reverse(s.map_or(0, |s| s.len())));
        for m in first.iter() {
            if !sets[1..].iter().flatten().any(|s| s.contains_member(m)) {
                res.add_member(m, max);
            }
        }
    } else {
        for m in first.iter() {
            res.add_member(m, max);
        }
        for s in sets[1..].iter().flatten() {
            for m in s.iter() {
                res.remove_member(m);
            }
            if res.is_empty() {
                break;
            }
        }
    }
    res
}

/// SPOP key [count]
pub fn spop(ctx: &mut Ctx, a: Args) {
    if a.len() == 3 {
        return spop_count(ctx, a);
    } else if a.len() > 3 {
        return ctx.reply.error(SYNTAX);
    }
    let (key, now, db) = (a.get(1), ctx.now, ctx.db);
    let ks = &mut *ctx.ks;
    let (m, emptied) = match ks.dbs[db].get_mut(key, now) {
        None => return ctx.reply.null(),
        Some(Value::Set(s)) => match s.pop_random(&mut ks.rng) {
            Some(m) => (m, s.is_empty()),
            None => return ctx.reply.null(),
        },
        Some(_) => return ctx.reply.error(WRONGTYPE),
    };
    ctx.reply.bulk(&m);
    if emptied {
        ks.dbs[db].remove(key, now);
    }
    ctx.notify(SET, "spop", key);
    if emptied {
        ctx.notify(GENERIC, "del", key);
    }
    ctx.dirty += 1;
    // Propagated as the removal of the member it drew.
    ctx.rewrite(&[b"SREM" as &[u8], key, &m]);
}

/// The SREM commands (at most 1024 members each) that reproduce an SPOP with a count.
fn srem_batches(ctx: &mut Ctx, key: &[u8], members: Vec<Vec<u8>>) {
    ctx.propagate = Some(Vec::new());
    for chunk in members.chunks(1024) {
        let mut argv = Vec::with_capacity(chunk.len() + 2);
        argv.push(b"SREM".to_vec());
        argv.push(key.to_vec());
        argv.extend(chunk.iter().cloned());
        ctx.also_propagate(argv);
    }
}

fn spop_count(ctx: &mut Ctx, a: Args) {
    let Some(count) = positive_arg(ctx.reply, a.get(2), None) else {
        return;
    };
    let count = count as u64;
    let (key, now, db, max) = (a.get(1), ctx.now, ctx.db, ctx.limits.set_max_intset_entries);
    let ks = &mut *ctx.ks;
    let reply = &mut *ctx.reply;
    let s = match ks.dbs[db].get_mut(key, now) {
        None => return reply.set(0),
        Some(Value::Set(s)) => s,
        Some(_) => return reply.error(WRONGTYPE),
    };
    if count == 0 {
        return reply.set(0);
    }
    let size = s.len() as u64;
    if count >= size {
        // Everything goes: reply the whole set and delete the key.
        reply.set(s.len());
        for m in s.iter() {
            reply_member(reply, m);
        }
        ks.dbs[db].remove(key, now);
        ctx.dirty += size;
        ctx.notify(SET, "spop", key);
        ctx.notify(GENERIC, "del", key);
        ctx.rewrite(&[b"DEL" as &[u8], key]);
        return;
    }
    let mut popped: Vec<Vec<u8>> = Vec::with_capacity(count.min(1 << 20) as usize);
    ctx.dirty += count;
    reply.set(count as usize);
    let remaining = size - count;
    if remaining * SPOP_MOVE_STRATEGY_MUL > count {
        // Few to take: pop them one by one.
        for _ in 0..count {
            if let Some(m) = s.pop_random(&mut ks.rng) {
                reply.bulk(&m);
                popped.push(m);
            }
        }
    } else {
        // Most go: move the few that stay to a new set, reply what is left in the old one,
        // and keep the new one (its encoding chosen afresh, as Redis does).
        let mut keep: Option<SetValue> = None;
        for _ in 0..remaining {
            if let Some(m) = s.pop_random(&mut ks.rng) {
                keep.get_or_insert_with(|| SetValue::for_member(&m))
                    .add(&m, max);
            }
        }
        for m in s.iter() {
            reply_member(reply, m);
            popped.push(m.with_bytes(|b| b.to_vec()));
        }
        if let Some(k) = keep {
            **s = k;
        }
    }
    ctx.notify(SET, "spop", key);
    srem_batches(ctx, key, popped);
}

/// SRANDMEMBER key [count]
pub fn srandmember(ctx: &mut Ctx, a: Args) {
    if a.len() == 3 {
        return srandmember_count(ctx, a);
    } else if a.len() > 3 {
        return ctx.reply.error(SYNTAX);
    }
    let (db, now) = (ctx.db, ctx.now);
    let ks = &mut *ctx.ks;
    match ks.dbs[db].get(a.get(1), now, &mut ks.stats) {
        None => ctx.reply.null(),
        Some(Value::Set(s)) => match s.random(&mut ks.rng) {
            Some(m) => reply_member(ctx.reply, m),
            None => ctx.reply.null(),
        },
        Some(_) => ctx.reply.error(WRONGTYPE),
    }
}

fn srandmember_count(ctx: &mut Ctx, a: Args) {
    let Some(l) = range_arg(ctx.reply, a.get(2), -i64::MAX, i64::MAX, None) else {
        return;
    };
    let (count, uniq) = (l.unsigned_abs(), l >= 0);
    let (db, now) = (ctx.db, ctx.now);
    let ks = &mut *ctx.ks;
    let reply = &mut *ctx.reply;
    let s = match ks.dbs[db].get(a.get(1), now, &mut ks.stats) {
        None => return reply.array(0),
        Some(Value::Set(s)) => &**s,
        Some(_) => return reply.error(WRONGTYPE),
    };
    let rng = &mut ks.rng;
    if count == 0 {
        return reply.array(0);
    }
    let size = s.len() as u64;
    if !uniq || count == 1 {
        // Independent picks, repeats allowed: streamed straight into the reply (nothing is
        // allocated per requested element).
        reply.array(count as usize);
        for _ in 0..count {
            if reply.over_limit() {
                break;
            }
            match s.random(rng) {
                Some(m) => reply_member(reply, m),
                None => reply.null(),
            }
        }
        return;
    }
    if count >= size {
        reply.array(s.len());
        for m in s.iter() {
            reply_member(reply, m);
        }
        return;
    }
    // Here count < size, so what is allocated is bounded by the set's own size.
    let picks = if count * SRANDMEMBER_SUB_STRATEGY_MUL > size {
        s.sample_distinct(count as usize, rng)
    } else {
        s.pick_distinct(count as usize, rng)
    };
    reply.array(picks.len());
    for m in picks {
        reply_member(reply, m);
    }
}

/// SMOVE source destination member
pub fn smove(ctx: &mut Ctx, a: Args) {
    let (src, dst, ele) = (a.get(1), a.get(2), a.get(3));
    let (db, now, max) = (ctx.db, ctx.now, ctx.limits.set_max_intset_entries);
    let d = &mut ctx.ks.dbs[db];
    let src_is_set = d.get_mut(src, now).map(|v| matches!(v, Value::Set(_)));
    let dst_is_set = d.get_mut(dst, now).map(|v| matches!(v, Value::Set(_)));
    match (src_is_set, dst_is_set) {
        (None, _) => return ctx.reply.int(0),
        (Some(false), _) | (_, Some(false)) => return ctx.reply.error(WRONGTYPE),
        _ => {}
    }
    if src == dst {
        let v = matches!(d.main.get(src).map(|o| &o.value), Some(Value::Set(s)) if s.contains(ele));
        return ctx.reply.int(v as i64);
    }
    let emptied = match d.get_mut(src, now) {
        Some(Value::Set(s)) => {
            if !s.remove(ele) {
                return ctx.reply.int(0);
            }
            s.is_empty()
        }
        _ => return ctx.reply.int(0),
    };
    if emptied {
        d.remove(src, now);
    }
    ctx.notify(SET, "srem", src);
    if emptied {
        ctx.notify(GENERIC, "del", src);
    }
    ctx.dirty += 1;
    let d = &mut ctx.ks.dbs[db];
    let added = match d.get_mut(dst, now) {
        Some(Value::Set(s)) => s.add(ele, max),
        _ => {
            let mut s = SetValue::for_member(ele);
            s.add(ele, max);
            d.add(dst, Value::Set(Box::new(s)), now);
            true
        }
    };
    if added {
        ctx.dirty += 1;
        ctx.notify(SET, "sadd", dst);
    }
    ctx.reply.int(1);
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]
pub fn sscan(ctx: &mut Ctx, a: Args) {
    let Some(cursor) = num::parse_scan_cursor(a.get(2)) else {
        return ctx.reply.error("ERR invalid cursor");
    };
    let s = match read_set(ctx.ks, ctx.db, a.get(1), ctx.now, ctx.reply) {
        Ok(Some(s)) => s,
        Ok(None) => {
            ctx.reply.array(2);
            ctx.reply.bulk(b"0");
            return ctx.reply.array(0);
        }
        Err(()) => return,
    };
    let mut count: i64 = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut j = 3;
    while j < a.len() {
        let more = j + 1 < a.len();
        if eq_ic(a.get(j), "count") && more {
            let Some(c) = int_arg(ctx.reply, a.get(j + 1)) else {
                return;
            };
            if c < 1 {
                return ctx.reply.error(SYNTAX);
            }
            count = c;
        } else if eq_ic(a.get(j), "match") && more {
            let p = a.get(j + 1);
            pattern = if p == b"*" { None } else { Some(p) };
        } else {
            return ctx.reply.error(SYNTAX);
        }
        j += 2;
    }
    let mut found: Vec<Member> = Vec::new();
    let mut cur = cursor;
    if s.is_intset() {
        cur = s.scan(cur, |m| found.push(m));
    } else {
        // As Redis: at most 10 * COUNT bucket visits (an almost empty table returns few).
        let mut budget = count.saturating_mul(10);
        loop {
            cur = s.scan(cur, |m| found.push(m));
            if cur == 0 || budget == 0 || found.len() as i64 >= count {
                break;
            }
            budget -= 1;
        }
    }
    if let Some(p) = pattern {
        found.retain(|m| m.with_bytes(|b| glob_match(p, b, false)));
    }
    ctx.reply.array(2);
    ctx.reply.bulk_int(cur as i64);
    ctx.reply.array(found.len());
    for m in found {
        reply_member(ctx.reply, m);
    }
}
