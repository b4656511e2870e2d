//! DUMP and RESTORE: a value in the RDB format with its version and CRC64 footer
//! (`cinnabar_rdb::dump_payload` / `restore_payload`). A payload is untrusted input: it is
//! fully validated while it is decoded, and a bad one gets Redis's error with the keyspace
//! untouched.

use crate::table::{def, ks, Def, Extra, Handler::Data};
use crate::util::{eq_ic, int_arg, SYNTAX};
use crate::Ctx;
use cinnabar_keyspace::notify::GENERIC;
use cinnabar_resp::Args;

pub static DEFS: &[Def] = &[
    def!(
        "dump",
        2,
        "readonly",
        (1, 1, 1),
        "keyspace",
        "generic",
        "2.6.0",
        "Serialize a key's value in the format RESTORE reads",
        Data(dump)
    ),
    def!(
        "restore",
        -4,
        "write denyoom",
        (1, 1, 1),
        "keyspace dangerous",
        "generic",
        "2.6.0",
        "Create a key from a value serialized by DUMP",
        Data(restore)
    ),
];

pub static EXTRAS: &[Extra] = &[
    (
        "dump",
        "nondeterministic_output",
        &[ks("RO access", 1, 0, 1)],
    ),
    ("restore", "", &[ks("OW update", 1, 0, 1)]),
];

/// DUMP key
pub fn dump(ctx: &mut Ctx, a: Args) {
    let now = ctx.now;
    let i = ctx.db;
    let limits = ctx.limits;
    let ks = &mut *ctx.ks;
    match ks.dbs[i].get(a.get(1), now, &mut ks.stats) {
        Some(v) => {
            let p = cinnabar_rdb::dump_payload(
                v,
                &limits,
                &cinnabar_rdb::EncodeOpts { compress: true },
            );
            ctx.reply.bulk(&p);
        }
        None => ctx.reply.null(),
    }
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
pub fn restore(ctx: &mut Ctx, a: Args) {
    let mut replace = false;
    let mut absttl = false;
    let mut idle: Option<i64> = None;
    let mut freq: Option<i64> = None;
    let mut j = 4;
    while j < a.len() {
        let opt = a.get(j);
        let more = a.len() - j - 1;
        if eq_ic(opt, "replace") {
            replace = true;
        } else if eq_ic(opt, "absttl") {
            absttl = true;
        } else if eq_ic(opt, "idletime") && more >= 1 && freq.is_none() {
            let Some(v) = int_arg(ctx.reply, a.get(j + 1)) else {
                return;
            };
            if v < 0 {
                return ctx.reply.error("ERR Invalid IDLETIME value, must be >= 0");
            }
            idle = Some(v);
            j += 1;
        } else if eq_ic(opt, "freq") && more >= 1 && idle.is_none() {
            let Some(v) = int_arg(ctx.reply, a.get(j + 1)) else {
                return;
            };
            if !(0..=255).contains(&v) {
                return ctx
                    .reply
                    .error("ERR Invalid FREQ value, must be >= 0 and <= 255");
            }
            freq = Some(v);
            j += 1;
        } else {
            return ctx.reply.error(SYNTAX);
        }
        j += 1;
    }
    let key = a.get(1);
    let now = ctx.now;
    if !replace && ctx.db().exists(key, now) {
        return ctx.reply.error("BUSYKEY Target key name already exists.");
    }
    let Some(mut ttl) = int_arg(ctx.reply, a.get(2)) else {
        return;
    };
    if ttl < 0 {
        return ctx.reply.error("ERR Invalid TTL value, must be >= 0");
    }
    let verify = !ctx.ks.skip_checksum_validation;
    let value = match cinnabar_rdb::restore_payload_checked(a.get(3), &ctx.limits, verify) {
        Ok(v) => v,
        Err(cinnabar_rdb::RdbError::Footer) => {
            return ctx
                .reply
                .error("ERR DUMP payload version or checksum are wrong")
        }
        Err(e) => {
            // Logged as Redis does when a payload fails its integrity check.
            ctx.warnings
                .push(format!("RESTORE payload integrity check failed: {e}"));
            return ctx.reply.error("ERR Bad data format");
        }
    };
    let deleted = replace && ctx.db().remove(key, now);
    if ttl != 0 && !absttl {
        ttl = ttl.saturating_add(now);
    }
    if ttl != 0 && ttl <= now {
        if deleted {
            ctx.dirty += 1;
            ctx.notify(GENERIC, "del", key);
            ctx.rewrite(&[b"DEL" as &[u8], key]);
        }
        return ctx.reply.ok();
    }
    if ttl != 0 && !absttl {
        // Propagated with the absolute expiry.
        let ms = ttl.to_string();
        let mut argv: Vec<&[u8]> = a.iter().collect();
        argv[2] = ms.as_bytes();
        argv.push(b"ABSTTL");
        ctx.rewrite(&argv);
    }
    let db = ctx.db();
    db.add(key, value, now);
    if ttl != 0 {
        db.set_expire(key, ttl);
    }
    if let Some(secs) = idle {
        db.set_idle(key, now, secs);
    }
    let _ = freq;
    ctx.dirty += 1;
    ctx.notify(GENERIC, "restore", key);
    ctx.reply.ok();
}
