//! HyperLogLog commands: PFADD, PFCOUNT (one key: cached cardinality in the header; several
//! keys: a merged temporary), PFMERGE, PFDEBUG and PFSELFTEST, over Redis's exact byte format
//! (`cinnabar_keyspace::hll`).

use crate::table::{def, ks, Def, Extra, Handler::Data, NOKEY};
use crate::util::eq_ic;
use crate::Ctx;
use cinnabar_keyspace::hll;
use cinnabar_keyspace::notify::STRING;
use cinnabar_keyspace::value::{Value, WRONGTYPE};
use cinnabar_resp::Args;

pub static DEFS: &[Def] = &[
    def!(
        "pfadd",
        -2,
        "write denyoom fast",
        (1, 1, 1),
        "hyperloglog",
        "hyperloglog",
        "2.8.9",
        "Add elements to a HyperLogLog",
        Data(pfadd)
    ),
    def!(
        "pfcount",
        -2,
        "readonly may_replicate",
        (1, -1, 1),
        "hyperloglog",
        "hyperloglog",
        "2.8.9",
        "Estimate the number of distinct elements seen by HyperLogLogs",
        Data(pfcount)
    ),
    def!(
        "pfmerge",
        -2,
        "write denyoom",
        (1, -1, 1),
        "hyperloglog",
        "hyperloglog",
        "2.8.9",
        "Merge HyperLogLogs into one",
        Data(pfmerge)
    ),
    def!(
        "pfdebug",
        3,
        "write denyoom admin",
        (2, 2, 1),
        "hyperloglog",
        "hyperloglog",
        "2.8.9",
        "Internal commands for debugging HyperLogLog values",
        Data(pfdebug)
    ),
    def!(
        "pfselftest",
        1,
        "admin",
        NOKEY,
        "hyperloglog",
        "hyperloglog",
        "2.8.9",
        "An internal command for testing HyperLogLog values",
        Data(pfselftest)
    ),
];

pub static EXTRAS: &[Extra] = &[
    ("pfadd", "", &[ks("RW insert", 1, 0, 1)]),
    (
        "pfcount",
        "",
        &[ks("RW access", 1, -1, 1)
            .notes("RW because it may change the internal representation of the key, and propagate to replicas")],
    ),
    ("pfmerge", "", &[ks("RW access insert", 1, 0, 1), ks("RO access", 2, -1, 1)]),
    ("pfdebug", "", &[ks("RW access", 2, 0, 1)]),
];

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";

/// The HLL bytes at `key`: Ok(None) when missing; Err after replying the error for another
/// type or a string that is not an HLL.
fn read_hll(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Vec<u8>>, ()> {
    read_hll_as(ctx, key, false)
}

/// Like `read_hll`; `write` looks the key up as a write does (no hit/miss, no `keymiss`).
fn read_hll_as(ctx: &mut Ctx, key: &[u8], write: bool) -> Result<Option<Vec<u8>>, ()> {
    let now = ctx.now;
    let i = ctx.db;
    let ks = &mut *ctx.ks;
    let found = if write {
        ks.dbs[i].get_mut(key, now).map(|v| &*v)
    } else {
        ks.dbs[i].get(key, now, &mut ks.stats)
    };
    match found {
        None => Ok(None),
        Some(Value::Str(s)) if hll::is_valid(s) => Ok(Some(s.to_vec())),
        Some(Value::Str(_)) => {
            ctx.reply.error(NOT_HLL);
            Err(())
        }
        Some(_) => {
            ctx.reply.error(WRONGTYPE);
            Err(())
        }
    }
}

fn store(ctx: &mut Ctx, key: &[u8], v: Vec<u8>) {
    ctx.set_key(key, Value::Str(v.into()), true);
    ctx.db().mark_raw(key);
}

/// PFADD key [element ...]
pub fn pfadd(ctx: &mut Ctx, a: Args) {
    let key = a.get(1);
    let (mut v, mut updated) = match read_hll_as(ctx, key, true) {
        Ok(Some(v)) => (v, 0u64),
        Ok(None) => (hll::new_sparse(), 1),
        Err(()) => return,
    };
    let max = ctx.limits.hll_sparse_max_bytes;
    for e in a.tail(2).iter() {
        match hll::add(&mut v, e, max) {
            Ok(true) => updated += 1,
            Ok(false) => {}
            Err(hll::Corrupt) => return ctx.reply.error(CORRUPT),
        }
    }
    if updated > 0 {
        hll::invalidate(&mut v);
        store(ctx, key, v);
        ctx.dirty += updated;
        ctx.notify(STRING, "pfadd", key);
    }
    ctx.reply.int(i64::from(updated > 0));
}

/// PFCOUNT key [key ...]
pub fn pfcount(ctx: &mut Ctx, a: Args) {
    if a.len() > 2 {
        let mut max = vec![0u8; hll::REGISTERS];
        for k in a.tail(1).iter() {
            let v = match read_hll(ctx, k) {
                Ok(Some(v)) => v,
                Ok(None) => continue,
                Err(()) => return,
            };
            let Ok(regs) = hll::registers(&v) else {
                return ctx.reply.error(CORRUPT);
            };
            for (m, r) in max.iter_mut().zip(regs) {
                *m = (*m).max(r);
            }
        }
        return ctx.reply.int(hll::count_registers(&max) as i64);
    }
    let key = a.get(1);
    let mut v = match read_hll(ctx, key) {
        Ok(Some(v)) => v,
        Ok(None) => return ctx.reply.int(0),
        Err(()) => return,
    };
    if let Some(c) = hll::cached(&v) {
        return ctx.reply.int(c as i64);
    }
    let Ok(regs) = hll::registers(&v) else {
        return ctx.reply.error(CORRUPT);
    };
    let card = hll::count_registers(&regs);
    hll::set_cache(&mut v, card);
    store(ctx, key, v);
    ctx.dirty += 1;
    ctx.reply.int(card as i64);
}

/// PFMERGE destkey [sourcekey ...]
pub fn pfmerge(ctx: &mut Ctx, a: Args) {
    let mut max = vec![0u8; hll::REGISTERS];
    let mut use_dense = false;
    for k in a.tail(1).iter() {
        let v = match read_hll(ctx, k) {
            Ok(Some(v)) => v,
            Ok(None) => continue,
            Err(()) => return,
        };
        if !hll::is_sparse(&v) {
            use_dense = true;
        }
        let Ok(regs) = hll::registers(&v) else {
            return ctx.reply.error(CORRUPT);
        };
        for (m, r) in max.iter_mut().zip(regs) {
            *m = (*m).max(r);
        }
    }
    let key = a.get(1);
    let mut v = match read_hll_as(ctx, key, true) {
        Ok(Some(v)) => v,
        Ok(None) => hll::new_sparse(),
        Err(()) => return,
    };
    if use_dense && hll::to_dense(&mut v).is_err() {
        return ctx.reply.error(CORRUPT);
    }
    let sparse_max = ctx.limits.hll_sparse_max_bytes;
    for (i, &m) in max.iter().enumerate() {
        if m != 0 && hll::set(&mut v, i, m, sparse_max).is_err() {
            return ctx.reply.error(CORRUPT);
        }
    }
    hll::invalidate(&mut v);
    store(ctx, key, v);
    ctx.dirty += 1;
    // Redis raises PFADD for PFMERGE (a mass add of elements).
    ctx.notify(STRING, "pfadd", key);
    ctx.reply.ok();
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key
pub fn pfdebug(ctx: &mut Ctx, a: Args) {
    let sub = a.get(1);
    let key = a.get(2);
    let mut v = match read_hll(ctx, key) {
        Ok(Some(v)) => v,
        Ok(None) => return ctx.reply.error("ERR The specified key does not exist"),
        Err(()) => return,
    };
    if eq_ic(sub, "getreg") {
        if hll::is_sparse(&v) {
            if hll::to_dense(&mut v).is_err() {
                return ctx.reply.error(CORRUPT);
            }
            store(ctx, key, v.clone());
            ctx.dirty += 1;
        }
        let Ok(regs) = hll::registers(&v) else {
            return ctx.reply.error(CORRUPT);
        };
        ctx.reply.array(regs.len());
        for r in regs {
            ctx.reply.int(r as i64);
        }
    } else if eq_ic(sub, "decode") {
        if !hll::is_sparse(&v) {
            return ctx.reply.error("ERR HLL encoding is not sparse");
        }
        match hll::decode(&v) {
            Ok(s) => ctx.reply.bulk(s.as_bytes()),
            Err(hll::Corrupt) => ctx.reply.error(CORRUPT),
        }
    } else if eq_ic(sub, "encoding") {
        ctx.reply.simple(if hll::is_sparse(&v) {
            "sparse"
        } else {
            "dense"
        });
    } else if eq_ic(sub, "todense") {
        let conv = hll::is_sparse(&v);
        if conv {
            if hll::to_dense(&mut v).is_err() {
                return ctx.reply.error(CORRUPT);
            }
            store(ctx, key, v);
            ctx.dirty += 1;
        }
        ctx.reply.int(i64::from(conv));
    } else {
        let mut m = b"ERR Unknown PFDEBUG subcommand '".to_vec();
        m.extend_from_slice(sub);
        m.push(b'\'');
        ctx.reply.error_bytes(&m);
    }
}

/// PFSELFTEST: checks the register packing and the estimator's error on this build.
pub fn pfselftest(ctx: &mut Ctx, _a: Args) {
    let mut v = hll::new_sparse();
    let mut dense = hll::new_sparse();
    if hll::to_dense(&mut dense).is_err() {
        return ctx.reply.error("ERR TESTFAILED sparse to dense conversion");
    }
    let mut rng = 0x1234_5678_9abc_def0u64;
    for i in 1..=100_000u64 {
        rng = cinnabar_keyspace::dict::next_rand(&mut rng);
        let e = rng.to_le_bytes();
        let (sa, da) = (hll::add(&mut v, &e, 3000), hll::add(&mut dense, &e, 3000));
        if sa.is_err() || da.is_err() {
            return ctx.reply.error("ERR TESTFAILED corrupted HLL");
        }
        if i % 10_000 == 0 {
            let (Ok(r1), Ok(r2)) = (hll::registers(&v), hll::registers(&dense)) else {
                return ctx.reply.error("ERR TESTFAILED corrupted HLL");
            };
            if r1 != r2 {
                return ctx
                    .reply
                    .error("ERR TESTFAILED sparse and dense registers differ");
            }
            let c = hll::count_registers(&r1) as f64;
            let err = (c - i as f64).abs() / i as f64;
            // 1.04/sqrt(16384) = 0.81% standard error; allow 5 sigma.
            if err > 0.0406 {
                return ctx.reply.error(&format!(
                    "ERR TESTFAILED Too big error. card:{i} error:{err}"
                ));
            }
        }
    }
    ctx.reply.ok();
}
