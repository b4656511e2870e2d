//! SORT and SORT_RO: sort the elements of a list, set or sorted set numerically or
//! lexicographically, optionally by weights read from other keys (`BY pattern`, `*` replaced by
//! the element, `key->field` for a hash field), return other keys' values (`GET pattern`, `#` =
//! the element itself), LIMIT the range, and STORE the result as a list.

use crate::table::{def, ks, ks_with, Begin, Def, Extra, Find, Handler::Data};

/// The STORE destination of a SORT call, found as Redis's `sortGetKeys` does (skipping
/// LIMIT's and BY/GET's arguments); for COMMAND GETKEYS and blocked/WATCH key signalling.
pub fn store_key_position(args: &[&[u8]]) -> Option<usize> {
    let mut found = None;
    let mut j = 2;
    while j < args.len() {
        let a = args[j];
        let skip = if a.eq_ignore_ascii_case(b"limit") {
            2
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            1
        } else if a.eq_ignore_ascii_case(b"store") {
            if j + 1 < args.len() {
                found = Some(j + 1);
            }
            0
        } else {
            0
        };
        j += 1 + skip;
    }
    found
}
use crate::util::{eq_ic, int_arg, SYNTAX};
use crate::Ctx;
use cinnabar_keyspace::notify::{GENERIC, LIST};
use cinnabar_keyspace::types::list::ListValue;
use cinnabar_keyspace::types::zset::ZSetValue;
use cinnabar_keyspace::value::{Value, WRONGTYPE};
use cinnabar_resp::Args;
use cinnabar_util::num;
use std::cmp::Ordering;

pub static DEFS: &[Def] = &[
    def!(
        "sort",
        -2,
        "write denyoom movablekeys",
        (1, 1, 1),
        "set sortedset list dangerous",
        "generic",
        "1.0.0",
        "Sort the elements of a list, set or sorted set, optionally storing the result",
        Data(sort)
    ),
    def!(
        "sort_ro",
        -2,
        "readonly movablekeys",
        (1, 1, 1),
        "set sortedset list dangerous",
        "generic",
        "7.0.0",
        "Sort the elements of a list, set or sorted set (read-only variant)",
        Data(sort_ro)
    ),
];

pub static EXTRAS: &[Extra] = &[
    (
        "sort",
        "",
        &[
            ks("RO access", 1, 0, 1),
            ks_with("RO access", Begin::Unknown, Find::Unknown)
                .notes("For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort"),
            ks_with("OW update", Begin::Unknown, Find::Unknown)
                .notes("For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array"),
        ],
    ),
    (
        "sort_ro",
        "",
        &[
            ks("RO access", 1, 0, 1),
            ks_with("RO access", Begin::Unknown, Find::Unknown)
                .notes("For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort"),
        ],
    ),
];

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE dst]
pub fn sort(ctx: &mut Ctx, a: Args) {
    sort_generic(ctx, a, false);
}

/// SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
pub fn sort_ro(ctx: &mut Ctx, a: Args) {
    sort_generic(ctx, a, true);
}

/// Looks up what `pattern` names for `elem`: `#` is the element; otherwise the first `*` is
/// replaced by the element and the key read as a string, or as a hash field after `->`.
fn lookup_by_pattern(ctx: &mut Ctx, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let (post, field) = match after.windows(2).position(|w| w == b"->") {
        Some(i) if i + 2 < after.len() => (&after[..i], Some(&after[i + 2..])),
        _ => (after, None),
    };
    let mut key = Vec::with_capacity(star + elem.len() + post.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(post);
    let now = ctx.now;
    let i = ctx.db;
    let ks = &mut *ctx.ks;
    match (ks.dbs[i].get(&key, now, &mut ks.stats), field) {
        (Some(Value::Str(s)), None) => Some(s.to_vec()),
        (Some(Value::Hash(h)), Some(f)) => h.get(f).map(|v| v.to_vec()),
        _ => None,
    }
}

struct Item {
    elem: Vec<u8>,
    score: f64,
    cmp: Option<Vec<u8>>,
}

fn sort_generic(ctx: &mut Ctx, a: Args, readonly: bool) {
    let mut desc = false;
    let mut alpha = false;
    let (mut limit_start, mut limit_count) = (0i64, -1i64);
    let mut dontsort = false;
    let mut sortby: Option<&[u8]> = None;
    let mut store: Option<&[u8]> = None;
    let mut gets: Vec<&[u8]> = Vec::new();
    let mut j = 2;
    while j < a.len() {
        let o = a.get(j);
        let left = a.len() - j - 1;
        if eq_ic(o, "asc") {
            desc = false;
        } else if eq_ic(o, "desc") {
            desc = true;
        } else if eq_ic(o, "alpha") {
            alpha = true;
        } else if eq_ic(o, "limit") && left >= 2 {
            let Some(s) = int_arg(ctx.reply, a.get(j + 1)) else {
                return;
            };
            let Some(c) = int_arg(ctx.reply, a.get(j + 2)) else {
                return;
            };
            limit_start = s;
            limit_count = c;
            j += 2;
        } else if !readonly && eq_ic(o, "store") && left >= 1 {
            store = Some(a.get(j + 1));
            j += 1;
        } else if eq_ic(o, "by") && left >= 1 {
            let p = a.get(j + 1);
            sortby = Some(p);
            dontsort = !p.contains(&b'*');
            j += 1;
        } else if eq_ic(o, "get") && left >= 1 {
            gets.push(a.get(j + 1));
            j += 1;
        } else {
            return ctx.reply.error(SYNTAX);
        }
        j += 1;
    }
    let key = a.get(1);
    let now = ctx.now;
    let i = ctx.db;
    let ks = &mut *ctx.ks;
    let (kind, total) = match ks.dbs[i].get(key, now, &mut ks.stats) {
        None => (0u8, 0usize),
        Some(Value::List(l)) => (1, l.len()),
        Some(Value::Set(s)) => (2, s.len()),
        Some(Value::ZSet(z)) => (3, z.len()),
        Some(_) => return ctx.reply.error(WRONGTYPE),
    };
    if dontsort && kind == 2 && (store.is_some() || ctx.in_script) {
        // A set has no order of its own: a stored result, or one a script sees (scripts are
        // replicated by their effects), must not depend on the hash table.
        dontsort = false;
        alpha = true;
        sortby = None;
    }
    let n = total as i64;
    let mut start = limit_start.max(0).min(n);
    let count = limit_count.max(-1).min(n);
    let mut end = if count < 0 { n - 1 } else { start + count - 1 };
    if start >= n {
        start = n - 1;
        end = n - 2;
    }
    if end >= n {
        end = n - 1;
    }
    let ranged = (kind == 1 || kind == 3) && dontsort && (start != 0 || end != n - 1);
    let elems: Vec<Vec<u8>> = {
        let v = ctx.ks.dbs[i].peek(key, now);
        match v {
            Some(Value::List(l)) if dontsort => {
                let r = if end >= start {
                    list_range(l, start as usize, (end - start + 1) as usize, desc)
                } else {
                    Vec::new()
                };
                if ranged || end >= start {
                    end -= start;
                    start = 0;
                }
                r
            }
            Some(Value::List(l)) => list_range(l, 0, total, false),
            Some(Value::Set(s)) => s.iter().map(|m| m.with_bytes(|b| b.to_vec())).collect(),
            Some(Value::ZSet(z)) if dontsort => {
                let len = if ranged {
                    (end - start + 1).max(0) as usize
                } else {
                    total
                };
                let r = zset_by_rank(z, start.max(0) as usize, len, desc);
                end -= start;
                start = 0;
                r
            }
            Some(Value::ZSet(z)) => zset_members(z),
            _ => Vec::new(),
        }
    };
    let mut items: Vec<Item> = elems
        .into_iter()
        .map(|elem| Item {
            elem,
            score: 0.0,
            cmp: None,
        })
        .collect();
    let mut conversion_error = false;
    if !dontsort {
        for it in items.iter_mut() {
            let byval = match sortby {
                Some(p) => match lookup_by_pattern(ctx, p, &it.elem) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.elem.clone(),
            };
            if alpha {
                if sortby.is_some() {
                    it.cmp = Some(byval);
                }
            } else {
                match num::strtod(&byval) {
                    Some((v, used, erange)) if used == byval.len() && !erange && !v.is_nan() => {
                        it.score = v
                    }
                    _ => conversion_error = true,
                }
            }
        }
        let by = sortby.is_some();
        let cmp = |x: &Item, y: &Item| -> Ordering {
            let o = if !alpha {
                x.score
                    .partial_cmp(&y.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| x.elem.cmp(&y.elem))
            } else if by {
                match (&x.cmp, &y.cmp) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(p), Some(q)) => p.cmp(q),
                }
            } else {
                x.elem.cmp(&y.elem)
            };
            if desc {
                o.reverse()
            } else {
                o
            }
        };
        items.sort_by(cmp);
    }
    if conversion_error {
        return ctx
            .reply
            .error("ERR One or more scores can't be converted into double");
    }
    let range: &[Item] = if end >= start && start >= 0 {
        &items[start as usize..=(end as usize).min(items.len().saturating_sub(1))]
    } else {
        &[]
    };
    match store {
        None => {
            let per = gets.len().max(1);
            ctx.reply.array(range.len() * per);
            for it in range {
                if gets.is_empty() {
                    ctx.reply.bulk(&it.elem);
                }
                for g in &gets {
                    match lookup_by_pattern(ctx, g, &it.elem) {
                        Some(v) => ctx.reply.bulk(&v),
                        None => ctx.reply.null(),
                    }
                }
            }
        }
        Some(dst) => {
            let mut out: Vec<Vec<u8>> = Vec::new();
            for it in range {
                if gets.is_empty() {
                    out.push(it.elem.clone());
                }
                for g in &gets {
                    out.push(lookup_by_pattern(ctx, g, &it.elem).unwrap_or_default());
                }
            }
            let n = out.len();
            if n > 0 {
                let list = ListValue::from_elements(out);
                ctx.set_key(dst, Value::List(Box::new(list)), false);
                ctx.notify(LIST, "sortstore", dst);
                ctx.dirty += n as u64;
            } else if ctx.db().take(dst).is_some() {
                // Redis's dbDelete: a key past its TTL is deleted too (reported as `del`).
                ctx.notify(GENERIC, "del", dst);
                ctx.dirty += 1;
            }
            ctx.reply.int(n as i64);
        }
    }
}

/// `count` list elements from position `start` (from the tail, backwards, when `desc`).
fn list_range(l: &ListValue, start: usize, count: usize, desc: bool) -> Vec<Vec<u8>> {
    if desc {
        l.iter()
            .rev()
            .skip(start)
            .take(count)
            .map(|v| v.to_vec())
            .collect()
    } else {
        l.range(start, count).map(|v| v.to_vec()).collect()
    }
}

/// `len` members by rank from `start` (counting from the highest rank when `desc`).
fn zset_by_rank(z: &ZSetValue, start: usize, len: usize, desc: bool) -> Vec<Vec<u8>> {
    let n = z.len();
    let mut out = Vec::with_capacity(len.min(n));
    if desc {
        let hi = n.saturating_sub(start);
        let lo = hi.saturating_sub(len);
        z.range(lo, hi, true, |m, _| out.push(m.to_vec()));
    } else {
        z.range(start, start.saturating_add(len), false, |m, _| {
            out.push(m.to_vec())
        });
    }
    out
}

fn zset_members(z: &ZSetValue) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(z.len());
    z.for_each(|m, _| out.push(m.to_vec()));
    out
}
