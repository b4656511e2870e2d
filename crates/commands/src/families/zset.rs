//! Sorted-set commands (ZADD, ZRANGE and its variants, ZUNION/ZINTER/ZDIFF, ZPOP, ZRANDMEMBER,
//! ZSCAN, BZPOPMIN, ...). Parsing and reply shaping live here; the data structure is
//! `cinnabar_keyspace::types::zset`.
//!
//! Every range form (by rank, score or lex, forward or reverse, with LIMIT) is reduced to a
//! window of ascending ranks `[a, b)` plus a direction, which the type serves in O(log n + k).
//!
//! The blocking commands (BZPOPMIN, BZPOPMAX, BZMPOP) behave like Redis when an element is
//! there; when every key is empty they answer the timeout reply at once (blocking needs
//! server-side support that is not built yet).

use crate::blocking::{parse_timeout, BlockType, TimeoutReply};
use crate::table::{def, ks, ks_keynum, Def, Extra, Handler::Data};
use crate::util::{eq_ic, NOT_INT, SYNTAX};
use crate::Ctx;
use cinnabar_keyspace::db::Keyspace;
use cinnabar_keyspace::dict::next_rand;
use cinnabar_keyspace::notify::{GENERIC, ZSET};
use cinnabar_keyspace::types::set::SetValue;
use cinnabar_keyspace::types::zset::ZSetValue;
use cinnabar_keyspace::value::{Value, WRONGTYPE};
use cinnabar_resp::{Args, ReplyBuf};
use cinnabar_util::glob::glob_match;
use cinnabar_util::num;

const NOT_FLOAT: &str = "ERR value is not a valid float";
const BAD_SCORE_RANGE: &str = "ERR min or max is not a float";
const BAD_LEX_RANGE: &str = "ERR min or max not valid string range item";

// ---------------------------------------------------------------------------------------------
// Argument parsing
// ---------------------------------------------------------------------------------------------

/// A strict double (Redis's `getDoubleFromObject`).
fn parse_double(a: &[u8]) -> Option<f64> {
    num::parse_f64_strict(a)
}

/// C `strtod` over the argument as a C string, all of it consumed (a NUL ends it), not NaN:
/// how Redis reads score range bounds (leading blanks and "" are accepted, as there).
fn parse_bound_number(s: &[u8]) -> Option<f64> {
    let (v, used, _) = num::strtod(s)?;
    if (used == s.len() || s.get(used) == Some(&0)) && !v.is_nan() {
        Some(v)
    } else {
        None
    }
}

/// A score interval.
#[derive(Clone, Copy)]
struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

fn parse_score_bound(a: &[u8]) -> Option<(f64, bool)> {
    match a.first() {
        Some(b'(') => parse_bound_number(&a[1..]).map(|v| (v, true)),
        _ => parse_bound_number(a).map(|v| (v, false)),
    }
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
    let (min, minex) = parse_score_bound(min)?;
    let (max, maxex) = parse_score_bound(max)?;
    Some(ScoreRange {
        min,
        minex,
        max,
        maxex,
    })
}

/// One end of a lex interval.
#[derive(Clone, Copy)]
enum LexBound<'a> {
    NegInf,
    PosInf,
    Incl(&'a [u8]),
    Excl(&'a [u8]),
}

fn parse_lex_bound(a: &[u8]) -> Option<LexBound<'_>> {
    match a.first() {
        Some(b'+') if a.len() == 1 => Some(LexBound::PosInf),
        Some(b'-') if a.len() == 1 => Some(LexBound::NegInf),
        Some(b'(') => Some(LexBound::Excl(&a[1..])),
        Some(b'[') => Some(LexBound::Incl(&a[1..])),
        _ => None,
    }
}

fn parse_lex_range<'a>(min: &'a [u8], max: &'a [u8]) -> Option<(LexBound<'a>, LexBound<'a>)> {
    Some((parse_lex_bound(min)?, parse_lex_bound(max)?))
}

/// Ascending ranks `[lo, hi)` of the elements within a score range.
fn score_window(z: &ZSetValue, r: &ScoreRange) -> (usize, usize) {
    let lo = z.count_prefix(|s, _| if r.minex { s <= r.min } else { s < r.min });
    let hi = z.count_prefix(|s, _| if r.maxex { s < r.max } else { s <= r.max });
    (lo, hi.max(lo))
}

/// Ascending ranks `[lo, hi)` of the elements within a lex range.
fn lex_window(z: &ZSetValue, min: LexBound, max: LexBound) -> (usize, usize) {
    let lo = match min {
        LexBound::NegInf => 0,
        LexBound::PosInf => z.len(),
        LexBound::Incl(x) => z.count_prefix(|_, m| m < x),
        LexBound::Excl(x) => z.count_prefix(|_, m| m <= x),
    };
    let hi = match max {
        LexBound::NegInf => 0,
        LexBound::PosInf => z.len(),
        LexBound::Incl(x) => z.count_prefix(|_, m| m <= x),
        LexBound::Excl(x) => z.count_prefix(|_, m| m < x),
    };
    (lo, hi.max(lo))
}

/// Redis's rank sanitizing (ZRANGE by rank, ZREMRANGEBYRANK): ascending ranks `[a, b)`.
fn rank_window(len: usize, start: i64, end: i64) -> (usize, usize) {
    let llen = len as i64;
    let mut start = if start < 0 { start + llen } else { start };
    let mut end = if end < 0 { end + llen } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return (0, 0);
    }
    if end >= llen {
        end = llen - 1;
    }
    (start as usize, end as usize + 1)
}

/// Applies LIMIT offset count to a window of ascending ranks read in direction `rev`.
fn limit_window(lo: usize, hi: usize, rev: bool, offset: i64, limit: i64) -> (usize, usize) {
    if offset < 0 || hi <= lo {
        return (0, 0);
    }
    let span = hi - lo;
    let off = (offset as u64).min(span as u64) as usize;
    let left = span - off;
    let take = if limit < 0 {
        left
    } else {
        (limit as u64).min(left as u64) as usize
    };
    if rev {
        (hi - off - take, hi - off)
    } else {
        (lo + off, lo + off + take)
    }
}

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

/// A score as Redis's `addReplyDouble` writes it (`%.17g`; a RESP3 double).
fn reply_double(r: &mut ReplyBuf, v: f64) {
    let mut b = Vec::with_capacity(24);
    num::fmt_g17_into(v, &mut b);
    r.double_str(&b);
}

/// Writes the elements of ranks `[a, b)` (reverse order when `rev`): flat in RESP2, pairs in
/// RESP3 when `withscores`.
fn reply_window(r: &mut ReplyBuf, z: &ZSetValue, a: usize, b: usize, rev: bool, ws: bool) {
    let n = b.saturating_sub(a);
    if ws && !r.resp3 {
        r.array(n * 2);
    } else {
        r.array(n);
    }
    z.range(a, b, rev, |m, s| {
        if ws && r.resp3 {
            r.array(2);
        }
        r.bulk(m);
        if ws {
            reply_double(r, s);
        }
    });
}

fn reply_pairs(r: &mut ReplyBuf, items: &[(Vec<u8>, f64)], ws: bool) {
    if ws && !r.resp3 {
        r.array(items.len() * 2);
    } else {
        r.array(items.len());
    }
    for (m, s) in items {
        if ws && r.resp3 {
            r.array(2);
        }
        r.bulk(m);
        if ws {
            reply_double(r, *s);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Key access
// ---------------------------------------------------------------------------------------------

/// Looks a key up for reading (counts a hit or miss): `Err` when it holds another type.
pub(crate) fn zread<'a>(
    ks: &'a mut Keyspace,
    db: usize,
    key: &[u8],
    now: i64,
) -> Result<Option<&'a ZSetValue>, ()> {
    let Keyspace { dbs, stats, .. } = ks;
    match dbs[db].get(key, now, stats) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(()),
    }
}

/// Looks a key up for writing: `Err` when it holds another type.
fn zwrite<'a>(
    ks: &'a mut Keyspace,
    db: usize,
    key: &[u8],
    now: i64,
) -> Result<Option<&'a mut ZSetValue>, ()> {
    match ks.dbs[db].get_mut(key, now) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(()),
    }
}

/// Deletes `key` if its sorted set became empty.
fn drop_if_empty(ctx: &mut Ctx, key: &[u8]) {
    let now = ctx.now;
    let empty = matches!(ctx.db().peek(key, now), Some(Value::ZSet(z)) if z.is_empty());
    if empty {
        ctx.db().remove(key, now);
        ctx.notify(GENERIC, "del", key);
    }
}

/// Stores `items` (ascending, distinct) at `dst`, or deletes `dst` when empty; replies the
/// count (the *STORE commands).
fn store_result(ctx: &mut Ctx, dst: &[u8], items: &[(Vec<u8>, f64)], event: &'static str) {
    if items.is_empty() {
        // Redis's dbDelete: a key past its TTL is deleted too (and reported as `del`).
        if ctx.db().take(dst).is_some() {
            ctx.notify(GENERIC, "del", dst);
            ctx.dirty += 1;
        }
        return ctx.reply.int(0);
    }
    let z = ZSetValue::from_sorted(items, &ctx.limits);
    ctx.set_key(dst, Value::ZSet(Box::new(z)), false);
    ctx.notify(ZSET, event, dst);
    ctx.dirty += 1;
    ctx.reply.int(items.len() as i64);
}

// ---------------------------------------------------------------------------------------------
// ZADD / ZINCRBY / ZREM / ZSCORE / ZMSCORE / ZCARD / ZRANK
// ---------------------------------------------------------------------------------------------

const F_NX: u8 = 1;
const F_XX: u8 = 2;
const F_GT: u8 = 4;
const F_LT: u8 = 8;
const F_INCR: u8 = 16;

pub(crate) fn zadd_generic(ctx: &mut Ctx, a: Args, mut flags: u8) {
    let key = a.get(1);
    let mut ch = false;
    let mut idx = 2;
    while idx < a.len() {
        let o = a.get(idx);
        if eq_ic(o, "nx") {
            flags |= F_NX;
        } else if eq_ic(o, "xx") {
            flags |= F_XX;
        } else if eq_ic(o, "ch") {
            ch = true;
        } else if eq_ic(o, "incr") {
            flags |= F_INCR;
        } else if eq_ic(o, "gt") {
            flags |= F_GT;
        } else if eq_ic(o, "lt") {
            flags |= F_LT;
        } else {
            break;
        }
        idx += 1;
    }
    let (nx, xx, gt, lt, incr) = (
        flags & F_NX != 0,
        flags & F_XX != 0,
        flags & F_GT != 0,
        flags & F_LT != 0,
        flags & F_INCR != 0,
    );
    let elements = a.len() - idx;
    if !elements.is_multiple_of(2) || elements == 0 {
        return ctx.reply.error(SYNTAX);
    }
    let elements = elements / 2;
    if nx && xx {
        return ctx
            .reply
            .error("ERR XX and NX options at the same time are not compatible");
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return ctx
            .reply
            .error("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if incr && elements > 1 {
        return ctx
            .reply
            .error("ERR INCR option supports a single increment-element pair");
    }
    let mut scores = Vec::with_capacity(elements);
    for j in 0..elements {
        match parse_double(a.get(idx + 2 * j)) {
            Some(s) => scores.push(s),
            None => return ctx.reply.error(NOT_FLOAT),
        }
    }
    let limits = ctx.limits;
    let (now, db) = (ctx.now, ctx.db);
    let exists = match zwrite(ctx.ks, db, key, now) {
        Err(()) => return ctx.reply.error(WRONGTYPE),
        Ok(z) => z.is_some(),
    };
    if !exists {
        if xx {
            return if incr {
                ctx.reply.null()
            } else {
                ctx.reply.int(0)
            };
        }
        let z = ZSetValue::new_for(&limits, a.get(idx + 1).len());
        ctx.db().set(key, Value::ZSet(Box::new(z)), false, now);
    }
    let Ok(Some(z)) = zwrite(ctx.ks, db, key, now) else {
        return ctx.reply.error(WRONGTYPE);
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last = 0.0;
    let mut nan = false;
    for (j, &score0) in scores.iter().enumerate() {
        let member = a.get(idx + 1 + 2 * j);
        match z.score(member) {
            Some(cur) => {
                if nx {
                    continue;
                }
                let mut score = score0;
                if incr {
                    score += cur;
                    if score.is_nan() {
                        nan = true;
                        break;
                    }
                }
                if (lt && score >= cur) || (gt && score <= cur) {
                    continue;
                }
                last = score;
                processed += 1;
                if score != cur {
                    z.set(member, score, &limits);
                    updated += 1;
                }
            }
            None => {
                if xx {
                    continue;
                }
                z.set(member, score0, &limits);
                last = score0;
                added += 1;
                processed += 1;
            }
        }
    }
    let empty = z.is_empty();
    if empty {
        ctx.db().remove(key, now);
    }
    ctx.dirty += (added + updated) as u64;
    if added + updated > 0 {
        ctx.notify(ZSET, if incr { "zincr" } else { "zadd" }, key);
    }
    if nan {
        return ctx.reply.error("ERR resulting score is not a number (NaN)");
    }
    if incr {
        if processed > 0 {
            reply_double(ctx.reply, last);
        } else {
            ctx.reply.null();
        }
    } else {
        ctx.reply.int(if ch { added + updated } else { added });
    }
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
pub fn zadd(ctx: &mut Ctx, a: Args) {
    zadd_generic(ctx, a, 0);
}

/// ZINCRBY key increment member
pub fn zincrby(ctx: &mut Ctx, a: Args) {
    zadd_generic(ctx, a, F_INCR);
}

/// ZREM key member [member ...]
pub fn zrem(ctx: &mut Ctx, a: Args) {
    let key = a.get(1);
    let (now, db) = (ctx.now, ctx.db);
    let z = match zwrite(ctx.ks, db, key, now) {
        Err(()) => return ctx.reply.error(WRONGTYPE),
        Ok(None) => return ctx.reply.int(0),
        Ok(Some(z)) => z,
    };
    let mut deleted = 0;
    for m in a.tail(2).iter() {
        if z.remove(m) {
            deleted += 1;
        }
        if z.is_empty() {
            break;
        }
    }
    if deleted > 0 {
        ctx.notify(ZSET, "zrem", key);
    }
    drop_if_empty(ctx, key);
    ctx.dirty += deleted as u64;
    ctx.reply.int(deleted);
}

/// ZSCORE key member
pub fn zscore(ctx: &mut Ctx, a: Args) {
    match zread(ctx.ks, ctx.db, a.get(1), ctx.now) {
        Err(()) => ctx.reply.error(WRONGTYPE),
        Ok(z) => match z.and_then(|z| z.score(a.get(2))) {
            Some(s) => reply_double(ctx.reply, s),
            None => ctx.reply.null(),
        },
    }
}

/// ZMSCORE key member [member ...]
pub fn zmscore(ctx: &mut Ctx, a: Args) {
    let z = match zread(ctx.ks, ctx.db, a.get(1), ctx.now) {
        Err(()) => return ctx.reply.error(WRONGTYPE),
        Ok(z) => z,
    };
    ctx.reply.array(a.len() - 2);
    for m in a.tail(2).iter() {
        match z.and_then(|z| z.score(m)) {
            Some(s) => reply_double(ctx.reply, s),
            None => ctx.reply.null(),
        }
    }
}

/// ZCARD key
pub fn zcard(ctx: &mut Ctx, a: Args) {
    match zread(ctx.ks, ctx.db, a.get(1), ctx.now) {
        Err(()) => ctx.reply.error(WRONGTYPE),
        Ok(z) => ctx.reply.int(z.map_or(0, |z| z.len()) as i64),
    }
}

fn zrank_generic(ctx: &mut Ctx, a: Args, rev: bool) {
    match zread(ctx.ks, ctx.db, a.get(1), ctx.now) {
        Err(()) => ctx.reply.error(WRONGTYPE),
        Ok(None) => ctx.reply.null(),
        Ok(Some(z)) => match z.rank(a.get(2)) {
            Some((r, _)) => {
                let r = if rev { z.len() - 1 - r } else { r };
                ctx.reply.int(r as i64)
            }
            None => ctx.reply.null(),
        },
    }
}

/// ZRANK key member
pub fn zrank(ctx: &mut Ctx, a: Args) {
    zrank_generic(ctx, a, false);
}

/// ZREVRANK key member
pub fn zrevrank(ctx: &mut Ctx, a: Args) {
    zrank_generic(ctx, a, true);
}

/// ZCOUNT key min max
pub fn zcount(ctx: &mut Ctx, a: Args) {
    let Some(r) = parse_score_range(a.get(2), a.get(3)) else {
        return ctx.reply.error(BAD_SCORE_RANGE);
    };
    match zread(ctx.ks, ctx.db, a.get(1), ctx.now) {
        Err(()) => ctx.reply.error(WRONGTYPE),
        Ok(None) => ctx.reply.int(0),
        Ok(Some(z)) => {
            let (lo, hi) = score_window(z, &r);
            ctx.reply.int((hi - lo) as i64)
        }
    }
}

/// ZLEXCOUNT key min max
pub fn zlexcount(ctx: &mut Ctx, a: Args) {
    let Some((min, max)) = parse_lex_range(a.get(2), a.get(3)) else {
        return ctx.reply.error(BAD_LEX_RANGE);
    };
    match zread(ctx.ks, ctx.db, a.get(1), ctx.now) {
        Err(()) => ctx.reply.error(WRONGTYPE),
        Ok(None) => ctx.reply.int(0),
        Ok(Some(z)) => {
            let (lo, hi) = lex_window(z, min, max);
            ctx.reply.int((hi - lo) as i64)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ZRANGE and friends
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Auto,
    Forward,
    Reverse,
}

/// ZRANGE, ZRANGESTORE and the older Z[REV]RANGE[BYSCORE|BYLEX]: `first` is the index of the
/// source key, `dst` the destination of ZRANGESTORE.
fn zrange_generic(
    ctx: &mut Ctx,
    a: Args,
    first: usize,
    dst: Option<&[u8]>,
    mut rt: RangeType,
    mut dir: Dir,
) {
    let key = a.get(first);
    let mut minidx = first + 1;
    let mut maxidx = first + 2;
    let mut withscores = false;
    let mut offset: i64 = 0;
    let mut limit: i64 = -1;
    let mut j = first + 3;
    while j < a.len() {
        let o = a.get(j);
        let left = a.len() - j - 1;
        if dst.is_none() && eq_ic(o, "withscores") {
            withscores = true;
        } else if eq_ic(o, "limit") && left >= 2 {
            let (Some(off), Some(lim)) =
                (num::string2ll(a.get(j + 1)), num::string2ll(a.get(j + 2)))
            else {
                return ctx.reply.error(NOT_INT);
            };
            offset = off;
            limit = lim;
            j += 2;
        } else if dir == Dir::Auto && eq_ic(o, "rev") {
            dir = Dir::Reverse;
        } else if rt == RangeType::Auto && eq_ic(o, "bylex") {
            rt = RangeType::Lex;
        } else if rt == RangeType::Auto && eq_ic(o, "byscore") {
            rt = RangeType::Score;
        } else {
            return ctx.reply.error(SYNTAX);
        }
        j += 1;
    }
    if dir == Dir::Auto {
        dir = Dir::Forward;
    }
    if rt == RangeType::Auto {
        rt = RangeType::Rank;
    }
    if limit != -1 && rt == RangeType::Rank {
        return ctx.reply.error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    if withscores && rt == RangeType::Lex {
        return ctx
            .reply
            .error("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    let rev = dir == Dir::Reverse;
    if rev && rt != RangeType::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    enum Spec<'a> {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexBound<'a>, LexBound<'a>),
    }
    let spec = match rt {
        RangeType::Score => match parse_score_range(a.get(minidx), a.get(maxidx)) {
            Some(r) => Spec::Score(r),
            None => return ctx.reply.error(BAD_SCORE_RANGE),
        },
        RangeType::Lex => match parse_lex_range(a.get(minidx), a.get(maxidx)) {
            Some((x, y)) => Spec::Lex(x, y),
            None => return ctx.reply.error(BAD_LEX_RANGE),
        },
        _ => {
            let (Some(s), Some(e)) = (num::string2ll(a.get(minidx)), num::string2ll(a.get(maxidx)))
            else {
                return ctx.reply.error(NOT_INT);
            };
            Spec::Rank(s, e)
        }
    };
    let z = match zread(ctx.ks, ctx.db, key, ctx.now) {
        Err(()) => return ctx.reply.error(WRONGTYPE),
        Ok(None) => {
            return match dst {
                Some(d) => store_result(ctx, d, &[], "zrangestore"),
                None => ctx.reply.array(0),
            }
        }
        Ok(Some(z)) => z,
    };
    let (lo, hi) = match spec {
        Spec::Rank(s, e) => {
            let (x, y) = rank_window(z.len(), s, e);
            if rev && y > x {
                (z.len() - y, z.len() - x)
            } else {
                (x, y)
            }
        }
        Spec::Score(r) => {
            let (x, y) = score_window(z, &r);
            limit_window(x, y, rev, offset, limit)
        }
        Spec::Lex(mn, mx) => {
            let (x, y) = lex_window(z, mn, mx);
            limit_window(x, y, rev, offset, limit)
        }
    };
    match dst {
        None => reply_window(ctx.reply, z, lo, hi, rev, withscores),
        Some(d) => {
            let items = z.collect_range(lo, hi, false);
            store_result(ctx, d, &items, "zrangestore");
        }
    }
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
pub fn zrange(ctx: &mut Ctx, a: Args) {
    zrange_generic(ctx, a, 1, None, RangeType::Auto, Dir::Auto);
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
pub fn zrangestore(ctx: &mut Ctx, a: Args) {
    let dst = a.get(1).to_vec();
    zrange_generic(ctx, a, 2, Some(&dst), RangeType::Auto, Dir::Auto);
}

/// ZREVRANGE key start stop [WITHSCORES]
pub fn zrevrange(ctx: &mut Ctx, a: Args) {
    zrange_generic(ctx, a, 1, None, RangeType::Rank, Dir::Reverse);
}

/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
pub fn zrangebyscore(ctx: &mut Ctx, a: Args) {
    zrange_generic(ctx, a, 1, None, RangeType::Score, Dir::Forward);
}

/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
pub fn zrevrangebyscore(ctx: &mut Ctx, a: Args) {
    zrange_generic(ctx, a, 1, None, RangeType::Score, Dir::Reverse);
}

/// ZRANGEBYLEX key min max [LIMIT offset count]
pub fn zrangebylex(ctx: &mut Ctx, a: Args) {
    zrange_generic(ctx, a, 1, None, RangeType::Lex, Dir::Forward);
}

/// ZREVRANGEBYLEX key max min [LIMIT offset count]
pub fn zrevrangebylex(ctx: &mut Ctx, a: Args) {
    zrange_generic(ctx, a, 1, None, RangeType::Lex, Dir::Reverse);
}

fn zremrange_generic(ctx: &mut Ctx, a: Args, rt: RangeType) {
    let key = a.get(1);
    enum Spec<'a> {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexBound<'a>, LexBound<'a>),
    }
    let spec = match rt {
        RangeType::Score => match parse_score_range(a.get(2), a.get(3)) {
            Some(r) => Spec::Score(r),
            None => return ctx.reply.error(BAD_SCORE_RANGE),
        },
        RangeType::Lex => match parse_lex_range(a.get(2), a.get(3)) {
            Some((x, y)) => Spec::Lex(x, y),
            None => return ctx.reply.error(BAD_LEX_RANGE),
        },
        _ => {
            let Some(s) = num::string2ll(a.get(2)) else {
                return ctx.reply.error(NOT_INT);
            };
            let Some(e) = num::string2ll(a.get(3)) else {
                return ctx.reply.error(NOT_INT);
            };
            Spec::Rank(s, e)
        }
    };
    let (now, db) = (ctx.now, ctx.db);
    let z = match zwrite(ctx.ks, db, key, now) {
        Err(()) => return ctx.reply.error(WRONGTYPE),
        Ok(None) => return ctx.reply.int(0),
        Ok(Some(z)) => z,
    };
    let (lo, hi) = match spec {
        Spec::Rank(s, e) => rank_window(z.len(), s, e),
        Spec::Score(r) => score_window(z, &r),
        Spec::Lex(x, y) => lex_window(z, x, y),
    };
    let n = z.remove_ranks(lo, hi);
    if n > 0 {
        let event = match rt {
            RangeType::Score => "zremrangebyscore",
            RangeType::Lex => "zremrangebylex",
            _ => "zremrangebyrank",
        };
        ctx.notify(ZSET, event, key);
    }
    drop_if_empty(ctx, key);
    ctx.dirty += n as u64;
    ctx.reply.int(n as i64);
}

/// ZREMRANGEBYRANK key start stop
pub fn zremrangebyrank(ctx: &mut Ctx, a: Args) {
    zremrange_generic(ctx, a, RangeType::Rank);
}

/// ZREMRANGEBYSCORE key min max
pub fn zremrangebyscore(ctx: &mut Ctx, a: Args) {
    zremrange_generic(ctx, a, RangeType::Score);
}

/// ZREMRANGEBYLEX key min max
pub fn zremrangebylex(ctx: &mut Ctx, a: Args) {
    zremrange_generic(ctx, a, RangeType::Lex);
}

// ---------------------------------------------------------------------------------------------
// ZUNION / ZINTER / ZDIFF (+STORE), ZINTERCARD
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggr {
    Sum,
    Min,
    Max,
}

/// One input of a set operation (a plain set's members count with score 1).
enum Src<'a> {
    Missing,
    Z(&'a ZSetValue),
    Set(&'a SetValue),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::Z(z) => z.len(),
            Src::Set(v) => v.len(),
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Missing => None,
            Src::Z(z) => z.score(m),
            Src::Set(v) => v.contains(m).then_some(1.0),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Src::Missing => {}
            Src::Z(z) => z.for_each(f),
            Src::Set(v) => v.iter().for_each(|m| m.with_bytes(|b| f(b, 1.0))),
        }
    }
}

fn aggregate(a: Aggr, target: &mut f64, v: f64) {
    match a {
        Aggr::Sum => {
            *target += v;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggr::Min => {
            if v < *target {
                *target = v;
            }
        }
        Aggr::Max => {
            if v > *target {
                *target = v;
            }
        }
    }
}

fn weighted(w: f64, s: f64) -> f64 {
    let v = w * s;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// The shared body of ZUNION[STORE], ZINTER[STORE], ZDIFF[STORE], ZINTERCARD.
fn setop_generic(ctx: &mut Ctx, a: Args, nk_idx: usize, dst: Option<&[u8]>, op: SetOp, card: bool) {
    let Some(setnum) = num::string2ll(a.get(nk_idx)) else {
        return ctx.reply.error(NOT_INT);
    };
    if setnum < 1 {
        let name = String::from_utf8_lossy(a.get(0)).to_ascii_lowercase();
        return ctx.reply.error(&format!(
            "ERR at least 1 input key is needed for '{name}' command"
        ));
    }
    if setnum > (a.len() - (nk_idx + 1)) as i64 {
        return ctx.reply.error(SYNTAX);
    }
    let setnum = setnum as usize;
    let keys: Vec<&[u8]> = (0..setnum).map(|i| a.get(nk_idx + 1 + i)).collect();
    let (now, db) = (ctx.now, ctx.db);
    {
        let Keyspace { dbs, stats, .. } = &mut *ctx.ks;
        for k in &keys {
            match dbs[db].get(k, now, stats) {
                None | Some(Value::ZSet(_)) | Some(Value::Set(_)) => {}
                Some(_) => return ctx.reply.error(WRONGTYPE),
            }
        }
    }
    let mut weights = vec![1.0f64; setnum];
    let mut aggr = Aggr::Sum;
    let mut withscores = false;
    let mut limit: i64 = 0;
    let mut j = nk_idx + 1 + setnum;
    while j < a.len() {
        let remaining = a.len() - j;
        let o = a.get(j);
        if op != SetOp::Diff && !card && remaining > setnum && eq_ic(o, "weights") {
            j += 1;
            for w in weights.iter_mut() {
                match parse_double(a.get(j)) {
                    Some(v) => *w = v,
                    None => return ctx.reply.error("ERR weight value is not a float"),
                }
                j += 1;
            }
        } else if op != SetOp::Diff && !card && remaining >= 2 && eq_ic(o, "aggregate") {
            let v = a.get(j + 1);
            aggr = if eq_ic(v, "sum") {
                Aggr::Sum
            } else if eq_ic(v, "min") {
                Aggr::Min
            } else if eq_ic(v, "max") {
                Aggr::Max
            } else {
                return ctx.reply.error(SYNTAX);
            };
            j += 2;
        } else if dst.is_none() && !card && eq_ic(o, "withscores") {
            withscores = true;
            j += 1;
        } else if card && remaining >= 2 && eq_ic(o, "limit") {
            match num::string2ll(a.get(j + 1)) {
                Some(l) if l >= 0 => limit = l,
                _ => return ctx.reply.error("ERR LIMIT can't be negative"),
            }
            j += 2;
        } else {
            return ctx.reply.error(SYNTAX);
        }
    }
    let dbr = &ctx.ks.dbs[db];
    let mut srcs: Vec<(Src, f64)> = keys
        .iter()
        .zip(&weights)
        .map(|(k, w)| {
            let s = match dbr.main.get(*k).map(|o| &o.value) {
                Some(Value::ZSet(z)) => Src::Z(z),
                Some(Value::Set(v)) => Src::Set(v),
                _ => Src::Missing,
            };
            (s, *w)
        })
        .collect();
    if op != SetOp::Diff {
        srcs.sort_by_key(|(s, _)| s.len());
    }
    let mut out: Vec<(Vec<u8>, f64)> = Vec::new();
    match op {
        SetOp::Inter => {
            if srcs[0].0.len() > 0 {
                let (first, rest) = srcs.split_at(1);
                let mut count = 0i64;
                let mut done = false;
                first[0].0.for_each(|m, s| {
                    if done {
                        return;
                    }
                    let mut score = weighted(first[0].1, s);
                    for (src, w) in rest {
                        match src.score(m) {
                            Some(v) => aggregate(aggr, &mut score, weighted(*w, v)),
                            None => return,
                        }
                    }
                    if card {
                        count += 1;
                        if limit > 0 && count >= limit {
                            done = true;
                        }
                    } else {
                        out.push((m.to_vec(), score));
                    }
                });
                if card {
                    return ctx.reply.int(count);
                }
            } else if card {
                return ctx.reply.int(0);
            }
        }
        SetOp::Union => {
            let mut idx: std::collections::HashMap<Vec<u8>, usize> =
                std::collections::HashMap::new();
            for (src, w) in &srcs {
                src.for_each(|m, s| {
                    let v = weighted(*w, s);
                    match idx.get(m) {
                        Some(&i) => aggregate(aggr, &mut out[i].1, v),
                        None => {
                            idx.insert(m.to_vec(), out.len());
                            out.push((m.to_vec(), v));
                        }
                    }
                });
            }
        }
        SetOp::Diff => {
            let (first, rest) = srcs.split_at(1);
            first[0].0.for_each(|m, s| {
                if rest.iter().all(|(src, _)| src.score(m).is_none()) {
                    out.push((m.to_vec(), s));
                }
            });
        }
    }
    // -0 and 0 compare equal (then by member), as in Redis.
    out.sort_by(|x, y| {
        x.1.partial_cmp(&y.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| x.0.cmp(&y.0))
    });
    match dst {
        Some(d) => {
            let event = match op {
                SetOp::Union => "zunionstore",
                SetOp::Inter => "zinterstore",
                SetOp::Diff => "zdiffstore",
            };
            store_result(ctx, d, &out, event)
        }
        None => reply_pairs(ctx.reply, &out, withscores),
    }
}

/// ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub fn zunion(ctx: &mut Ctx, a: Args) {
    setop_generic(ctx, a, 1, None, SetOp::Union, false);
}

/// ZINTER numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub fn zinter(ctx: &mut Ctx, a: Args) {
    setop_generic(ctx, a, 1, None, SetOp::Inter, false);
}

/// ZDIFF numkeys key [key ...] [WITHSCORES]
pub fn zdiff(ctx: &mut Ctx, a: Args) {
    setop_generic(ctx, a, 1, None, SetOp::Diff, false);
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn zintercard(ctx: &mut Ctx, a: Args) {
    setop_generic(ctx, a, 1, None, SetOp::Inter, true);
}

fn store_op(ctx: &mut Ctx, a: Args, op: SetOp) {
    let dst = a.get(1).to_vec();
    setop_generic(ctx, a, 2, Some(&dst), op, false);
}

/// ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...]
pub fn zunionstore(ctx: &mut Ctx, a: Args) {
    store_op(ctx, a, SetOp::Union);
}

/// ZINTERSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...]
pub fn zinterstore(ctx: &mut Ctx, a: Args) {
    store_op(ctx, a, SetOp::Inter);
}

/// ZDIFFSTORE destination numkeys key [key ...]
pub fn zdiffstore(ctx: &mut Ctx, a: Args) {
    store_op(ctx, a, SetOp::Diff);
}

// ---------------------------------------------------------------------------------------------
// ZPOPMIN / ZPOPMAX / ZMPOP and the blocking forms
// ---------------------------------------------------------------------------------------------

/// Pops from the first non-empty key of `keys`. `count` None = single pop. `emitkey` prefixes
/// the key; `nested` uses [member, score] pairs; `nil_empty` answers a null array when every
/// key is missing. Returns false when nothing was there (the reply is then written already).
#[allow(clippy::too_many_arguments)]
fn zpop_generic(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    max: bool,
    emitkey: bool,
    count: Option<u64>,
    nested: bool,
    nil_empty: bool,
) -> bool {
    let (now, db) = (ctx.now, ctx.db);
    let mut found: Option<&[u8]> = None;
    for k in keys {
        match zwrite(ctx.ks, db, k, now) {
            Err(()) => {
                ctx.reply.error(WRONGTYPE);
                return true;
            }
            Ok(None) => continue,
            Ok(Some(_)) => {
                found = Some(k);
                break;
            }
        }
    }
    let Some(key) = found else {
        if nil_empty {
            ctx.reply.null_array();
        } else {
            ctx.reply.array(0);
        }
        return false;
    };
    if count == Some(0) {
        ctx.reply.array(0);
        return true;
    }
    let Ok(Some(z)) = zwrite(ctx.ks, db, key, now) else {
        return true;
    };
    let n = (count.unwrap_or(1).min(z.len() as u64)) as usize;
    let len = z.len();
    let items = if max {
        z.collect_range(len - n, len, true)
    } else {
        z.collect_range(0, n, false)
    };
    if max {
        z.remove_ranks(len - n, len);
    } else {
        z.remove_ranks(0, n);
    }
    if n > 0 {
        ctx.notify(ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
    }
    drop_if_empty(ctx, key);
    ctx.dirty += n as u64;
    if emitkey {
        // BZPOP*/ZMPOP/BZMPOP propagate as the ZPOPMIN/ZPOPMAX they amount to.
        let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
        match count {
            None => ctx.rewrite(&[name, key]),
            Some(_) => {
                let c = n.to_string();
                ctx.rewrite(&[name, key, c.as_bytes()]);
            }
        }
    }
    let r = &mut *ctx.reply;
    match (nested, emitkey) {
        (false, false) => r.array(n * 2),
        (true, false) => r.array(n),
        (false, true) => {
            r.array(n * 2 + 1);
            r.bulk(key);
        }
        (true, true) => {
            r.array(2);
            r.bulk(key);
            r.array(n);
        }
    }
    for (m, s) in &items {
        if nested {
            r.array(2);
        }
        r.bulk(m);
        reply_double(r, *s);
    }
    true
}

fn zpop_minmax(ctx: &mut Ctx, a: Args, max: bool) {
    if a.len() > 3 {
        return ctx.reply.error(SYNTAX);
    }
    let mut count = None;
    if a.len() == 3 {
        match num::string2ll(a.get(2)) {
            Some(c) if c >= 0 => count = Some(c as u64),
            _ => {
                return ctx
                    .reply
                    .error("ERR value is out of range, must be positive")
            }
        }
    }
    let nested = ctx.reply.resp3 && count.is_some();
    zpop_generic(ctx, &[a.get(1)], max, false, count, nested, false);
}

/// ZPOPMIN key [count]
pub fn zpopmin(ctx: &mut Ctx, a: Args) {
    zpop_minmax(ctx, a, false);
}

/// ZPOPMAX key [count]
pub fn zpopmax(ctx: &mut Ctx, a: Args) {
    zpop_minmax(ctx, a, true);
}

/// True when some key holds data (or the wrong type, which zpop_generic reports): a blocking
/// pop can answer now instead of blocking.
fn any_ready(ctx: &mut Ctx, keys: &[&[u8]]) -> bool {
    let now = ctx.now;
    keys.iter().any(|k| ctx.db().peek(k, now).is_some())
}

fn bzpop_minmax(ctx: &mut Ctx, a: Args, max: bool) {
    let Some(deadline) = parse_timeout(ctx, a.get(a.len() - 1)) else {
        return;
    };
    let keys: Vec<&[u8]> = (1..a.len() - 1).map(|i| a.get(i)).collect();
    if !any_ready(ctx, &keys) {
        let owned = keys.iter().map(|k| k.to_vec()).collect();
        return ctx.block_on(owned, deadline, TimeoutReply::NullArray, BlockType::ZSet);
    }
    zpop_generic(ctx, &keys, max, true, None, false, true);
}

/// BZPOPMIN key [key ...] timeout (answers the timeout reply at once when all keys are empty)
pub fn bzpopmin(ctx: &mut Ctx, a: Args) {
    bzpop_minmax(ctx, a, false);
}

/// BZPOPMAX key [key ...] timeout (answers the timeout reply at once when all keys are empty)
pub fn bzpopmax(ctx: &mut Ctx, a: Args) {
    bzpop_minmax(ctx, a, true);
}

fn zmpop_generic(ctx: &mut Ctx, a: Args, nk_idx: usize, blocking: bool) {
    let numkeys = match num::string2ll(a.get(nk_idx)) {
        Some(n) if n >= 1 => n as u64,
        _ => return ctx.reply.error("ERR numkeys should be greater than 0"),
    };
    let where_idx = (nk_idx as u64).saturating_add(numkeys).saturating_add(1);
    if where_idx >= a.len() as u64 {
        return ctx.reply.error(SYNTAX);
    }
    let where_idx = where_idx as usize;
    let w = a.get(where_idx);
    let max = if eq_ic(w, "min") {
        false
    } else if eq_ic(w, "max") {
        true
    } else {
        return ctx.reply.error(SYNTAX);
    };
    let mut count: Option<u64> = None;
    let mut j = where_idx + 1;
    while j < a.len() {
        let more = a.len() - 1 - j;
        if count.is_none() && eq_ic(a.get(j), "count") && more > 0 {
            j += 1;
            match num::string2ll(a.get(j)) {
                Some(c) if c >= 1 => count = Some(c as u64),
                _ => return ctx.reply.error("ERR count should be greater than 0"),
            }
        } else {
            return ctx.reply.error(SYNTAX);
        }
        j += 1;
    }
    let deadline = if blocking {
        match parse_timeout(ctx, a.get(1)) {
            Some(d) => d,
            None => return,
        }
    } else {
        0
    };
    let keys: Vec<&[u8]> = (nk_idx + 1..where_idx).map(|i| a.get(i)).collect();
    if blocking && !any_ready(ctx, &keys) {
        let owned = keys.iter().map(|k| k.to_vec()).collect();
        return ctx.block_on(owned, deadline, TimeoutReply::NullArray, BlockType::ZSet);
    }
    zpop_generic(ctx, &keys, max, true, Some(count.unwrap_or(1)), true, true);
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
pub fn zmpop(ctx: &mut Ctx, a: Args) {
    zmpop_generic(ctx, a, 1, false);
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count] (answers the timeout reply at
/// once when all keys are empty)
pub fn bzmpop(ctx: &mut Ctx, a: Args) {
    zmpop_generic(ctx, a, 2, true);
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER / ZSCAN
// ---------------------------------------------------------------------------------------------

/// ZRANDMEMBER key [count [WITHSCORES]]
pub fn zrandmember(ctx: &mut Ctx, a: Args) {
    let (now, db) = (ctx.now, ctx.db);
    if a.len() >= 3 {
        let l = match num::string2ll(a.get(2)) {
            Some(l) if l != i64::MIN => l,
            Some(_) => {
                return ctx.reply.error(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                )
            }
            None => return ctx.reply.error(NOT_INT),
        };
        if a.len() > 4 || (a.len() == 4 && !eq_ic(a.get(3), "withscores")) {
            return ctx.reply.error(SYNTAX);
        }
        let ws = a.len() == 4;
        if ws && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
            return ctx.reply.error("ERR value is out of range");
        }
        let ks = &mut *ctx.ks;
        let Keyspace {
            dbs, stats, rng, ..
        } = ks;
        let z = match dbs[db].get(a.get(1), now, stats) {
            None => return ctx.reply.array(0),
            Some(Value::ZSet(z)) => &**z,
            Some(_) => return ctx.reply.error(WRONGTYPE),
        };
        let r = &mut *ctx.reply;
        let count = l.unsigned_abs();
        if count == 0 {
            return r.array(0);
        }
        let size = z.len() as u64;
        let emit = |r: &mut ReplyBuf, m: &[u8], s: f64| {
            if ws && r.resp3 {
                r.array(2);
            }
            r.bulk(m);
            if ws {
                reply_double(r, s);
            }
        };
        if l < 0 || count == 1 {
            let n = count as usize;
            if ws && !r.resp3 {
                r.array(n * 2);
            } else {
                r.array(n);
            }
            for _ in 0..count {
                if r.over_limit() {
                    break;
                }
                if let Some((m, s)) = z.random(rng) {
                    emit(r, m, s);
                }
            }
            return;
        }
        let n = count.min(size) as usize;
        if ws && !r.resp3 {
            r.array(n * 2);
        } else {
            r.array(n);
        }
        if count >= size {
            z.for_each(|m, s| emit(r, m, s));
            return;
        }
        if count * 3 > size || !z.is_big() {
            // Pick `count` distinct ranks by a partial shuffle of all of them.
            let mut all: Vec<(&[u8], f64)> = Vec::with_capacity(size as usize);
            let items = z.collect_range(0, size as usize, false);
            for (m, s) in &items {
                all.push((m, *s));
            }
            for i in 0..n {
                let jdx = i + (next_rand(rng) % (all.len() - i) as u64) as usize;
                all.swap(i, jdx);
                emit(r, all[i].0, all[i].1);
            }
            return;
        }
        let mut seen: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
        while seen.len() < n {
            let Some((m, s)) = z.random(rng) else { break };
            if seen.insert(m.to_vec()) {
                emit(r, m, s);
            }
        }
        return;
    }
    let Keyspace {
        dbs, stats, rng, ..
    } = &mut *ctx.ks;
    match dbs[db].get(a.get(1), now, stats) {
        None => ctx.reply.null(),
        Some(Value::ZSet(z)) => match z.random(rng) {
            Some((m, _)) => ctx.reply.bulk(m),
            None => ctx.reply.null(),
        },
        Some(_) => ctx.reply.error(WRONGTYPE),
    }
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]
pub fn zscan(ctx: &mut Ctx, a: Args) {
    let Some(cursor) = num::parse_scan_cursor(a.get(2)) else {
        return ctx.reply.error("ERR invalid cursor");
    };
    let z = match zread(ctx.ks, ctx.db, a.get(1), ctx.now) {
        Err(()) => return ctx.reply.error(WRONGTYPE),
        Ok(None) => {
            ctx.reply.array(2);
            ctx.reply.bulk(b"0");
            return ctx.reply.array(0);
        }
        Ok(Some(z)) => z,
    };
    let mut count: i64 = 10;
    let mut pat: Option<&[u8]> = None;
    let mut j = 3;
    while j < a.len() {
        let left = a.len() - j;
        let o = a.get(j);
        if eq_ic(o, "count") && left >= 2 {
            match num::string2ll(a.get(j + 1)) {
                None => return ctx.reply.error(NOT_INT),
                Some(c) if c < 1 => return ctx.reply.error(SYNTAX),
                Some(c) => count = c,
            }
        } else if eq_ic(o, "match") && left >= 2 {
            let p = a.get(j + 1);
            pat = if p == b"*" { None } else { Some(p) };
        } else {
            return ctx.reply.error(SYNTAX);
        }
        j += 2;
    }
    let mut out: Vec<(Vec<u8>, f64)> = Vec::new();
    let mut cur = cursor;
    if z.is_big() {
        let mut iters = count.saturating_mul(10);
        loop {
            cur = z.scan(cur, |m, s| out.push((m.to_vec(), s)));
            iters -= 1;
            if cur == 0 || iters <= 0 || out.len() as i64 >= count {
                break;
            }
        }
    } else {
        cur = z.scan(0, |m, s| out.push((m.to_vec(), s)));
    }
    if let Some(p) = pat {
        out.retain(|(m, _)| glob_match(p, m, false));
    }
    let r = &mut *ctx.reply;
    r.array(2);
    r.bulk(cur.to_string().as_bytes());
    r.array(out.len() * 2);
    let mut buf = Vec::with_capacity(24);
    for (m, s) in &out {
        r.bulk(m);
        buf.clear();
        num::d2string_into(*s, &mut buf);
        r.bulk(&buf);
    }
}

// ---------------------------------------------------------------------------------------------
// Table
// ---------------------------------------------------------------------------------------------

const G: &str = "sorted-set";
const A: &str = "sortedset";
const KM: (i32, i32, i32) = (0, 0, 0);
const K1: (i32, i32, i32) = (1, 1, 1);

/// This family's command definitions (listed in `table::FAMILIES`).
#[rustfmt::skip]
pub static DEFS: &[Def] = &[
    def!("bzmpop", -5, "write blocking movablekeys", KM, A, G, "7.0.0", "Remove and return members with the lowest or highest scores from the first non-empty sorted set, waiting when all are empty", Data(bzmpop)),
    def!("bzpopmax", -3, "write noscript blocking fast", (1, -2, 1), A, G, "5.0.0", "Remove and return the highest-scored member of the first non-empty sorted set, waiting when all are empty", Data(bzpopmax)),
    def!("bzpopmin", -3, "write noscript blocking fast", (1, -2, 1), A, G, "5.0.0", "Remove and return the lowest-scored member of the first non-empty sorted set, waiting when all are empty", Data(bzpopmin)),
    def!("zadd", -4, "write denyoom fast", K1, A, G, "1.2.0", "Add members to a sorted set or update their scores", Data(zadd)),
    def!("zcard", 2, "readonly fast", K1, A, G, "1.2.0", "Count the members of a sorted set", Data(zcard)),
    def!("zcount", 4, "readonly fast", K1, A, G, "2.0.0", "Count the members whose score lies in a range", Data(zcount)),
    def!("zdiff", -3, "readonly movablekeys", KM, A, G, "6.2.0", "Members of the first sorted set absent from the others", Data(zdiff)),
    def!("zdiffstore", -4, "write denyoom movablekeys", K1, A, G, "6.2.0", "Store the difference of sorted sets in a key", Data(zdiffstore)),
    def!("zincrby", 4, "write denyoom fast", K1, A, G, "1.2.0", "Add to the score of a member of a sorted set", Data(zincrby)),
    def!("zinter", -3, "readonly movablekeys", KM, A, G, "6.2.0", "Intersection of sorted sets", Data(zinter)),
    def!("zintercard", -3, "readonly movablekeys", KM, A, G, "7.0.0", "Size of the intersection of sorted sets", Data(zintercard)),
    def!("zinterstore", -4, "write denyoom movablekeys", K1, A, G, "2.0.0", "Store the intersection of sorted sets in a key", Data(zinterstore)),
    def!("zlexcount", 4, "readonly fast", K1, A, G, "2.8.9", "Count the members within a lexicographical range", Data(zlexcount)),
    def!("zmpop", -4, "write movablekeys", KM, A, G, "7.0.0", "Remove and return members with the lowest or highest scores from the first non-empty sorted set", Data(zmpop)),
    def!("zmscore", -3, "readonly fast", K1, A, G, "6.2.0", "Scores of several members of a sorted set", Data(zmscore)),
    def!("zpopmax", -2, "write fast", K1, A, G, "5.0.0", "Remove and return the highest-scored members of a sorted set", Data(zpopmax)),
    def!("zpopmin", -2, "write fast", K1, A, G, "5.0.0", "Remove and return the lowest-scored members of a sorted set", Data(zpopmin)),
    def!("zrandmember", -2, "readonly", K1, A, G, "6.2.0", "Random members of a sorted set", Data(zrandmember)),
    def!("zrange", -4, "readonly", K1, A, G, "1.2.0", "Members of a sorted set within a range of ranks, scores or lex values", Data(zrange)),
    def!("zrangebylex", -4, "readonly", K1, A, G, "2.8.9", "Members of a sorted set within a lexicographical range", Data(zrangebylex)),
    def!("zrangebyscore", -4, "readonly", K1, A, G, "1.0.5", "Members of a sorted set within a score range", Data(zrangebyscore)),
    def!("zrangestore", -5, "write denyoom", (1, 2, 1), A, G, "6.2.0", "Store a range of a sorted set in a key", Data(zrangestore)),
    def!("zrank", 3, "readonly fast", K1, A, G, "2.0.0", "Ascending rank of a member of a sorted set", Data(zrank)),
    def!("zrem", -3, "write fast", K1, A, G, "1.2.0", "Remove members from a sorted set", Data(zrem)),
    def!("zremrangebylex", 4, "write", K1, A, G, "2.8.9", "Remove the members within a lexicographical range", Data(zremrangebylex)),
    def!("zremrangebyrank", 4, "write", K1, A, G, "2.0.0", "Remove the members within a range of ranks", Data(zremrangebyrank)),
    def!("zremrangebyscore", 4, "write", K1, A, G, "1.2.0", "Remove the members within a score range", Data(zremrangebyscore)),
    def!("zrevrange", -4, "readonly", K1, A, G, "1.2.0", "Members of a sorted set within a range of ranks, highest first", Data(zrevrange)),
    def!("zrevrangebylex", -4, "readonly", K1, A, G, "2.8.9", "Members of a sorted set within a lexicographical range, in reverse order", Data(zrevrangebylex)),
    def!("zrevrangebyscore", -4, "readonly", K1, A, G, "2.2.0", "Members of a sorted set within a score range, highest first", Data(zrevrangebyscore)),
    def!("zrevrank", 3, "readonly fast", K1, A, G, "2.0.0", "Descending rank of a member of a sorted set", Data(zrevrank)),
    def!("zscan", -3, "readonly", K1, A, G, "2.8.0", "Iterate over the members and scores of a sorted set", Data(zscan)),
    def!("zscore", 3, "readonly fast", K1, A, G, "1.2.0", "Score of a member of a sorted set", Data(zscore)),
    def!("zunion", -3, "readonly movablekeys", KM, A, G, "6.2.0", "Union of sorted sets", Data(zunion)),
    def!("zunionstore", -4, "write denyoom movablekeys", K1, A, G, "2.0.0", "Store the union of sorted sets in a key", Data(zunionstore)),
];

/// Tips and key specs of this family's commands.
#[rustfmt::skip]
pub static EXTRAS: &[Extra] = &[
    ("bzmpop", "", &[ks_keynum("RW access delete", 2, 0, 1, 1)]),
    ("bzpopmax", "", &[ks("RW access delete", 1, -2, 1)]),
    ("bzpopmin", "", &[ks("RW access delete", 1, -2, 1)]),
    ("zadd", "", &[ks("RW update", 1, 0, 1)]),
    ("zcard", "", &[ks("RO", 1, 0, 1)]),
    ("zcount", "", &[ks("RO access", 1, 0, 1)]),
    ("zdiff", "", &[ks_keynum("RO access", 1, 0, 1, 1)]),
    ("zdiffstore", "", &[ks("OW update", 1, 0, 1), ks_keynum("RO access", 2, 0, 1, 1)]),
    ("zincrby", "", &[ks("RW access update", 1, 0, 1)]),
    ("zinter", "", &[ks_keynum("RO access", 1, 0, 1, 1)]),
    ("zintercard", "", &[ks_keynum("RO access", 1, 0, 1, 1)]),
    ("zinterstore", "", &[ks("OW update", 1, 0, 1), ks_keynum("RO access", 2, 0, 1, 1)]),
    ("zlexcount", "", &[ks("RO access", 1, 0, 1)]),
    ("zmpop", "", &[ks_keynum("RW access delete", 1, 0, 1, 1)]),
    ("zmscore", "", &[ks("RO access", 1, 0, 1)]),
    ("zpopmax", "", &[ks("RW access delete", 1, 0, 1)]),
    ("zpopmin", "", &[ks("RW access delete", 1, 0, 1)]),
    ("zrandmember", "nondeterministic_output", &[ks("RO access", 1, 0, 1)]),
    ("zrange", "", &[ks("RO access", 1, 0, 1)]),
    ("zrangebylex", "", &[ks("RO access", 1, 0, 1)]),
    ("zrangebyscore", "", &[ks("RO access", 1, 0, 1)]),
    ("zrangestore", "", &[ks("OW update", 1, 0, 1), ks("RO access", 2, 0, 1)]),
    ("zrank", "", &[ks("RO access", 1, 0, 1)]),
    ("zrem", "", &[ks("RW delete", 1, 0, 1)]),
    ("zremrangebylex", "", &[ks("RW delete", 1, 0, 1)]),
    ("zremrangebyrank", "", &[ks("RW delete", 1, 0, 1)]),
    ("zremrangebyscore", "", &[ks("RW delete", 1, 0, 1)]),
    ("zrevrange", "", &[ks("RO access", 1, 0, 1)]),
    ("zrevrangebylex", "", &[ks("RO access", 1, 0, 1)]),
    ("zrevrangebyscore", "", &[ks("RO access", 1, 0, 1)]),
    ("zrevrank", "", &[ks("RO access", 1, 0, 1)]),
    ("zscan", "nondeterministic_output", &[ks("RO access", 1, 0, 1)]),
    ("zscore", "", &[ks("RO access", 1, 0, 1)]),
    ("zunion", "", &[ks_keynum("RO access", 1, 0, 1, 1)]),
    ("zunionstore", "", &[ks("OW update", 1, 0, 1), ks_keynum("RO access", 2, 0, 1, 1)]),
];
