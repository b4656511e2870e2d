//! The generic key commands: DEL/UNLINK, EXISTS, TYPE, RENAME(NX), COPY, MOVE, KEYS, SCAN,
//! RANDOMKEY, DBSIZE, FLUSHDB/FLUSHALL, SWAPDB, TOUCH, OBJECT, and the expire family.

use crate::util::{eq_ic, int_arg, SYNTAX};
use crate::Ctx;
use cinnabar_keyspace::db::idle_seconds;
use cinnabar_keyspace::notify::{GENERIC, KEY_MISS};
use cinnabar_resp::Args;
use cinnabar_util::{glob::glob_match, num};

/// DEL / UNLINK key [key ...]
pub fn del(ctx: &mut Ctx, a: Args) {
    let now = ctx.now;
    let mut n = 0;
    for k in a.tail(1).iter() {
        if ctx.db().remove(k, now) {
            ctx.notify(GENERIC, "del", k);
            n += 1;
        }
    }
    ctx.dirty += n as u64;
    ctx.reply.int(n);
}

/// UNLINK key [key ...]: DEL whose costly values are freed in the background.
pub fn unlink(ctx: &mut Ctx, a: Args) {
    let now = ctx.now;
    let mut n = 0;
    for k in a.tail(1).iter() {
        if ctx.db().unlink(k, now) {
            ctx.notify(GENERIC, "del", k);
            n += 1;
        }
    }
    ctx.dirty += n as u64;
    ctx.reply.int(n);
}

/// EXISTS key [key ...] (a key named twice counts twice)
pub fn exists(ctx: &mut Ctx, a: Args) {
    let now = ctx.now;
    let mut n = 0;
    for k in a.tail(1).iter() {
        if ctx.db().exists(k, now) {
            n += 1;
        } else {
            ctx.notify(KEY_MISS, "keymiss", k);
        }
    }
    ctx.reply.int(n);
}

/// TOUCH key [key ...]
pub fn touch(ctx: &mut Ctx, a: Args) {
    let now = ctx.now;
    let mut n = 0;
    for k in a.tail(1).iter() {
        if ctx.db().touch(k, now) {
            n += 1;
        } else {
            ctx.notify(KEY_MISS, "keymiss", k);
        }
    }
    ctx.reply.int(n);
}

/// TYPE key
pub fn type_(ctx: &mut Ctx, a: Args) {
    let now = ctx.now;
    let t = ctx.db().peek(a.get(1), now).map(|v| v.type_name());
    if t.is_none() {
        ctx.notify(KEY_MISS, "keymiss", a.get(1));
    }
    ctx.reply.simple(t.unwrap_or("none"));
}

fn rename_generic(ctx: &mut Ctx, a: Args, nx: bool) {
    let (src, dst) = (a.get(1), a.get(2));
    let now = ctx.now;
    if !ctx.db().exists(src, now) {
        return ctx.reply.error("ERR no such key");
    }
    if src == dst {
        return if nx { ctx.reply.int(0) } else { ctx.reply.ok() };
    }
    if nx && ctx.db().exists(dst, now) {
        return ctx.reply.int(0);
    }
    let db = ctx.db();
    let expire = db.expire_of(src);
    let raw = db.main.get(src).is_some_and(|o| o.raw);
    let Some(v) = db.take(src) else {
        return ctx.reply.error("ERR no such key");
    };
    // An existing destination is deleted first, so the key is new (as Redis's dbAdd); one
    // past its TTL is expired (Redis looks it up for writing).
    db.expire_if_needed(dst, now);
    db.take(dst);
    db.set(dst, v, false, now);
    if raw {
        db.mark_raw(dst);
    }
    if let Some(w) = expire {
        db.set_expire(dst, w);
    }
    ctx.notify(GENERIC, "rename_from", src);
    ctx.notify(GENERIC, "rename_to", dst);
    ctx.dirty += 1;
    if nx {
        ctx.reply.int(1)
    } else {
        ctx.reply.ok()
    }
}

/// RENAME key newkey
pub fn rename(ctx: &mut Ctx, a: Args) {
    rename_generic(ctx, a, false);
}

/// RENAMENX key newkey
pub fn renamenx(ctx: &mut Ctx, a: Args) {
    rename_generic(ctx, a, true);
}

fn db_index(ctx: &mut Ctx, arg: &[u8]) -> Option<usize> {
    let i = crate::util::int32_arg(ctx.reply, arg)?;
    if i < 0 || i as usize >= ctx.ks.dbs.len() {
        ctx.reply.error("ERR DB index is out of range");
        return None;
    }
    Some(i as usize)
}

/// COPY source destination [DB destination-db] [REPLACE]
pub fn copy(ctx: &mut Ctx, a: Args) {
    let (src, dst) = (a.get(1), a.get(2));
    let mut dstdb = ctx.db;
    let mut replace = false;
    let mut j = 3;
    while j < a.len() {
        let opt = a.get(j);
        if eq_ic(opt, "replace") {
            replace = true;
        } else if eq_ic(opt, "db") && j + 1 < a.len() {
            let Some(i) = db_index(ctx, a.get(j + 1)) else {
                return;
            };
            dstdb = i;
            j += 1;
        } else {
            return ctx.reply.error(SYNTAX);
        }
        j += 1;
    }
    if src == dst && dstdb == ctx.db {
        return ctx
            .reply
            .error("ERR source and destination objects are the same");
    }
    let now = ctx.now;
    let (v, raw) = match ctx.db().peek_obj(src, now) {
        Some(o) => (o.value.clone(), o.raw),
        None => {
            ctx.notify(KEY_MISS, "keymiss", src);
            return ctx.reply.int(0);
        }
    };
    let expire = None::<i64>;
    let expire = expire.or(ctx.db().expire_of(src));
    let target = &mut ctx.ks.dbs[dstdb];
    if target.exists(dst, now) {
        if !replace {
            return ctx.reply.int(0);
        }
        target.take(dst);
    }
    target.set(dst, v, false, now);
    if raw {
        target.mark_raw(dst);
    }
    if let Some(w) = expire {
        target.set_expire(dst, w);
    }
    ctx.notify_in(dstdb, GENERIC, "copy_to", dst);
    ctx.dirty += 1;
    ctx.reply.int(1);
}

/// MOVE key db
pub fn move_(ctx: &mut Ctx, a: Args) {
    let key = a.get(1);
    let Some(to) = crate::util::int32_arg(ctx.reply, a.get(2)) else {
        return;
    };
    if to < 0 || to as usize >= ctx.ks.dbs.len() {
        return ctx.reply.error("ERR DB index is out of range");
    }
    let to = to as usize;
    if to == ctx.db {
        return ctx
            .reply
            .error("ERR source and destination objects are the same");
    }
    let now = ctx.now;
    if !ctx.db().exists(key, now) {
        return ctx.reply.int(0);
    }
    if ctx.ks.dbs[to].exists(key, now) {
        return ctx.reply.int(0);
    }
    let db = ctx.db();
    let expire = db.expire_of(key);
    let raw = db.main.get(key).is_some_and(|o| o.raw);
    let Some(v) = db.take(key) else {
        return ctx.reply.int(0);
    };
    let target = &mut ctx.ks.dbs[to];
    target.set(key, v, false, now);
    if raw {
        target.mark_raw(key);
    }
    if let Some(w) = expire {
        target.set_expire(key, w);
    }
    let from = ctx.db;
    ctx.notify_in(from, GENERIC, "move_from", key);
    ctx.notify_in(to, GENERIC, "move_to", key);
    ctx.dirty += 1;
    ctx.reply.int(1);
}

/// SWAPDB index1 index2
pub fn swapdb(ctx: &mut Ctx, a: Args) {
    let as_int = |v: &[u8]| num::string2ll(v).filter(|x| i32::try_from(*x).is_ok());
    let Some(x) = as_int(a.get(1)) else {
        return ctx.reply.error("ERR invalid first DB index");
    };
    let Some(y) = as_int(a.get(2)) else {
        return ctx.reply.error("ERR invalid second DB index");
    };
    let n = ctx.ks.dbs.len() as i64;
    if x < 0 || x >= n || y < 0 || y >= n {
        return ctx.reply.error("ERR DB index is out of range");
    }
    if x != y {
        ctx.ks.dbs.swap(x as usize, y as usize);
        ctx.dirty += 1;
    }
    ctx.reply.ok();
}

/// KEYS pattern
pub fn keys(ctx: &mut Ctx, a: Args) {
    let pat = a.get(1);
    let all = pat == b"*";
    let now = ctx.now;
    let db = &ctx.ks.dbs[ctx.db];
    let r = &mut *ctx.reply;
    let at = r.defer();
    let mut n = 0;
    for (k, _) in db.main.iter() {
        // A client past its output buffer limit is about to be closed: stop, as Redis does.
        if r.over_limit() {
            break;
        }
        if (all || glob_match(pat, k, false)) && db.expire_of(k).is_none_or(|w| w > now) {
            r.bulk(k);
            n += 1;
        }
    }
    r.fill_deferred(at, b'*', n);
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
pub fn scan(ctx: &mut Ctx, a: Args) {
    let Some(cursor) = num::parse_scan_cursor(a.get(1)) else {
        return ctx.reply.error("ERR invalid cursor");
    };
    let mut count: i64 = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut typ: Option<&[u8]> = None;
    let mut j = 2;
    while j < a.len() {
        let opt = a.get(j);
        let more = j + 1 < a.len();
        if eq_ic(opt, "count") && more {
            let Some(c) = int_arg(ctx.reply, a.get(j + 1)) else {
                return;
            };
            if c < 1 {
                return ctx.reply.error(SYNTAX);
            }
            count = c;
        } else if eq_ic(opt, "match") && more {
            pattern = Some(a.get(j + 1));
        } else if eq_ic(opt, "type") && more {
            typ = Some(a.get(j + 1));
        } else {
            return ctx.reply.error(SYNTAX);
        }
        j += 2;
    }
    let now = ctx.now;
    let db = ctx.db();
    let mut keys: Vec<(Vec<u8>, &'static str)> = Vec::new();
    let mut cur = cursor;
    let max_iter = count.saturating_mul(10);
    let mut iters = 0;
    loop {
        cur = db
            .main
            .scan(cur, |k, o| keys.push((k.to_vec(), o.value.type_name())));
        iters += 1;
        if cur == 0 || iters >= max_iter || keys.len() as i64 >= count {
            break;
        }
    }
    let pat_all = matches!(pattern, Some(b"*"));
    let mut out = Vec::with_capacity(keys.len());
    for (k, t) in keys {
        if let Some(p) = pattern {
            if !pat_all && !glob_match(p, &k, false) {
                continue;
            }
        }
        if db.expired_for_read(&k, now) {
            continue;
        }
        if let Some(tp) = typ {
            if !tp.eq_ignore_ascii_case(t.as_bytes()) {
                continue;
            }
        }
        out.push(k);
    }
    ctx.reply.array(2);
    ctx.reply.bulk(cur.to_string().as_bytes());
    ctx.reply.array(out.len());
    for k in out {
        ctx.reply.bulk(&k);
    }
}

/// RANDOMKEY
pub fn randomkey(ctx: &mut Ctx, _a: Args) {
    let now = ctx.now;
    let i = ctx.db;
    let ks = &mut *ctx.ks;
    match ks.dbs[i].random_key(now, &mut ks.rng) {
        Some(k) => ctx.reply.bulk(&k),
        None => ctx.reply.null(),
    }
}

/// DBSIZE
pub fn dbsize(ctx: &mut Ctx, _a: Args) {
    let n = ctx.db().len() as i64;
    ctx.reply.int(n);
}

fn flush_flags(ctx: &mut Ctx, a: Args) -> bool {
    if a.len() > 2 {
        ctx.reply.error(SYNTAX);
        return false;
    }
    if a.len() == 2 && !(eq_ic(a.get(1), "sync") || eq_ic(a.get(1), "async")) {
        ctx.reply.error(SYNTAX);
        return false;
    }
    true
}

/// FLUSHDB [ASYNC|SYNC]
pub fn flushdb(ctx: &mut Ctx, a: Args) {
    if !flush_flags(ctx, a) {
        return;
    }
    let n = ctx.db().len() as u64;
    ctx.db().clear();
    ctx.dirty += n.max(1);
    ctx.reply.ok();
}

/// FLUSHALL [ASYNC|SYNC]
pub fn flushall(ctx: &mut Ctx, a: Args) {
    if !flush_flags(ctx, a) {
        return;
    }
    let mut n = 0;
    for db in ctx.ks.dbs.iter_mut() {
        n += db.len() as u64;
        db.clear();
    }
    ctx.dirty += n + 1;
    ctx.reply.ok();
}

#[derive(Clone, Copy)]
enum Base {
    Relative,
    Absolute,
}

fn expire_generic(ctx: &mut Ctx, a: Args, base: Base, seconds: bool, name: &str) {
    let key = a.get(1);
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in a.tail(3).iter() {
        if eq_ic(opt, "nx") {
            nx = true;
        } else if eq_ic(opt, "xx") {
            xx = true;
        } else if eq_ic(opt, "gt") {
            gt = true;
        } else if eq_ic(opt, "lt") {
            lt = true;
        } else {
            return ctx.reply.error(&format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(opt)
            ));
        }
    }
    if nx && (xx || gt || lt) {
        return ctx
            .reply
            .error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return ctx
            .reply
            .error("ERR GT and LT options at the same time are not compatible");
    }
    let Some(mut when) = int_arg(ctx.reply, a.get(2)) else {
        return;
    };
    let invalid = format!("ERR invalid expire time in '{name}' command");
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return ctx.reply.error(&invalid);
        }
        when *= 1000;
    }
    if let Base::Relative = base {
        if when > i64::MAX - ctx.now {
            return ctx.reply.error(&invalid);
        }
        when += ctx.now;
    }
    let now = ctx.now;
    let replaying = ctx.replaying;
    let db = ctx.db();
    if !db.exists(key, now) {
        return ctx.reply.int(0);
    }
    let current = db.expire_of(key);
    if nx && current.is_some() || xx && current.is_none() {
        return ctx.reply.int(0);
    }
    if gt {
        match current {
            Some(c) if when > c => {}
            _ => return ctx.reply.int(0),
        }
    }
    if lt {
        if let Some(c) = current {
            if when >= c {
                return ctx.reply.int(0);
            }
        }
    }
    if when <= now && !replaying {
        db.take(key);
        ctx.notify(GENERIC, "del", key);
        ctx.rewrite(&[b"DEL" as &[u8], key]);
    } else {
        db.set_expire(key, when);
        ctx.notify(GENERIC, "expire", key);
        // Propagated as PEXPIREAT with the absolute time, its options kept (PEXPIREAT itself
        // goes as it came).
        if seconds || matches!(base, Base::Relative) {
            let ms = when.to_string();
            let mut argv: Vec<&[u8]> = vec![b"PEXPIREAT", key, ms.as_bytes()];
            argv.extend(a.tail(3).iter());
            ctx.rewrite(&argv);
        }
    }
    ctx.dirty += 1;
    ctx.reply.int(1);
}

/// EXPIRE key seconds [NX|XX|GT|LT]
pub fn expire(ctx: &mut Ctx, a: Args) {
    expire_generic(ctx, a, Base::Relative, true, "expire");
}

/// PEXPIRE key milliseconds [NX|XX|GT|LT]
pub fn pexpire(ctx: &mut Ctx, a: Args) {
    expire_generic(ctx, a, Base::Relative, false, "pexpire");
}

/// EXPIREAT key unix-time-seconds [NX|XX|GT|LT]
pub fn expireat(ctx: &mut Ctx, a: Args) {
    expire_generic(ctx, a, Base::Absolute, true, "expireat");
}

/// PEXPIREAT key unix-time-milliseconds [NX|XX|GT|LT]
pub fn pexpireat(ctx: &mut Ctx, a: Args) {
    expire_generic(ctx, a, Base::Absolute, false, "pexpireat");
}

#[derive(Clone, Copy)]
enum TtlKind {
    Ttl,
    Pttl,
    ExpireTime,
    PExpireTime,
}

fn ttl_generic(ctx: &mut Ctx, a: Args, kind: TtlKind) {
    let key = a.get(1);
    let now = ctx.now;
    let db = ctx.db();
    if !db.exists(key, now) {
        ctx.notify(KEY_MISS, "keymiss", key);
        return ctx.reply.int(-2);
    }
    let Some(when) = db.expire_of(key) else {
        return ctx.reply.int(-1);
    };
    let v = match kind {
        TtlKind::Ttl => ((when - now).max(0) + 500) / 1000,
        TtlKind::Pttl => (when - now).max(0),
        TtlKind::ExpireTime => (when + 500) / 1000,
        TtlKind::PExpireTime => when,
    };
    ctx.reply.int(v);
}

/// TTL key
pub fn ttl(ctx: &mut Ctx, a: Args) {
    ttl_generic(ctx, a, TtlKind::Ttl);
}

/// PTTL key
pub fn pttl(ctx: &mut Ctx, a: Args) {
    ttl_generic(ctx, a, TtlKind::Pttl);
}

/// EXPIRETIME key
pub fn expiretime(ctx: &mut Ctx, a: Args) {
    ttl_generic(ctx, a, TtlKind::ExpireTime);
}

/// PEXPIRETIME key
pub fn pexpiretime(ctx: &mut Ctx, a: Args) {
    ttl_generic(ctx, a, TtlKind::PExpireTime);
}

/// PERSIST key
pub fn persist(ctx: &mut Ctx, a: Args) {
    let now = ctx.now;
    let db = ctx.db();
    if db.exists(a.get(1), now) && db.persist(a.get(1)) {
        ctx.notify(GENERIC, "persist", a.get(1));
        ctx.dirty += 1;
        ctx.reply.int(1);
    } else {
        ctx.reply.int(0);
    }
}

/// OBJECT ENCODING key
pub fn object_encoding(ctx: &mut Ctx, a: Args) {
    let now = ctx.now;
    match ctx.db().peek_obj(a.get(2), now).map(|o| o.encoding_name()) {
        Some(e) => ctx.reply.bulk(e.as_bytes()),
        None => ctx.reply.null(),
    }
}

/// OBJECT IDLETIME key (refused under an LFU policy, as Redis)
pub fn object_idletime(ctx: &mut Ctx, a: Args) {
    let now = ctx.now;
    let lfu = cinnabar_keyspace::db::Access::current().lfu;
    match ctx.db().peek_obj(a.get(2), now).map(|o| o.lru) {
        Some(_) if lfu => ctx.reply.error("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."),
        Some(lru) => ctx.reply.int(idle_seconds(lru, now) as i64),
        None => ctx.reply.null(),
    }
}

/// OBJECT FREQ key (only under an LFU policy, as Redis)
pub fn object_freq(ctx: &mut Ctx, a: Args) {
    let now = ctx.now;
    let access = cinnabar_keyspace::db::Access::current();
    match ctx.db().peek_obj(a.get(2), now).map(|o| o.lru) {
        Some(lru) if access.lfu => ctx.reply.int(access.lfu_counter(lru, now) as i64),
        Some(_) => ctx.reply.error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."),
        None => ctx.reply.null(),
    }
}

/// OBJECT REFCOUNT key
pub fn object_refcount(ctx: &mut Ctx, a: Args) {
    let now = ctx.now;
    match ctx.db().peek_obj(a.get(2), now).map(|o| o.refcount()) {
        Some(n) => ctx.reply.int(n),
        None => ctx.reply.null(),
    }
}

/// OBJECT HELP
pub fn object_help(ctx: &mut Ctx, _a: Args) {
    let lines = [
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ];
    ctx.reply.array(lines.len());
    for l in lines {
        ctx.reply.simple(l);
    }
}
